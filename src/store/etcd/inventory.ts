import { randomUUID } from 'node:crypto';
import type { EndpointSpec, ServiceSpec } from '../../domain/types.js';
import { assert } from '../../util/assert.js';
import type { Clock } from '../../util/clock.js';
import type { InventoryVersionInfo, PutInventoryRequest, PutInventoryResult, StoredInventory } from '../types.js';
import { compare, prefixEnd, revisionOf, type EtcdConnection } from './client.js';
import { keys } from './keys.js';

/** JSON text per etcd value: well below etcd's 1.5 MiB request limit. */
const chunkBytesMax = 512 * 1024;

/**
 * The chunks' JSON: `{ endpoints, services }`; a version stored before services is the endpoints' array alone.
 */
type StoredContent = EndpointSpec[] | { endpoints: EndpointSpec[]; services: ServiceSpec[] };

interface StoredInfo extends InventoryVersionInfo {
  attempt: string;
  chunks: number;
}

function toInfo(stored: StoredInfo): InventoryVersionInfo {
  const { attempt: _attempt, chunks: _chunks, ...info } = stored;
  return info;
}

/**
 * Inventory versions in etcd. An apply writes its endpoints as chunks under a fresh attempt id (invisible to
 * readers), then one transaction compares P inventory/latest with the base version and writes the version record
 * and the new latest together. A losing attempt deletes its chunks; a version is read at one revision.
 */
export class EtcdInventory {
  constructor(private readonly etcd: EtcdConnection, private readonly clock: Clock) {}

  async latest(): Promise<number> {
    const kv = await this.etcd.get(keys.inventoryLatest);
    return kv === null ? 0 : Number(kv.value.toString());
  }

  async read(version?: number): Promise<StoredInventory | null> {
    const wanted = version ?? (await this.latest());
    if (wanted <= 0) return null;
    const record = await this.etcd.get(keys.inventoryVersion(wanted));
    if (record === null) return null;
    const stored = JSON.parse(record.value.toString()) as StoredInfo;
    const data = this.etcd.key(keys.inventoryData(stored.attempt));
    const response = await this.etcd.range({
      key: data,
      range_end: prefixEnd(data),
      revision: revisionOf(record.mod_revision),
    });
    assert(
      response.kvs.length === stored.chunks,
      'internal',
      `inventory ${wanted}: ${response.kvs.length} of ${stored.chunks} chunks`,
    );
    const content = JSON.parse(response.kvs.map((kv) => kv.value.toString()).join('')) as StoredContent;
    if (Array.isArray(content)) return { ...toInfo(stored), endpoints: content, services: [] };
    return { ...toInfo(stored), endpoints: content.endpoints, services: content.services };
  }

  async list(limit: number): Promise<InventoryVersionInfo[]> {
    const start = this.etcd.key(keys.inventoryVersionPrefix);
    const kvs = await this.etcd.rangeUpTo(
      { key: start, range_end: prefixEnd(start), sort_order: 'Descend', sort_target: 'Key' },
      limit,
    );
    return kvs.map((kv) => toInfo(JSON.parse(kv.value.toString()) as StoredInfo));
  }

  async put(request: PutInventoryRequest): Promise<PutInventoryResult> {
    const attempt = randomUUID();
    const content: StoredContent = { endpoints: [...request.endpoints], services: [...request.services] };
    const text = JSON.stringify(content);
    const chunks: string[] = [];
    for (let start = 0; start < text.length || start === 0; start += chunkBytesMax) {
      chunks.push(text.slice(start, start + chunkBytesMax));
    }
    for (const [index, chunk] of chunks.entries()) {
      await this.etcd.txn({
        success: [
          { request_put: { key: this.etcd.key(keys.inventoryChunk(attempt, index)), value: Buffer.from(chunk) } },
        ],
      });
    }
    const version = request.baseVersion + 1;
    const stored: StoredInfo = {
      version, createdAtMs: this.clock.nowMs(), actor: request.actor, reason: request.reason, forced: request.forced,
      names: request.endpoints.length, summary: request.summary, attempt, chunks: chunks.length,
    };
    const latestKey = this.etcd.key(keys.inventoryLatest);
    const guard = request.baseVersion === 0
      ? compare.absent(latestKey)
      : compare.valueEquals(latestKey, String(request.baseVersion));
    const response = await this.etcd.txn({
      compare: [guard],
      success: [
        { request_put: { key: latestKey, value: Buffer.from(String(version)) } },
        {
          request_put: {
            key: this.etcd.key(keys.inventoryVersion(version)),
            value: Buffer.from(JSON.stringify(stored)),
          },
        },
      ],
      failure: [{ request_range: { key: latestKey } }],
    });
    if (response.succeeded) return { ok: true, info: toInfo(stored) };
    const data = this.etcd.key(keys.inventoryData(attempt));
    await this.etcd.txn({ success: [{ request_delete_range: { key: data, range_end: prefixEnd(data) } }] });
    const current = response.responses[0]?.response_range.kvs[0];
    return { ok: false, reason: 'stale-base', current: current === undefined ? 0 : Number(current.value.toString()) };
  }
}
