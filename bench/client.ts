// A deliberately cheap UC AJAX client for the benchmark: keep-alive `http.request`,
// string bodies, and short regexes instead of an XML parser, so that the numbers
// measure the gateway rather than the load generator.
import http from 'node:http';

export const CWA_NS = 'http://schemas.microsoft.com/2006/09/rtc/cwa';
export const LOGON_PATH = '/forms/logon.html';
export const COMMAND_PATH = '/cwa/MainCommandHandler.ashx';
export const DATA_PATH = '/cwa/AsyncDataChannel.ashx';

export interface Reply {
  status: number;
  text: string;
  ticket: string | undefined;
}

/** One server address plus the agent whose sockets the requests share. */
export class HttpTarget {
  private next = 0;

  constructor(
    /** Gateway nodes: each request goes to the next one (a balancer without affinity). */
    readonly ports: number[],
    readonly agent: http.Agent,
    readonly host = '127.0.0.1',
  ) {}

  static keepAlive(port: number | number[], maxSockets: number): HttpTarget {
    return new HttpTarget(Array.isArray(port) ? port : [port], new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets }));
  }

  /**
   * Opens `count` keep-alive connections up front (concurrent GET /healthz). A busy Node
   * server accepts one new connection per event-loop turn (libuv >= 1.45), so sockets
   * opened in the middle of a load wait seconds to be accepted; the bench opens them first.
   */
  async preconnect(count: number): Promise<void> {
    await Promise.all(Array.from({ length: count * this.ports.length }, () => this.request('GET', '/healthz')));
  }

  request(method: 'GET' | 'POST', path: string, body?: string, ticket?: string): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = {};
      if (body !== undefined) {
        headers['content-type'] = 'text/xml; charset=utf-8';
        headers['content-length'] = Buffer.byteLength(body);
      }
      if (ticket) headers['cwa-ticket'] = ticket;
      const port = this.ports[this.next++ % this.ports.length];
      const req = http.request({ host: this.host, port, method, path, headers, agent: this.agent }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          const t = res.headers['cwa-ticket'];
          resolve({ status: res.statusCode ?? 0, text, ticket: Array.isArray(t) ? t[0] : t });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }
}

const SID = /<sid>(\d+)<\/sid>/;
const ACK_ID = /^<cwaEvents[^>]*\sackId="(\d+)"/;
const CONF_ID = /confId="(\d+)"/;

/** A bench user on a target: the part the UC AJAX and UCWA bench clients share. */
export class BenchUser {
  constructor(
    readonly target: HttpTarget,
    readonly login: string,
    readonly password: string,
  ) {}

  get uri(): string {
    return `sip:${this.login}@example.com`;
  }
}

/** One signed-in endpoint: ticket (always the newest seen), session id, ackId cursor, rid counter. */
export class CwaClient extends BenchUser {
  ticket = '';
  sid = 0;
  ackId = 0;
  private rid = 1;

  nextRid(): number {
    return ++this.rid;
  }

  private remember(reply: Reply): Reply {
    if (reply.ticket) this.ticket = reply.ticket;
    return reply;
  }

  async logon(): Promise<void> {
    const body = `<cwaRequests><logon><user>${this.login}</user><password>${this.password}</password></logon></cwaRequests>`;
    const reply = await this.target.request('POST', LOGON_PATH, body);
    if (reply.status !== 200 || !reply.ticket) throw new Error(`logon ${this.login}: HTTP ${reply.status} ${reply.text.slice(0, 200)}`);
    this.ticket = reply.ticket;
  }

  async initiateSession(): Promise<number> {
    const body = `<cwaRequests sid="0" xmlns="${CWA_NS}"><initiateSession rid="1"/></cwaRequests>`;
    const reply = this.remember(await this.target.request('POST', COMMAND_PATH, body, this.ticket));
    const m = SID.exec(reply.text);
    if (reply.status !== 200 || !m) throw new Error(`initiateSession ${this.login}: HTTP ${reply.status} ${reply.text.slice(0, 200)}`);
    this.sid = Number(m[1]);
    return this.sid;
  }

  /** Full `cwaRequests` document for one request element (which must carry its own rid). */
  batch(inner: string): string {
    return `<cwaRequests sid="${this.sid}" xmlns="${CWA_NS}">${inner}</cwaRequests>`;
  }

  async command(inner: string): Promise<Reply> {
    const reply = this.remember(await this.target.request('POST', COMMAND_PATH, this.batch(inner), this.ticket));
    if (reply.status !== 200) throw new Error(`command ${this.login}: HTTP ${reply.status} ${reply.text.slice(0, 200)}`);
    return reply;
  }

  sendMessageBody(confId: number, rid: number, content: string): string {
    return `<conference rid="${rid}" confId="${confId}"><sendMessage><content>${content}</content></sendMessage></conference>`;
  }

  /** Starts a conversation with `peer`; resolves with this side's confId. */
  async inviteIm(peerUri: string, first: string): Promise<number> {
    const rid = this.nextRid();
    const reply = await this.command(
      `<conference rid="${rid}" confId="0"><initiateImSession><uris><uri>${peerUri}</uri></uris><message><content>${first}</content></message></initiateImSession></conference>`,
    );
    const m = /<initiateImSessionAccepted[^>]*confId="(\d+)"/.exec(reply.text);
    if (!m) throw new Error(`initiateImSession ${this.login}: ${reply.text.slice(0, 300)}`);
    return Number(m[1]);
  }

  async acceptIm(confId: number): Promise<void> {
    const reply = await this.command(`<conference rid="${this.nextRid()}" confId="${confId}"><acceptImSession/></conference>`);
    if (!reply.text.includes('<requestAccepted')) throw new Error(`acceptImSession ${this.login}: ${reply.text.slice(0, 300)}`);
  }

  /** One data-channel GET; advances the cursor. Resolves with the cwaEvents text. */
  async poll(): Promise<string> {
    const reply = this.remember(
      await this.target.request('GET', `${DATA_PATH}?Sid=${this.sid}&AckId=${this.ackId}&UA=true`, undefined, this.ticket),
    );
    if (reply.status !== 200) throw new Error(`poll ${this.login} sid ${this.sid}: HTTP ${reply.status} ${reply.text.slice(0, 200)}`);
    const m = ACK_ID.exec(reply.text);
    if (!m) throw new Error(`poll ${this.login}: no ackId in ${reply.text.slice(0, 200)}`);
    this.ackId = Number(m[1]);
    return reply.text;
  }

  /** Polls until an imSessionReceived arrives; resolves with the confId it names. */
  async awaitInvitation(): Promise<number> {
    for (;;) {
      const text = await this.poll();
      const at = text.indexOf('<imSessionReceived');
      if (at < 0) continue;
      const open = text.lastIndexOf('<conference', at);
      const m = CONF_ID.exec(text.slice(open, at));
      if (!m) throw new Error(`imSessionReceived without confId: ${text.slice(0, 300)}`);
      return Number(m[1]);
    }
  }
}

/** Signs in `a` and `b`, opens a conversation a -> b, and has b accept it. */
export async function connectPair(a: CwaClient, b: CwaClient): Promise<{ senderConf: number; receiverConf: number }> {
  const senderConf = await a.inviteIm(b.uri, 'hello');
  const receiverConf = await b.awaitInvitation();
  await b.acceptIm(receiverConf);
  return { senderConf, receiverConf };
}
