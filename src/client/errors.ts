// The errors the client rejects with, one class per thing an application can act on:
//
//   CwaClientError                  every error of this library
//   ├─ NetworkError                 no HTTP answer at all (refused, reset, DNS, TLS …); alias GatewayUnreachableError
//   └─ CwaRequestError              the gateway answered with an error (code, reason, status)
//      ├─ RequestFailedError        a request the gateway (or the SIP side) refused or failed: code, reason,
//      │  │                         and for a SIP failure its status and meaning (sipStatus, sipMeaning)
//      │  └─ SipError               a SIP failure: 404 user not found, 480 not available, 486 busy, 603 declined, 408 no answer …
//      ├─ NotAuthenticatedError     no session (never signed in, signed out, ticket no longer valid); alias NotSignedInError
//      ├─ SignInRejectedError       logon refused: wrong user or password
//      └─ ThrottledError            429/503 with Retry-After (retryAfterMs), still refused after the retries allowed
import { childOf, type XmlElement } from './xml.js';

/** Every error this library rejects with. */
export class CwaClientError extends Error {
  override name = 'CwaClientError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * The gateway could not be reached: no HTTP answer at all (connection refused or reset, name
 * not found, TLS failure …). Requests that may safely go again were retried with backoff first.
 */
export class NetworkError extends CwaClientError {
  override name = 'NetworkError';
  constructor(
    /** The URL that was asked for. */
    readonly url: string,
    cause: unknown,
  ) {
    super(`cannot reach the gateway at ${url}: ${describeCause(cause)}`, { cause });
  }
}

/** The former name of {@link NetworkError} (the same class). */
export const GatewayUnreachableError = NetworkError;
/** The former name of {@link NetworkError} (the same class). */
export type GatewayUnreachableError = NetworkError;

/** A SIP final response (`sipResponse`) as the gateway reported it. */
export interface SipStatus {
  code: number;
  reason: string;
}

/** An `error` the gateway answered with (document error, requestFailed, requestInvalid or a failed invitation). */
export class CwaRequestError extends CwaClientError {
  override name = 'CwaRequestError';
  constructor(
    message: string,
    /** The CWA error code (18xxx), when the gateway sent one. */
    readonly code?: number,
    /** The SIP response of an OCS-style failure (e.g. 404, 480, 603, 408 for an invitation). */
    readonly sip?: SipStatus,
    /** The HTTP status, when the error came from an HTTP answer. */
    readonly status?: number,
    /** The CWA reason of the code (error@reason: "OCS Failure Response", "Invalid Request" …), when the gateway sent one. */
    readonly reason?: string,
  ) {
    super(message);
  }

  /**
   * The error for an `error` element (and the HTTP status it came with): a SipError when it
   * carries a SIP response, NotAuthenticatedError for 401, ThrottledError for 429 or code 18101,
   * else a RequestFailedError. `target` names who a SIP failure is about (the invitee), for the message.
   */
  static fromError(error: XmlElement | undefined, fallback: string, status?: number, extra: { retryAfterMs?: number; target?: string } = {}): CwaRequestError {
    const code = error?.attrs.code !== undefined ? Number(error.attrs.code) : undefined;
    const reason = error?.attrs.reason || undefined;
    const detail = error?.attrs.detail || error?.attrs.reason || fallback;
    const sipEl = childOf(error, 'sipResponse');
    if (sipEl) {
      return new SipError({ code: Number(sipEl.attrs.code), reason: sipEl.attrs.reason ?? '' }, detail, code, status, extra.target, reason);
    }
    if (status === 401) return new NotAuthenticatedError(detail, code, status, reason);
    if (status === 429 || code === THROTTLED_CODE) return new ThrottledError(detail, extra.retryAfterMs, code, status, reason);
    return new RequestFailedError(detail, code, undefined, status, reason);
  }
}

const THROTTLED_CODE = 18101;

/** What a SIP final response means for the person on the other end. */
export const SIP_MEANINGS: Readonly<Record<number, string>> = {
  400: 'the request was malformed',
  403: 'not allowed',
  404: 'user not found',
  408: 'no answer',
  410: 'user not found (gone)',
  413: 'too many entries (a limit was reached)',
  480: 'not available',
  481: 'the call or conversation no longer exists',
  485: 'ambiguous (a duplicate name)',
  486: 'busy',
  487: 'the invitation was cancelled',
  488: 'not acceptable here',
  500: 'server error',
  503: 'service unavailable',
  504: 'server timeout',
  600: 'busy everywhere',
  603: 'declined',
  604: 'does not exist anywhere',
  606: 'not acceptable',
};

/** What a SIP status code means, in words (a class description for codes without a name of their own). */
export function sipMeaning(code: number): string {
  return SIP_MEANINGS[code] ?? `failed (${code >= 600 ? 'global failure' : code >= 500 ? 'server failure' : 'request failure'})`;
}

/**
 * A request the gateway refused or that failed (requestFailed, requestInvalid, a document error,
 * a failed invitation): the CWA `code` and `reason`, and for a failure on the SIP side its
 * status (`sipStatus`: 404, 480, 486, 603 …) and what that means (`sipMeaning`). Failures that
 * carry a SIP status are {@link SipError}s.
 */
export class RequestFailedError extends CwaRequestError {
  override name = 'RequestFailedError';

  /** The SIP status code of a SIP failure (404, 480, 486, 603, 408 …); undefined for other failures. */
  get sipStatus(): number | undefined {
    return this.sip?.code;
  }

  /** What the SIP status means, in words ("user not found", "busy" …); undefined for other failures. */
  get sipMeaning(): string | undefined {
    return this.sip ? sipMeaning(this.sip.code) : undefined;
  }
}

/** A SIP failure (an invitation or a request the SIP side refused): the message names the code and what it means. */
export class SipError extends RequestFailedError {
  override name = 'SipError';
  /** What the SIP code means, in words ("user not found", "busy" …). */
  readonly meaning: string;
  constructor(
    sip: SipStatus,
    /** The gateway's own text (error@detail). */
    readonly detail: string,
    code?: number,
    status?: number,
    /** Whom the failure is about (the invitee), when known. */
    readonly target?: string,
    reason?: string,
  ) {
    const meaning = sipMeaning(sip.code);
    super(`${target ? `${target}: ` : ''}${meaning} (SIP ${sip.code}${sip.reason ? ` ${sip.reason}` : ''})`, code, sip, status, reason);
    this.meaning = meaning;
  }

  /** The SIP status code (404, 480, 486, 603, 408 …); the same as `sipStatus`. */
  get sipCode(): number {
    return this.sip!.code;
  }

  /** Copies this error with the target named (the invitee, known to the session that failed). */
  about(target: string): SipError {
    return this.target === target ? this : new SipError(this.sip!, this.detail, this.code, this.status, target, this.reason);
  }
}

/** No signed-in session: signIn was never called, the session ended, or the gateway no longer knows the ticket. */
export class NotAuthenticatedError extends CwaRequestError {
  override name = 'NotAuthenticatedError';
  constructor(message = 'not signed in', code?: number, status?: number, reason?: string) {
    super(message, code, undefined, status, reason);
  }
}

/** The former name of {@link NotAuthenticatedError} (the same class). */
export const NotSignedInError = NotAuthenticatedError;
/** The former name of {@link NotAuthenticatedError} (the same class). */
export type NotSignedInError = NotAuthenticatedError;

/** The logon was refused: wrong user name or password. */
export class SignInRejectedError extends CwaRequestError {
  override name = 'SignInRejectedError';
}

/** The gateway kept answering 429 (or 503 with Retry-After) after the retries allowed. */
export class ThrottledError extends CwaRequestError {
  override name = 'ThrottledError';
  constructor(
    message: string,
    /** How long the gateway asked to wait (Retry-After, in ms), when it said. */
    readonly retryAfterMs?: number,
    code?: number,
    status?: number,
    reason?: string,
  ) {
    super(retryAfterMs !== undefined && !/retry after/i.test(message) ? `${message} (retry after ${retryAfterMs} ms)` : message, code, undefined, status, reason);
  }
}

function describeCause(cause: unknown): string {
  // fetch says only "fetch failed"; its cause (ECONNREFUSED, certificate …) is what helps.
  const inner = (cause as { cause?: { code?: string; message?: string } } | undefined)?.cause;
  if (inner?.code) return `${inner.code}${inner.message && !inner.message.includes(inner.code) ? ` (${inner.message})` : ''}`;
  if (inner?.message) return inner.message;
  return cause instanceof Error ? cause.message : String(cause);
}

/** `Retry-After` in milliseconds (delta-seconds or an HTTP date); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
