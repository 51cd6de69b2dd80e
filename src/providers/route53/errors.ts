/**
 * Why a request to Route 53 failed. None of these is a lost compare-and-swap
 * (that is the `conflict` outcome, from an InvalidChangeBatch naming the
 * record); each leaves the names it concerns as they were, except
 * `not-in-sync`, raised after the writes were accepted but before Route 53
 * said they reached every name server.
 */
export type Route53Reason =
  /** NoSuchHostedZone: no hosted zone has the configured id. */
  | 'no-such-zone'
  /** The hosted zone's name is not the configured zone. */
  | 'wrong-zone'
  /** No credentials from the SDK's chain, or refused (AccessDenied, InvalidClientTokenId, ...). */
  | 'credentials'
  /** Throttling or PriorRequestNotComplete on every one of retriesMax + 1 attempts. */
  | 'throttled'
  /** HTTP 5xx, a timeout or a broken connection on every attempt. */
  | 'unavailable'
  /** A request Route 53 refused for another reason: an InvalidChangeBatch about a value or a quota, InvalidInput. */
  | 'rejected'
  /** One name's write does not fit in one change batch (1,000 records, 32,000 characters of values). */
  | 'too-large'
  /** A name outside the zone, or one that needs escaping. */
  | 'not-in-zone'
  /** A read needed more requests than readRequestsMax. */
  | 'read-budget'
  /** A change stayed PENDING for longer than syncTimeout. */
  | 'not-in-sync'
  /** An answer that breaks the documented API (records out of order, no ChangeInfo). */
  | 'bad-response';

/** A typed failure of the Route 53 provider, naming the hosted zone and the cause. */
export class Route53Error extends Error {
  readonly reason: Route53Reason;
  readonly hostedZoneId: string;

  constructor(reason: Route53Reason, hostedZoneId: string, cause: string) {
    super(`route53 provider: hosted zone ${hostedZoneId}: ${cause}`);
    this.name = 'Route53Error';
    this.reason = reason;
    this.hostedZoneId = hostedZoneId;
  }
}

/** The shape of an error thrown by the AWS SDK, as far as the provider reads it. */
export interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

/** Errors worth another attempt after a jittered pause, as AWS asks (the request was not applied). */
export const throttlingErrors: ReadonlySet<string> = new Set([
  'Throttling', 'ThrottlingException', 'PriorRequestNotComplete',
]);

const credentialErrors: ReadonlySet<string> = new Set([
  'CredentialsProviderError', 'AccessDenied', 'AccessDeniedException', 'InvalidClientTokenId',
  'SignatureDoesNotMatch', 'ExpiredToken', 'ExpiredTokenException', 'UnrecognizedClientException',
  'MissingAuthenticationToken', 'IncompleteSignature',
]);

const connectionCodes: ReadonlySet<string> = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND',
]);

export type ErrorKind = 'throttled' | 'unavailable' | 'credentials' | 'no-such-zone' | 'invalid-change-batch' | 'other';

/** What kind of failure an SDK error is, for the retry loop and the error it becomes. */
export function classifyError(error: SdkError): ErrorKind {
  const name = error.name ?? '';
  const status = error.$metadata?.httpStatusCode;
  if (throttlingErrors.has(name)) return 'throttled';
  if (name === 'InvalidChangeBatch') return 'invalid-change-batch';
  if (name === 'NoSuchHostedZone') return 'no-such-zone';
  if (credentialErrors.has(name) || status === 403) return 'credentials';
  if (status !== undefined && status >= 500) return 'unavailable';
  const networkFailure = status === undefined && (name === 'TimeoutError' || connectionCodes.has(error.code ?? ''));
  return networkFailure ? 'unavailable' : 'other';
}
