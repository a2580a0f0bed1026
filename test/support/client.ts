// A legacy UC AJAX client as the tests drive it: it speaks only the documented wire
// protocol over HTTP, keeps the newest CWA-Ticket, and checks every document it gets
// against the schemas.
import { expect } from 'chai';
import { parseXmlTree, type XNode } from '../../src/protocol/xml-tree.js';
import { expectValidDocument } from './schemas.js';

export const CWA_NS = 'http://schemas.microsoft.com/2006/09/rtc/cwa';
const READ_LIMITS = { maxDepth: 64, maxElements: 100_000, maxAttributes: 64, maxAttributeLength: 1_000_000 };

export interface Reply {
  status: number;
  body: string;
  root: XNode;
  ticket: string | null;
}

export function parse(xml: string): XNode {
  return parseXmlTree(xml, READ_LIMITS);
}

export class LegacyClient {
  ticket: string | undefined;
  sid = 0;
  ackId = 0;
  uri = '';
  private rid = 1;

  constructor(readonly baseUrl: string, readonly login: string, readonly password = `${login}-demo`) {}

  nextRid(): string {
    return String(this.rid++);
  }

  async http(method: 'GET' | 'POST', path: string, body?: string, headers: Record<string, string> = {}): Promise<Reply> {
    const res = await fetch(this.baseUrl + path, {
      method,
      body,
      headers: { 'Content-Type': 'text/xml', ...(this.ticket ? { 'CWA-Ticket': this.ticket } : {}), ...headers },
    });
    const text = await res.text();
    expect(res.headers.get('content-type'), `content type of ${method} ${path}`).to.match(/^text\/xml/);
    expectValidDocument(text);
    const ticket = res.headers.get('cwa-ticket');
    if (ticket) this.ticket = ticket;
    return { status: res.status, body: text, root: parse(text), ticket };
  }

  async logon(password = this.password): Promise<Reply> {
    const reply = await this.http(
      'POST',
      '/forms/logon.html',
      `<cwaRequests><logon><user>${this.login}</user><password>${password}</password></logon></cwaRequests>`,
    );
    const uri = reply.root.children[0]?.children.find((c) => c.name === 'uri');
    if (uri) this.uri = uri.text;
    return reply;
  }

  /** Posts a batch; `inner` is the requests' XML. */
  command(inner: string, sid = this.sid): Promise<Reply> {
    return this.http('POST', '/cwa/MainCommandHandler.ashx', `<cwaRequests xmlns="${CWA_NS}" sid="${sid}">${inner}</cwaRequests>`);
  }

  async signIn(): Promise<this> {
    const logon = await this.logon();
    expect(logon.status, logon.body).to.equal(200);
    const reply = await this.command(`<initiateSession rid="${this.nextRid()}"><localeId>1033</localeId></initiateSession>`, 0);
    const accepted = reply.root.children[0]!;
    expect(accepted.name, reply.body).to.equal('requestAccepted');
    this.sid = Number(accepted.children.find((c) => c.name === 'sid')!.text);
    return this;
  }

  /** One data-channel GET with the current cursor; advances the cursor to the answer's ackId. */
  async poll(ackId = this.ackId, ua = 'false'): Promise<{ reply: Reply; events: XNode[] }> {
    const reply = await this.http('GET', `/cwa/AsyncDataChannel.ashx?Sid=${this.sid}&AckId=${ackId}&UA=${ua}`);
    if (reply.status === 200) this.ackId = Number(reply.root.attrs.ackId);
    return { reply, events: reply.status === 200 ? reply.root.children : [] };
  }

  /** Polls until `pred` matches one of the events received, collecting everything on the way. */
  async pollUntil(pred: (e: XNode) => boolean, maxPolls = 10): Promise<XNode[]> {
    const seen: XNode[] = [];
    for (let i = 0; i < maxPolls; i++) {
      const { events, reply } = await this.poll();
      expect(reply.status, reply.body).to.equal(200);
      seen.push(...events);
      if (events.some(pred)) return seen;
    }
    throw new Error(`${this.login}: no matching event after ${maxPolls} polls; saw ${seen.map(describe).join(', ')}`);
  }

  async terminate(): Promise<Reply> {
    return this.command(`<terminateSession rid="${this.nextRid()}"/>`);
  }
}

/** `conference/imSessionState=connected` style short description of an event. */
export function describe(e: XNode): string {
  if (e.name === 'conference') {
    const inner = e.children[0]!;
    return `conference/${inner.name}${inner.children.length === 0 && inner.text ? `=${inner.text}` : ''}`;
  }
  return e.name;
}

export function conferenceChild(e: XNode, name: string): XNode | undefined {
  return e.name === 'conference' && e.children[0]?.name === name ? e.children[0] : undefined;
}

/** Every event a client has queued now, read with its own cursor (holdMs 0: an empty poll answers at once). */
export async function drainEvents(c: LegacyClient): Promise<XNode[]> {
  const all: XNode[] = [];
  for (let i = 0; i < 50; i++) {
    const { events, reply } = await c.poll();
    expect(reply.status, reply.body).to.equal(200);
    if (events.length === 0) return all;
    all.push(...events);
  }
  throw new Error(`${c.login}: the log did not drain`);
}

/** The text of every messageReceived among `events`, in order. */
export function messageTexts(events: XNode[]): string[] {
  return events.flatMap((e) => {
    const m = conferenceChild(e, 'messageReceived');
    return m ? [m.children[0]!.children.find((c) => c.name === 'content')!.text] : [];
  });
}
