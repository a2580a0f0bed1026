// The client's HTTP side: logon, command batches and data-channel polls over `fetch`,
// keeping the newest CWA-Ticket from every answer. A request that gets no answer at all
// rejects with NetworkError; 429 and 503 with Retry-After are waited out and
// sent again, within the retry policy.
import { NetworkError, parseRetryAfter, ThrottledError } from './errors.js';
import { childOf, parseXml, type XmlElement } from './xml.js';

export { CwaRequestError } from './errors.js';

export const LOGON_PATH = '/forms/logon.html';
export const COMMAND_PATH = '/cwa/MainCommandHandler.ashx';
export const DATA_PATH = '/cwa/AsyncDataChannel.ashx';
export const CWA_NAMESPACE = 'http://schemas.microsoft.com/2006/09/rtc/cwa';

/** Lets an application (or a test) see every document exchanged, e.g. to log or validate it. */
export type Inspector = (direction: 'sent' | 'received', channel: 'http' | 'websocket', xml: string) => void;

export interface HttpAnswer {
  status: number;
  text: string;
  root?: XmlElement;
  /** Retry-After, in milliseconds, when the answer carried one. */
  retryAfterMs?: number;
}

/** How answers asking to come back later (429, 503 with Retry-After) are retried. */
export interface RetryPolicy {
  /** How many times one request is sent again after such an answer (default 3; 0 = never). */
  maxRetries: number;
  /** The longest Retry-After waited for; a longer one fails at once with ThrottledError (ms, default 30000). */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxRetries: 3, maxDelayMs: 30_000 };

/**
 * How the client waits between attempts when the gateway cannot be reached (polls, WebSocket
 * attaches, command batches the gateway de-duplicates by rid, signing in again): exponential
 * backoff with jitter. Attempt n waits `min(maxMs, initialMs * factor^n)`, less a random part of
 * up to `jitter` of it (so that clients cut off together do not come back together). The
 * attempts stop after `offlineLimitMs` without an answer.
 */
export interface BackoffPolicy {
  /** The first wait (ms, default 100). */
  initialMs: number;
  /** The longest wait (ms, default 5000). */
  maxMs: number;
  /** How much each wait grows (default 2). */
  factor: number;
  /** The share of each wait taken off at random, 0 (none) to 1 (default 0.5). */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 100, maxMs: 5000, factor: 2, jitter: 0.5 };

/** A complete backoff policy from the options given; a RangeError names a value out of range. */
export function backoffPolicy(given: Partial<BackoffPolicy> | undefined): BackoffPolicy {
  const p = { ...DEFAULT_BACKOFF, ...given };
  const check = (ok: boolean, what: string) => {
    if (!ok) throw new RangeError(`backoff.${what}`);
  };
  check(Number.isFinite(p.initialMs) && p.initialMs > 0, `initialMs must be a number above 0 (got ${p.initialMs})`);
  check(Number.isFinite(p.maxMs) && p.maxMs >= p.initialMs, `maxMs must be at least initialMs (got ${p.maxMs})`);
  check(Number.isFinite(p.factor) && p.factor >= 1, `factor must be at least 1 (got ${p.factor})`);
  check(Number.isFinite(p.jitter) && p.jitter >= 0 && p.jitter <= 1, `jitter must be between 0 and 1 (got ${p.jitter})`);
  return p;
}

/** The wait before attempt `attempt` + 1 (attempt 0 is the first retry). */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(policy.maxMs, policy.initialMs * policy.factor ** Math.min(attempt, 64));
  return Math.round(base * (1 - policy.jitter * random()));
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** 429, or 503 with Retry-After (shutting down, store unavailable): the request was not run; it may go again. */
export function asksToComeBack(answer: HttpAnswer): boolean {
  return answer.status === 429 || (answer.status === 503 && answer.retryAfterMs !== undefined);
}

export interface TicketHolder {
  ticket: string | undefined;
}

export class HttpChannel {
  constructor(
    readonly baseUrl: string,
    private readonly tickets: TicketHolder,
    private readonly fetchImpl: typeof fetch,
    private readonly inspect?: Inspector,
    readonly retry: RetryPolicy = DEFAULT_RETRY,
  ) {}

  post(path: string, body: string): Promise<HttpAnswer> {
    return this.exchange(path, { method: 'POST', body });
  }

  /**
   * A POST that waits out 429 and 503-with-Retry-After answers (the gateway did not run the
   * request) and sends the same bytes again, up to the retry policy; then rejects with a
   * ThrottledError carrying the last Retry-After. Other answers are returned as they are.
   */
  async postRetrying(path: string, body: string): Promise<HttpAnswer> {
    for (let attempt = 0; ; attempt++) {
      const answer = await this.post(path, body);
      if (!asksToComeBack(answer)) return answer;
      const wait = answer.retryAfterMs ?? Math.min(this.retry.maxDelayMs, 500 * 2 ** attempt);
      if (attempt >= this.retry.maxRetries || wait > this.retry.maxDelayMs) throw throttled(answer);
      await sleep(wait);
    }
  }

  get(path: string, signal?: AbortSignal): Promise<HttpAnswer> {
    return this.exchange(path, { method: 'GET', signal });
  }

  private async exchange(path: string, init: { method: string; body?: string; signal?: AbortSignal }): Promise<HttpAnswer> {
    if (init.body !== undefined) this.inspect?.('sent', 'http', init.body);
    const headers: Record<string, string> = { 'Content-Type': 'text/xml; charset=utf-8' };
    if (this.tickets.ticket) headers['CWA-Ticket'] = this.tickets.ticket;
    let res: Response;
    let text: string;
    try {
      res = await this.fetchImpl(this.baseUrl + path, { ...init, headers });
      text = await res.text();
    } catch (err) {
      if (init.signal?.aborted) throw err; // the caller left: not a network failure
      throw new NetworkError(this.baseUrl + path, err);
    }
    const ticket = res.headers.get('CWA-Ticket');
    if (ticket) this.tickets.ticket = ticket;
    let root: XmlElement | undefined;
    if (text.trim().startsWith('<')) {
      this.inspect?.('received', 'http', text);
      root = parseXml(text);
    }
    const retryAfterMs = parseRetryAfter(res.headers.get('Retry-After'));
    return { status: res.status, text, root, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
  }
}

/** The ThrottledError for a 429/503 answer. */
export function throttled(answer: HttpAnswer): ThrottledError {
  const error = childOf(answer.root, 'error');
  const fallback = answer.status === 429 ? 'the gateway is throttling this client' : `the gateway is unavailable (HTTP ${answer.status})`;
  // A 503 with Retry-After is throttling in effect (come back later), whatever its 18xxx code.
  const code = error?.attrs.code !== undefined ? Number(error.attrs.code) : undefined;
  return new ThrottledError(error?.attrs.detail || fallback, answer.retryAfterMs, code, answer.status);
}
