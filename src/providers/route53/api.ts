import {
  ChangeResourceRecordSetsCommand, GetChangeCommand, GetHostedZoneCommand, ListResourceRecordSetsCommand, Route53Client,
  type Change, type ResourceRecordSet, type RRType,
} from '@aws-sdk/client-route-53';
import { assert } from '../../util/assert.js';
import { backoffMs, type Clock, type Rng } from '../../util/clock.js';
import { classifyError, Route53Error, type SdkError } from './errors.js';

/**
 * The Route 53 API as the provider uses it: four operations through the
 * official SDK, with the limits AWS documents enforced on this side —
 * requests paced to `requestsPerSecond` (AWS allows five per second per
 * account), Throttling and PriorRequestNotComplete retried after a jittered
 * exponential pause, at most `retriesMax` times, as are HTTP 5xx answers,
 * timeouts and broken connections. The SDK's own retries are off, so every
 * bound is the provider's. A retried ChangeResourceRecordSets is still a
 * compare-and-swap: if the first attempt was applied after all, its exact
 * DELETEs no longer match and the retry fails as a conflict.
 */

export interface ApiSettings {
  hostedZoneId: string;
  endpoint?: string;
  /** Default: the SDK's chain (AWS_REGION, the profile), else us-east-1, where Route 53 signs. */
  region?: string;
  /** Default: the SDK's chain (environment, profile, SSO, web identity, instance or container role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  timeoutMs: number;
  requestsPerSecond: number;
  retriesMax: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
}

/** Where a listing starts: a name (with the trailing dot), and optionally the type and SetIdentifier within it. */
export interface ListStart {
  name: string;
  type?: string;
  identifier?: string;
}

export interface ListPage {
  sets: ResourceRecordSet[];
  /** The first set not returned, when the listing was truncated. */
  next: ListStart | null;
}

/** An InvalidChangeBatch: the batch was refused as a whole; `messages` say why, one per failing change. */
export class ChangeBatchRefused extends Error {
  constructor(readonly messages: string[], message: string) {
    super(message);
    this.name = 'ChangeBatchRefused';
  }
}

/** The messages of an InvalidChangeBatch: the SDK's list when it has one, else the message ("[m1, m2]" since 2024). */
export function batchMessages(error: SdkError & { messages?: string[] }): string[] {
  return error.messages !== undefined && error.messages.length > 0 ? error.messages : [error.message ?? ''];
}

/** A region from the SDK's chain, or us-east-1 (Route 53 is global and signs there). */
function regionFromChain(): () => Promise<string> {
  return async () => {
    const probe = new Route53Client({});
    try {
      return await probe.config.region();
    } catch {
      return 'us-east-1';
    } finally {
      probe.destroy();
    }
  };
}

export class Route53Api {
  /** Requests sent, by operation (attempts included): what a bench or test counts. */
  readonly requests = new Map<string, number>();
  private readonly client: Route53Client;
  private nextRequestAtMs = 0;

  constructor(private readonly settings: ApiSettings, private readonly clock: Clock, private readonly rng: Rng) {
    assert(settings.requestsPerSecond > 0, 'internal', `requestsPerSecond ${settings.requestsPerSecond}`);
    const retriesValid = Number.isInteger(settings.retriesMax) && settings.retriesMax >= 0;
    assert(retriesValid, 'internal', `retriesMax ${settings.retriesMax}`);
    this.client = new Route53Client({
      region: settings.region ?? regionFromChain(),
      ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }),
      ...(settings.credentials === undefined ? {} : { credentials: settings.credentials }),
      maxAttempts: 1,
      requestHandler: { requestTimeout: settings.timeoutMs, connectionTimeout: settings.timeoutMs },
    });
  }

  private error(reason: ConstructorParameters<typeof Route53Error>[0], cause: string): Route53Error {
    return new Route53Error(reason, this.settings.hostedZoneId, cause);
  }

  /** Waits for this request's turn: requests start at least 1/requestsPerSecond apart. */
  private async pace(): Promise<void> {
    const nowMs = this.clock.nowMs();
    const startAtMs = Math.max(nowMs, this.nextRequestAtMs);
    this.nextRequestAtMs = startAtMs + 1000 / this.settings.requestsPerSecond;
    if (startAtMs > nowMs) await this.clock.sleep(startAtMs - nowMs);
  }

  /** One operation, paced, retried as the module comment says; an InvalidChangeBatch is a ChangeBatchRefused. */
  private async send<T>(operation: string, request: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      await this.pace();
      this.requests.set(operation, (this.requests.get(operation) ?? 0) + 1);
      try {
        return await request();
      } catch (thrown) {
        const error = thrown as SdkError & { messages?: string[] };
        const kind = classifyError(error);
        const what = `${operation}: ${error.name ?? 'Error'}: ${error.message ?? String(thrown)}`;
        if (kind === 'invalid-change-batch') throw new ChangeBatchRefused(batchMessages(error), what);
        if ((kind === 'throttled' || kind === 'unavailable') && attempt < this.settings.retriesMax) {
          await this.clock.sleep(backoffMs(this.rng, attempt, this.settings.backoffBaseMs, this.settings.backoffMaxMs));
          continue;
        }
        const attempts = kind === 'throttled' || kind === 'unavailable' ? ` (${attempt + 1} attempts)` : '';
        throw this.error(kind === 'other' ? 'rejected' : kind, `${what}${attempts}`);
      }
    }
  }

  /** The hosted zone's name, as dnsplane writes names (lower case, no trailing dot, escapes decoded). */
  async zoneName(): Promise<string> {
    const command = new GetHostedZoneCommand({ Id: this.settings.hostedZoneId });
    const answer = await this.send('GetHostedZone', () => this.client.send(command));
    const name = answer.HostedZone?.Name;
    if (name === undefined) throw this.error('bad-response', 'GetHostedZone answered without the zone name');
    return name;
  }

  async listPage(start: ListStart | null, maxItems: number): Promise<ListPage> {
    const input = {
      HostedZoneId: this.settings.hostedZoneId, MaxItems: maxItems,
      ...(start === null ? {} : { StartRecordName: start.name }),
      ...(start?.type === undefined ? {} : { StartRecordType: start.type as RRType }),
      ...(start?.identifier === undefined ? {} : { StartRecordIdentifier: start.identifier }),
    };
    const command = new ListResourceRecordSetsCommand(input);
    const answer = await this.send('ListResourceRecordSets', () => this.client.send(command));
    const sets = answer.ResourceRecordSets ?? [];
    if (answer.IsTruncated !== true) return { sets, next: null };
    if (answer.NextRecordName === undefined) {
      throw this.error('bad-response', 'a truncated listing without NextRecordName');
    }
    const next: ListStart = { name: answer.NextRecordName };
    if (answer.NextRecordType !== undefined) next.type = answer.NextRecordType;
    if (answer.NextRecordIdentifier !== undefined) next.identifier = answer.NextRecordIdentifier;
    return { sets, next };
  }

  /** Submits one change batch; returns its change id. Throws ChangeBatchRefused on an InvalidChangeBatch. */
  async change(changes: readonly Change[], comment: string): Promise<string> {
    assert(changes.length > 0, 'internal', 'an empty change batch');
    const batch = { Comment: comment, Changes: [...changes] };
    const input = { HostedZoneId: this.settings.hostedZoneId, ChangeBatch: batch };
    const command = new ChangeResourceRecordSetsCommand(input);
    const answer = await this.send('ChangeResourceRecordSets', () => this.client.send(command));
    const id = answer.ChangeInfo?.Id;
    if (id === undefined) throw this.error('bad-response', 'ChangeResourceRecordSets answered without a change id');
    return id;
  }

  async changeInsync(id: string): Promise<boolean> {
    const answer = await this.send('GetChange', () => this.client.send(new GetChangeCommand({ Id: id })));
    const status = answer.ChangeInfo?.Status;
    if (status !== 'PENDING' && status !== 'INSYNC') {
      throw this.error('bad-response', `GetChange ${id} answered status ${status}`);
    }
    return status === 'INSYNC';
  }

  close(): void {
    this.client.destroy();
  }
}
