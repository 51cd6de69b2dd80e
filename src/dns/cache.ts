import { assert } from '../util/assert.js';
import type { Rng } from '../util/clock.js';
import type { ReusableAnswer, Transport } from './answer.js';
import { sampleByWeight } from './sampling.js';
import type { ServedSnapshot } from './snapshot.js';

/**
 * Answers already computed, by request bytes. A response depends only on
 * the request (apart from its id), the transport and the snapshot, so a
 * repeated query — most of them, in practice — is answered by copying a
 * template and writing the id, instead of decoding and encoding it again
 * (the two dominate the cost of a query). A weighted answer still draws a
 * fresh sample each time: the template only fixes where the addresses go.
 *
 * Any change of the snapshot empties the cache, so it can never answer
 * from an older state than the snapshot (S2, S3). When full it is emptied
 * as a whole: a flood of distinct queries costs a recomputation, not memory.
 */
export class ResponseCache {
  private readonly entries = new Map<string, ReusableAnswer>();
  private snapshot: ServedSnapshot | null = null;
  private version = -1;

  constructor(private readonly entriesMax: number) {
    assert(entriesMax >= 1, 'internal', 'entriesMax must be at least 1');
  }

  get size(): number {
    return this.entries.size;
  }

  lookup(request: Buffer, transport: Transport, snapshot: ServedSnapshot): ReusableAnswer | undefined {
    if (snapshot !== this.snapshot || snapshot.version !== this.version) {
      this.entries.clear();
      this.snapshot = snapshot;
      this.version = snapshot.version;
      return undefined;
    }
    return this.entries.get(cacheKey(request, transport));
  }

  remember(request: Buffer, transport: Transport, snapshot: ServedSnapshot, answer: ReusableAnswer): void {
    if (snapshot !== this.snapshot || snapshot.version !== this.version) return;
    if (this.entries.size >= this.entriesMax) this.entries.clear();
    this.entries.set(cacheKey(request, transport), answer);
    assert(this.entries.size <= this.entriesMax, 'internal', 'response cache exceeds entriesMax');
  }
}

/** Everything of the request but its id (the first two bytes), and the transport (it decides truncation). */
function cacheKey(request: Buffer, transport: Transport): string {
  return `${transport === 'udp' ? 'u' : 't'}${request.toString('latin1', 2)}`;
}

/** A response for a request with this `id`, from a remembered answer; a weighted one gets a fresh sample. */
export function renderAnswer(answer: ReusableAnswer, id: number, rng: Rng): Buffer {
  const response = Buffer.allocUnsafe(answer.template.length);
  answer.template.copy(response);
  response.writeUInt16BE(id, 0);
  const sample = answer.sample;
  if (sample === null) return response;
  const drawn = sampleByWeight(sample.entries, sample.count, rng);
  assert(
    drawn.length === sample.offsets.length,
    'S3',
    `sampled ${drawn.length} addresses for ${sample.offsets.length} answer records`,
  );
  for (let index = 0; index < drawn.length; index += 1) drawn[index]!.rdata.copy(response, sample.offsets[index]!);
  return response;
}
