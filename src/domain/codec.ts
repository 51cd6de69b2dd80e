import type { RecordEntry } from './types.js';
import { assert } from '../util/assert.js';

/**
 * Compact text form of a record set for stored plan versions:
 * "address/weight/target,address/weight/target". It decodes several times
 * faster than JSON (the full-plan read of 100,000 names is dominated by it)
 * and is unambiguous because validated addresses and target ids contain
 * neither "/" nor ",".
 */
export function encodeRecords(records: readonly RecordEntry[]): string {
  return records
    .map((record) => {
      assert(
        !/[/,]/.test(record.target) && !/[/,]/.test(record.address),
        'internal',
        `record ${record.target} ${record.address} cannot be encoded`,
      );
      return `${record.address}/${record.weight}/${record.target}`;
    })
    .join(',');
}

export function decodeRecords(text: string): RecordEntry[] {
  if (text.length === 0) return [];
  return text.split(',').map((part) => {
    const first = part.indexOf('/');
    const second = part.indexOf('/', first + 1);
    return {
      address: part.slice(0, first),
      weight: Number(part.slice(first + 1, second)),
      target: part.slice(second + 1),
    };
  });
}
