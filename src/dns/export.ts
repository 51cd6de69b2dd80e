import type { Store } from '../store/types.js';
import type { Logger } from '../util/log.js';
import type { DnsCounters } from './counters.js';

/**
 * The DNS server runs in its own process; the API exports metrics from the
 * store's counters table. This adds the server's counts there as deltas,
 * named with Prometheus labels (`dns_queries{type="A"}`), the convention of
 * src/api/metrics.ts. A store that cannot be written (fail static) only
 * delays the export: the next flush carries the difference.
 */
export function flattenCounters(counters: DnsCounters): Map<string, number> {
  const flat = new Map<string, number>();
  for (const [type, value] of Object.entries(counters.queriesByType)) flat.set(`dns_queries{type="${type}"}`, value);
  for (const [rcode, value] of Object.entries(counters.responsesByRcode)) {
    flat.set(`dns_responses{rcode="${rcode}"}`, value);
  }
  for (const [reason, value] of Object.entries(counters.dropped)) flat.set(`dns_dropped{reason="${reason}"}`, value);
  flat.set('dns_queries_udp', counters.udpQueries);
  flat.set('dns_queries_tcp', counters.tcpQueries);
  flat.set('dns_truncated', counters.truncated);
  flat.set('dns_refresh_failures', counters.refreshFailures);
  return flat;
}

export class CounterExport {
  private readonly exported = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly counters: () => DnsCounters,
    private readonly log: Logger,
  ) {}

  async flush(): Promise<void> {
    try {
      for (const [name, value] of flattenCounters(this.counters())) {
        const delta = value - (this.exported.get(name) ?? 0);
        if (delta <= 0) continue;
        await this.store.incrementCounter(name, delta);
        this.exported.set(name, value);
      }
    } catch (error) {
      this.log.debug({ err: error }, 'could not export DNS counters; retrying at the next flush');
    }
  }

  /** Flushes every `intervalMs` until the returned stop function is called (which flushes once more). */
  start(intervalMs: number): () => Promise<void> {
    const timer = setInterval(() => void this.flush(), intervalMs);
    timer.unref();
    return async () => {
      clearInterval(timer);
      await this.flush();
    };
  }
}
