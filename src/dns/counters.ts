/**
 * Query counters of the DNS server, kept as plain numbers so a later
 * Prometheus exporter can read them and cluster workers can send them to
 * the primary. Label sets are closed (known types, known rcodes, named
 * reasons): a flood of odd query types cannot grow them without bound.
 */

export const countedTypes = [
  'A', 'AAAA', 'ANY', 'NS', 'SOA', 'TXT', 'CNAME', 'MX', 'PTR', 'SRV', 'HTTPS', 'SVCB', 'CAA', 'DS', 'DNSKEY', 'AXFR',
  'IXFR',
] as const;
export const rcodeNames = [
  'NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'NOTAUTH', 'BADVERS',
] as const;
export type RcodeName = (typeof rcodeNames)[number];

/** Why a packet got no normal answer (it was dropped, or answered only with TC). */
export const dropReasons = [
  'short', 'response-bit', 'rate-limited', 'tcp-bad-length', 'tcp-input-overflow',
  'tcp-output-overflow', 'send-error', 'internal-error',
] as const;
export type DropReason = (typeof dropReasons)[number];

export interface DnsCounters {
  queriesByType: Record<string, number>;
  responsesByRcode: Record<string, number>;
  dropped: Record<string, number>;
  udpQueries: number;
  tcpQueries: number;
  truncated: number;
  tcpConnectionsAccepted: number;
  tcpConnectionsEvicted: number;
  tcpIdleTimeouts: number;
  refreshes: number;
  refreshFailures: number;
  rejectedRecordSets: number;
  /** True while the server answers from its last good snapshot because the store cannot be read. */
  failStatic: boolean;
  snapshotVersion: number;
  snapshotNames: number;
}

export function emptyCounters(): DnsCounters {
  return {
    queriesByType: Object.fromEntries([...countedTypes, 'OTHER'].map((type) => [type, 0])),
    responsesByRcode: Object.fromEntries(rcodeNames.map((rcode) => [rcode, 0])),
    dropped: Object.fromEntries(dropReasons.map((reason) => [reason, 0])),
    udpQueries: 0,
    tcpQueries: 0,
    truncated: 0,
    tcpConnectionsAccepted: 0,
    tcpConnectionsEvicted: 0,
    tcpIdleTimeouts: 0,
    refreshes: 0,
    refreshFailures: 0,
    rejectedRecordSets: 0,
    failStatic: false,
    snapshotVersion: 0,
    snapshotNames: 0,
  };
}

export function countQueryType(counters: DnsCounters, type: string): void {
  const key = Object.hasOwn(counters.queriesByType, type) ? type : 'OTHER';
  counters.queriesByType[key] = (counters.queriesByType[key] ?? 0) + 1;
}

export function countRcode(counters: DnsCounters, rcode: RcodeName): void {
  counters.responsesByRcode[rcode] = (counters.responsesByRcode[rcode] ?? 0) + 1;
}

export function countDrop(counters: DnsCounters, reason: DropReason): void {
  counters.dropped[reason] = (counters.dropped[reason] ?? 0) + 1;
}

/**
 * Sums the counters of several workers; flags are or-ed, the snapshot figures taken as the lowest (the most behind
 * worker).
 */
export function sumCounters(parts: readonly DnsCounters[]): DnsCounters {
  const total = emptyCounters();
  if (parts.length === 0) return total;
  const addRecord = (into: Record<string, number>, from: Record<string, number>) => {
    for (const [key, value] of Object.entries(from)) into[key] = (into[key] ?? 0) + value;
  };
  for (const part of parts) {
    addRecord(total.queriesByType, part.queriesByType);
    addRecord(total.responsesByRcode, part.responsesByRcode);
    addRecord(total.dropped, part.dropped);
    for (const key of [
      'udpQueries', 'tcpQueries', 'truncated', 'tcpConnectionsAccepted', 'tcpConnectionsEvicted', 'tcpIdleTimeouts',
      'refreshes', 'refreshFailures', 'rejectedRecordSets',
    ] as const) {
      total[key] += part[key];
    }
    total.failStatic ||= part.failStatic;
  }
  total.snapshotVersion = Math.min(...parts.map((part) => part.snapshotVersion));
  total.snapshotNames = Math.min(...parts.map((part) => part.snapshotNames));
  return total;
}
