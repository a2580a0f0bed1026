// A client for cwa-gateway (and the UC AJAX API it speaks), for browsers and Node 20:
// signs in, keeps the event cursor, receives over a WebSocket when it can and by
// long-polling otherwise, and exposes the conversation model (client.sessions).
//
//   const client = new CwaClient({ baseUrl: 'http://127.0.0.1:8080' });
//   client.sessions.onIncomingSession((s) => s.onMessage((m) => console.log(m.content)));
//   await client.signIn('alice', 'alice-demo');
//   const s = await client.sessions.startImSession('sip:bob@example.com', 'hi');
//   await s.connected();
//   await s.sendMessage('how are you?');
import { Listeners, type Unsubscribe } from './emitter.js';
import { EventChannel, type EndReason, type TransportName, type TransportPreference } from './event-channel.js';
import { SessionManager, type ConferenceRunner } from './conversations.js';
import { ContactList } from './contacts.js';
import { Presence } from './presence.js';
import { Directory } from './search.js';
import { COMMAND_PATH, CWA_NAMESPACE, CwaRequestError, HttpChannel, LOGON_PATH, type Inspector } from './http.js';
import { defaultWebSocket, type WebSocketSupport } from './websocket.js';
import { childOf, escapeXmlAttr, escapeXmlText, parseXml, type XmlElement } from './xml.js';

export interface CwaClientOptions {
  /** The gateway, e.g. `http://127.0.0.1:8080` (no trailing slash). */
  baseUrl: string;
  /** `auto` (default): WebSocket, falling back to polling and back; or one door only. */
  transport?: TransportPreference;
  /** Replaces the WebSocket implementation (default: the platform's, else the `ws` package). */
  webSocket?: WebSocketSupport | null;
  /** Replaces `fetch`. */
  fetch?: typeof fetch;
  /** In `auto`, how long to poll after a WebSocket failed before trying again (ms, default 10000). */
  wsRetryMs?: number;
  /** Give up when the gateway cannot be reached for this long (ms, default 60000). */
  offlineLimitMs?: number;
  /** Sees every document sent and received (logging, validation in tests). */
  inspect?: Inspector;
}

export interface SignInOptions {
  /** The presence availability to start with (3500 = online). */
  availability?: number;
  localeId?: number;
}

export class CwaClient {
  readonly sessions: SessionManager;
  /** The user's own presence and note, and other people's presence (presence.ts). */
  readonly presence: Presence;
  /** The user's contacts and groups (contacts.ts). */
  readonly contacts: ContactList;
  /** Directory search (search.ts). */
  readonly directory: Directory;
  /** The current CWA-Ticket (rotations are followed automatically). */
  ticket: string | undefined;
  /** The signed-in user's SIP URI. */
  uri = '';
  sid = 0;
  private readonly http: HttpChannel;
  private channel: EventChannel | undefined;
  private rid = 1;
  private readonly eventListeners = new Listeners<[XmlElement]>();
  private readonly transportListeners = new Listeners<[TransportName]>();
  private readonly endListeners = new Listeners<[EndReason, { sessionTerminated?: string; error?: Error }]>();
  private terminatedReason: string | undefined;

  constructor(private readonly options: CwaClientOptions) {
    const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.http = new HttpChannel(options.baseUrl.replace(/\/+$/, ''), this, fetchImpl, options.inspect);
    const runner: ConferenceRunner = {
      conference: (confId, inner, rid) => this.request(`<conference rid="${rid ?? this.nextRid()}" confId="${confId}">${inner}</conference>`),
      nextRid: () => this.nextRid(),
    };
    this.sessions = new SessionManager(runner);
    this.presence = new Presence(this);
    this.contacts = new ContactList(this);
    this.directory = new Directory(this);
  }

  nextRid(): string {
    return String(this.rid++);
  }

  /** The door events come through now (undefined before sign-in and after the end). */
  get transport(): TransportName | undefined {
    return this.channel?.transport;
  }

  /** The eid of the last event processed. */
  get cursor(): number {
    return this.channel?.cursor ?? 0;
  }

  /** Every event, in order, exactly once (raw; the conversation model is in `sessions`). */
  onEvent(fn: (event: XmlElement) => void): Unsubscribe {
    return this.eventListeners.add(fn);
  }

  onTransportChanged(fn: (transport: TransportName) => void): Unsubscribe {
    return this.transportListeners.add(fn);
  }

  /** The session is over for this client (`sessionTerminated` holds the gateway's reason, when it sent one). */
  onEnded(fn: (reason: EndReason, detail: { sessionTerminated?: string; error?: Error }) => void): Unsubscribe {
    return this.endListeners.add(fn);
  }

  /** Signs in (logon + initiateSession) and starts receiving events. */
  async signIn(user: string, password: string, options: SignInOptions = {}): Promise<void> {
    const logon = await this.http.post(
      LOGON_PATH,
      `<cwaRequests xmlns="${CWA_NAMESPACE}"><logon><user>${escapeXmlText(user)}</user><password>${escapeXmlText(password)}</password></logon></cwaRequests>`,
    );
    const ok = childOf(logon.root, 'requestSucceeded');
    if (logon.status !== 200 || !ok) throw CwaRequestError.fromError(childOf(logon.root, 'error'), 'sign-in failed', logon.status);
    this.uri = childOf(ok, 'uri')?.text ?? '';
    const rid = this.nextRid();
    const body =
      `<cwaRequests xmlns="${CWA_NAMESPACE}" sid="0"><initiateSession rid="${rid}">` +
      `<localeId>${options.localeId ?? 1033}</localeId>` +
      (options.availability !== undefined ? `<userStateAvailability>${options.availability}</userStateAvailability>` : '') +
      '</initiateSession></cwaRequests>';
    const accepted = firstAnswer(await this.postBatch(body));
    this.sid = Number(childOf(accepted, 'sid')?.text);
    const ws = this.options.webSocket === null ? undefined : (this.options.webSocket ?? (await defaultWebSocket()));
    const channel = new EventChannel(this.sid, this.http, this, ws, {
      preference: this.options.transport ?? 'auto',
      wsRetryMs: this.options.wsRetryMs ?? 10_000,
      wsHealthyMs: 1000,
      ackDelayMs: 10,
      offlineLimitMs: this.options.offlineLimitMs ?? 60_000,
    }, this.options.inspect);
    channel.onEvent.add((ev) => this.dispatch(ev));
    channel.onTransport.add((t) => this.transportListeners.emit(t));
    channel.onEnd.add((reason, error) => {
      this.sessions.endAll();
      this.endListeners.emit(reason, { sessionTerminated: this.terminatedReason, error });
    });
    this.channel = channel;
    channel.start();
  }

  /** Ends the session (terminateSession) and stops receiving. */
  async signOut(): Promise<void> {
    if (!this.channel) return;
    try {
      await this.runBatch(`<terminateSession rid="${this.nextRid()}"/>`);
    } finally {
      await this.channel.stop();
    }
  }

  /** Moves to another door now (`polling`, `websocket`) or back to `auto`; nothing is lost or repeated. */
  useTransport(preference: TransportPreference): void {
    this.channel?.prefer(preference);
  }

  /**
   * Runs one request of this session (its XML, with a `rid`); resolves with the answer
   * element (requestAccepted, initiateImSessionAccepted …), rejects with a
   * CwaRequestError on requestFailed, requestInvalid or a document error.
   */
  async request(requestXml: string): Promise<XmlElement> {
    return firstAnswer(await this.runBatch(requestXml));
  }

  private async runBatch(inner: string): Promise<XmlElement> {
    const text = `<cwaRequests xmlns="${CWA_NAMESPACE}" sid="${escapeXmlAttr(String(this.sid))}">${inner}</cwaRequests>`;
    const answer = this.channel ? await this.channel.command(text) : (await this.http.post(COMMAND_PATH, text)).text;
    return parseXml(answer);
  }

  private async postBatch(text: string): Promise<XmlElement> {
    const answer = await this.http.post(COMMAND_PATH, text);
    if (!answer.root) throw new CwaRequestError(`HTTP ${answer.status}`, undefined, undefined, answer.status);
    return answer.root;
  }

  private dispatch(ev: XmlElement): void {
    if (ev.name === 'sessionTerminated') this.terminatedReason = ev.attrs.reason;
    this.sessions.handleEvent(ev);
    this.eventListeners.emit(ev);
  }
}

/** The first answer of a cwaResponses; document errors and failed requests become a CwaRequestError. */
function firstAnswer(root: XmlElement): XmlElement {
  const item = root.children[0];
  if (!item || item.name === 'error') throw CwaRequestError.fromError(item, 'the gateway refused the batch');
  if (item.name === 'requestFailed' || item.name === 'requestInvalid') {
    throw CwaRequestError.fromError(childOf(item, 'error'), `${item.name}`);
  }
  return item;
}
