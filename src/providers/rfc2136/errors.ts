/**
 * Why a request to the DNS server failed. Every one of these leaves the zone
 * as it was: an UPDATE is all-or-nothing, and none of these outcomes is a
 * successful one. (A failed prerequisite is not an error at all: it is the
 * `conflict` outcome of the compare-and-swap.)
 */
export type Rfc2136Reason =
  /**
   * The server rejected the TSIG key: BADKEY (unknown name or algorithm; Knot also for an ACL refusal), BADSIG (wrong
   * secret), BADTIME (clock skew).
   */
  | 'tsig-rejected'
  /** The server is not authoritative for the zone (NOTAUTH without a TSIG error, REFUSED or no AA bit on a query). */
  | 'not-authoritative'
  /** A name outside the configured zone (NOTZONE, or caught before sending). */
  | 'not-in-zone'
  /** The server serves the zone but refuses updates (or transfers) from this key (REFUSED). */
  | 'refused'
  /** No complete answer within the configured timeout. */
  | 'timeout'
  /** The TCP connection could not be opened or broke. */
  | 'connection'
  /** SERVFAIL, FORMERR, NOTIMP or another unexpected rcode. */
  | 'server-failure'
  /** An answer that does not verify (TSIG) or does not parse: its claims are not trusted. */
  | 'bad-response'
  /** A name kept changing while it was read, on every attempt. */
  | 'unstable-read'
  /** One name's write does not fit in `messageBytesMax`. */
  | 'too-large';

/** A typed failure of the RFC 2136 provider, naming the server, the zone and the cause. */
export class Rfc2136Error extends Error {
  readonly reason: Rfc2136Reason;
  readonly server: string;
  readonly zone: string;

  constructor(reason: Rfc2136Reason, server: string, zone: string, cause: string) {
    super(`rfc2136 provider: server ${server}, zone ${zone}: ${cause}`);
    this.name = 'Rfc2136Error';
    this.reason = reason;
    this.server = server;
    this.zone = zone;
  }
}

/** Where errors are raised: the server and zone every message must name. */
export interface ErrorContext {
  server: string;
  zone: string;
}

export function rfc2136Error(context: ErrorContext, reason: Rfc2136Reason, cause: string): Rfc2136Error {
  return new Rfc2136Error(reason, context.server, context.zone, cause);
}
