// The client's HTTP side: logon, command batches and data-channel polls over `fetch`,
// keeping the newest CWA-Ticket from every answer.
import { childOf, parseXml, type XmlElement } from './xml.js';

export const LOGON_PATH = '/forms/logon.html';
export const COMMAND_PATH = '/cwa/MainCommandHandler.ashx';
export const DATA_PATH = '/cwa/AsyncDataChannel.ashx';
export const CWA_NAMESPACE = 'http://schemas.microsoft.com/2006/09/rtc/cwa';

/** Lets an application (or a test) see every document exchanged, e.g. to log or validate it. */
export type Inspector = (direction: 'sent' | 'received', channel: 'http' | 'websocket', xml: string) => void;

/** An `error` the gateway answered with (document error, requestFailed, requestInvalid or a failed invitation). */
export class CwaRequestError extends Error {
  override name = 'CwaRequestError';
  constructor(
    message: string,
    /** The CWA error code (18xxx), when the gateway sent one. */
    readonly code?: number,
    /** The SIP response of an OCS-style failure (e.g. 404, 480, 603, 408 for an invitation). */
    readonly sip?: { code: number; reason: string },
    /** The HTTP status, when the error came from an HTTP answer. */
    readonly status?: number,
  ) {
    super(message);
  }

  static fromError(error: XmlElement | undefined, fallback: string, status?: number): CwaRequestError {
    if (!error) return new CwaRequestError(fallback, undefined, undefined, status);
    const sip = childOf(error, 'sipResponse');
    return new CwaRequestError(
      error.attrs.detail || error.attrs.reason || fallback,
      error.attrs.code !== undefined ? Number(error.attrs.code) : undefined,
      sip ? { code: Number(sip.attrs.code), reason: sip.attrs.reason ?? '' } : undefined,
      status,
    );
  }
}

export interface HttpAnswer {
  status: number;
  text: string;
  root?: XmlElement;
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
  ) {}

  post(path: string, body: string): Promise<HttpAnswer> {
    return this.exchange(path, { method: 'POST', body });
  }

  get(path: string, signal?: AbortSignal): Promise<HttpAnswer> {
    return this.exchange(path, { method: 'GET', signal });
  }

  private async exchange(path: string, init: { method: string; body?: string; signal?: AbortSignal }): Promise<HttpAnswer> {
    if (init.body !== undefined) this.inspect?.('sent', 'http', init.body);
    const headers: Record<string, string> = { 'Content-Type': 'text/xml; charset=utf-8' };
    if (this.tickets.ticket) headers['CWA-Ticket'] = this.tickets.ticket;
    const res = await this.fetchImpl(this.baseUrl + path, { ...init, headers });
    const text = await res.text();
    const ticket = res.headers.get('CWA-Ticket');
    if (ticket) this.tickets.ticket = ticket;
    let root: XmlElement | undefined;
    if (text.trim().startsWith('<')) {
      this.inspect?.('received', 'http', text);
      root = parseXml(text);
    }
    return { status: res.status, text, root };
  }
}
