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
//
// When the gateway forgets the session under the client (it restarted), the client signs
// in again by itself with the credentials it was given and says so (onSessionLost, then
// onSignedInAgain); `signInAgain: false` turns that off. A lost connection whose session the
// gateway still knows goes on from the cursor with the same sid (onConnectionLost, then
// onResumed); the waits between attempts follow `backoff` (exponential, with jitter).
import { Listeners, type Unsubscribe } from './emitter.js';
import { CwaRequestError, NetworkError, NotAuthenticatedError, RequestFailedError, SignInRejectedError } from './errors.js';
import { EventChannel, type EndReason, type TransportName, type TransportPreference } from './event-channel.js';
import { SessionManager, type ConferenceRunner } from './conversations.js';
import { ContactList } from './contacts.js';
import { AccessControl, Watchers } from './access.js';
import { Presence } from './presence.js';
import { Directory } from './search.js';
import { backoffDelay, backoffPolicy, COMMAND_PATH, CWA_NAMESPACE, DEFAULT_RETRY, HttpChannel, LOGON_PATH, type BackoffPolicy, type Inspector, type RetryPolicy } from './http.js';
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
  /**
   * How a request answered 429 (or 503 with Retry-After) is retried: after the Retry-After
   * the gateway gave, at most `maxRetries` times (default 3), never waiting longer than
   * `maxDelayMs` (default 30000); then it rejects with ThrottledError. `false`: never retried.
   */
  retry?: Partial<RetryPolicy> | false;
  /**
   * How long to wait between attempts while the gateway cannot be reached: polls, WebSocket
   * attaches, command batches (sent again byte for byte; the gateway runs a batch at most once,
   * by its rid) and signing in again — exponential backoff with jitter, from `initialMs` (100)
   * growing by `factor` (2) up to `maxMs` (5000), each wait less a random share of up to
   * `jitter` (0.5); for at most `offlineLimitMs` in all.
   */
  backoff?: Partial<BackoffPolicy>;
  /**
   * Sign in again by itself, with the credentials given to signIn, when the gateway no
   * longer knows the session or the ticket (it restarted) — default true. The session's
   * conversations are over either way (onSessionLost says so); `false` ends the client
   * with `notAuthenticated`/`sessionEnded` instead.
   */
  signInAgain?: boolean;
  /**
   * How often reportActivity tells the gateway while activity goes on (ms, default 10000):
   * once per interval; the first activity after a quiet spell of half an interval goes at
   * once. Keep it well under the gateway's --machine-idle-s.
   */
  activityReportMs?: number;
}

/** The session vanished under the client (the gateway no longer knew it or its ticket). */
export interface SessionLost {
  /** How the client found out. */
  reason: EndReason;
  /** The sid of the session that is gone. */
  previousSid: number;
  /** Whether the client is signing in again (it holds credentials and `signInAgain` is on). */
  signingInAgain: boolean;
}

/** The connection to the gateway was lost (no answer, or closed as a shutdown closes it); the client keeps trying. */
export interface ConnectionLost {
  sid: number;
  /** The eid of the last event processed: events resume after it. */
  cursor: number;
}

/**
 * The gateway answered again after a lost connection and still knew the session: the client
 * goes on with the same sid from its cursor (AckId), nothing lost or repeated, no sign-in.
 */
export interface Resumed {
  sid: number;
  /** The eid of the last event processed before the gateway answered again. */
  cursor: number;
  /** How long the connection was lost (ms). */
  outageMs: number;
}

/** Every event of a CwaClient by name, for `client.on(name, listener)`, with its listener's arguments. */
export interface CwaClientEvents {
  /** Every raw event, in order, exactly once (as onEvent). */
  event: [XmlElement];
  transportChanged: [TransportName];
  /** The connection was lost; the client keeps trying (with backoff). */
  connectionLost: [ConnectionLost];
  /** The connection is back and the session survived: events go on from the cursor. */
  resumed: [Resumed];
  /** The session did not survive (the gateway restarted): its conversations are over (as onSessionLost). */
  sessionLost: [SessionLost];
  /** Signed in again by itself after sessionLost (as onSignedInAgain). */
  signedInAgain: [SignedInAgain];
  /** The client is over (as onEnded). */
  ended: [EndReason, { sessionTerminated?: string; error?: Error }];
}

/** The client signed in again by itself after losing its session. */
export interface SignedInAgain {
  previousSid: number;
  sid: number;
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
  /** Access-control containers: who sees what of the user's presence (access.ts). */
  readonly access: AccessControl;
  /** The people watching the user's presence, and new ones as they come (access.ts). */
  readonly watchers: Watchers;
  /** The current CWA-Ticket (rotations are followed automatically). */
  ticket: string | undefined;
  /** The signed-in user's SIP URI. */
  uri = '';
  sid = 0;
  private readonly http: HttpChannel;
  private channel: EventChannel | undefined;
  private rid = 1;
  private readonly listeners: { [K in keyof CwaClientEvents]: Listeners<CwaClientEvents[K]> } = {
    event: new Listeners(),
    transportChanged: new Listeners(),
    connectionLost: new Listeners(),
    resumed: new Listeners(),
    sessionLost: new Listeners(),
    signedInAgain: new Listeners(),
    ended: new Listeners(),
  };
  private readonly eventListeners = this.listeners.event;
  private readonly transportListeners = this.listeners.transportChanged;
  private readonly endListeners = this.listeners.ended;
  private readonly sessionLostListeners = this.listeners.sessionLost;
  private readonly signedInAgainListeners = this.listeners.signedInAgain;
  private readonly backoff: BackoffPolicy;
  private terminatedReason: string | undefined;
  /** What signIn was given, for signing in again after a gateway restart. */
  private credentials: { user: string; password: string; options: SignInOptions } | undefined;
  private signingOut = false;
  /** Set while the client signs in again; requests wait for it. */
  private recovering: Promise<void> | undefined;

  constructor(private readonly options: CwaClientOptions) {
    const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.backoff = backoffPolicy(options.backoff);
    const retry: RetryPolicy = options.retry === false ? { maxRetries: 0, maxDelayMs: 0 } : { ...DEFAULT_RETRY, ...options.retry };
    this.http = new HttpChannel(options.baseUrl.replace(/\/+$/, ''), this, fetchImpl, options.inspect, retry);
    const runner: ConferenceRunner = {
      conference: (confId, inner, rid) => this.request(`<conference rid="${rid ?? this.nextRid()}" confId="${confId}">${inner}</conference>`),
      nextRid: () => this.nextRid(),
    };
    this.sessions = new SessionManager(runner);
    this.presence = new Presence(this);
    this.contacts = new ContactList(this);
    this.directory = new Directory(this);
    this.access = new AccessControl(this);
    this.watchers = new Watchers(this);
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

  /**
   * Listens to one of the client's events by name: `sessionLost`, `signedInAgain`,
   * `connectionLost`, `resumed`, `ended`, `event`, `transportChanged` (see CwaClientEvents).
   * The on… methods are the same lists.
   */
  on<K extends keyof CwaClientEvents>(name: K, fn: (...args: CwaClientEvents[K]) => void): Unsubscribe {
    const list = this.listeners[name] as Listeners<CwaClientEvents[K]> | undefined;
    if (!list) throw new TypeError(`no client event "${String(name)}" (one of ${Object.keys(this.listeners).join(', ')})`);
    return list.add(fn);
  }

  /** The connection was lost; the client keeps trying, with backoff, for up to `offlineLimitMs`. */
  onConnectionLost(fn: (lost: ConnectionLost) => void): Unsubscribe {
    return this.listeners.connectionLost.add(fn);
  }

  /**
   * The connection is back and the gateway still knew the session: the same sid, events
   * resumed from the cursor (nothing lost or repeated), no sign-in. When it did not know it,
   * `sessionLost` comes instead.
   */
  onResumed(fn: (resumed: Resumed) => void): Unsubscribe {
    return this.listeners.resumed.add(fn);
  }

  onTransportChanged(fn: (transport: TransportName) => void): Unsubscribe {
    return this.transportListeners.add(fn);
  }

  /** The session is over for this client (`sessionTerminated` holds the gateway's reason, when it sent one). */
  onEnded(fn: (reason: EndReason, detail: { sessionTerminated?: string; error?: Error }) => void): Unsubscribe {
    return this.endListeners.add(fn);
  }

  /**
   * The gateway no longer knew the session or its ticket (it restarted); the client signs
   * in again when it can. The conversations of the lost session are over.
   */
  onSessionLost(fn: (lost: SessionLost) => void): Unsubscribe {
    return this.sessionLostListeners.add(fn);
  }

  /** The client signed in again by itself after onSessionLost (a new sid; events start again from 1). */
  onSignedInAgain(fn: (again: SignedInAgain) => void): Unsubscribe {
    return this.signedInAgainListeners.add(fn);
  }

  /**
   * Signs in (logon + initiateSession) and starts receiving events. Rejects with
   * SignInRejectedError (wrong user or password), ThrottledError, NetworkError
   * or CwaRequestError.
   */
  async signIn(user: string, password: string, options: SignInOptions = {}): Promise<void> {
    await this.establish(user, password, options);
    this.credentials = { user, password, options };
  }

  private async establish(user: string, password: string, options: SignInOptions): Promise<void> {
    this.ticket = undefined;
    this.terminatedReason = undefined;
    this.signingOut = false;
    const logon = await this.http.postRetrying(
      LOGON_PATH,
      `<cwaRequests xmlns="${CWA_NAMESPACE}"><logon><user>${escapeXmlText(user)}</user><password>${escapeXmlText(password)}</password></logon></cwaRequests>`,
    );
    const ok = childOf(logon.root, 'requestSucceeded');
    if (logon.status !== 200 || !ok) {
      const error = childOf(logon.root, 'error');
      if (logon.status === 401) {
        throw new SignInRejectedError(error?.attrs.detail || 'the user name or password was not accepted', error?.attrs.code !== undefined ? Number(error.attrs.code) : undefined, undefined, 401);
      }
      throw CwaRequestError.fromError(error, `sign-in failed (HTTP ${logon.status})`, logon.status);
    }
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
      activityReportMs: this.options.activityReportMs ?? 10_000,
      backoff: this.backoff,
    }, this.options.inspect);
    channel.onOutage.add(() => {
      if (this.channel === channel) this.listeners.connectionLost.emit({ sid: this.sid, cursor: channel.cursor });
    });
    channel.onResume.add(({ outageMs }) => {
      if (this.channel === channel) this.listeners.resumed.emit({ sid: this.sid, cursor: channel.cursor, outageMs });
    });
    channel.onEvent.add((ev) => this.dispatch(ev));
    channel.onTransport.add((t) => this.transportListeners.emit(t));
    channel.onEnd.add((reason, error, afterOutage) => this.channelEnded(channel, reason, error, afterOutage));
    this.channel = channel;
    channel.start();
  }

  private channelEnded(channel: EventChannel, reason: EndReason, error: Error | undefined, afterOutage: boolean): void {
    if (this.channel !== channel) return;
    // Lost to a restart: the gateway went away, and once back it no longer knew the session
    // or the ticket, without a sessionTerminated event (which a sign-out, a timeout or an
    // overflow sends first). A revocation (sign-out everywhere) refuses a connection that
    // was healthy: that one ends the client, as it must.
    const lost =
      (reason === 'notAuthenticated' || reason === 'sessionEnded') && afterOutage && this.terminatedReason === undefined && !this.signingOut;
    this.sessions.endAll();
    if (!lost) {
      this.endListeners.emit(reason, { sessionTerminated: this.terminatedReason, error });
      return;
    }
    const signingInAgain = this.credentials !== undefined && this.options.signInAgain !== false;
    this.sessionLostListeners.emit({ reason, previousSid: this.sid, signingInAgain });
    if (!signingInAgain) {
      this.endListeners.emit(reason, { error });
      return;
    }
    this.recovering = this.signInAgainNow(reason).finally(() => (this.recovering = undefined));
  }

  /** Signs in again with the credentials held, trying until `offlineLimitMs` while the gateway cannot be reached. */
  private async signInAgainNow(reason: EndReason): Promise<void> {
    const previousSid = this.sid;
    const { user, password, options } = this.credentials!;
    const started = Date.now();
    const limit = this.options.offlineLimitMs ?? 60_000;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.establish(user, password, options);
        this.signedInAgainListeners.emit({ previousSid, sid: this.sid });
        return;
      } catch (err) {
        if (err instanceof NetworkError && Date.now() - started < limit) {
          await new Promise((r) => setTimeout(r, backoffDelay(this.backoff, attempt)));
          continue;
        }
        this.channel = undefined;
        this.sid = 0;
        this.endListeners.emit(reason, { error: err instanceof Error ? err : new Error(String(err)) });
        return;
      }
    }
  }

  /** Ends the session (terminateSession) and stops receiving. */
  async signOut(): Promise<void> {
    this.credentials = undefined; // never signed in again after this
    if (this.recovering) await this.recovering;
    const channel = this.channel;
    if (!channel) return;
    this.signingOut = true;
    try {
      await this.runBatch(`<terminateSession rid="${this.nextRid()}"/>`);
    } finally {
      await channel.stop();
    }
  }

  /**
   * The person using this client is active (typed, clicked, moved the pointer): call it on
   * their input. The gateway hears it as the protocol's `UA=true` and keeps the session's
   * machine state active, so that the person does not turn Away (idle) after the gateway's
   * --machine-idle-s while using the client; without it they do, whatever status they chose.
   * Calls are cheap and coalesced: one report per `activityReportMs` while activity goes on,
   * at once after a quiet spell. Nothing happens while not signed in.
   */
  reportActivity(): void {
    this.channel?.noteActivity();
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
    // A request made while the client signs in again runs in the new session.
    if (this.recovering) await this.recovering;
    return firstAnswer(await this.runBatch(requestXml));
  }

  private async runBatch(inner: string): Promise<XmlElement> {
    const channel = this.channel;
    if (!channel || this.sid === 0) throw new NotAuthenticatedError('not signed in: call signIn first');
    const text = `<cwaRequests xmlns="${CWA_NAMESPACE}" sid="${escapeXmlAttr(String(this.sid))}">${inner}</cwaRequests>`;
    return parseXml(await channel.command(text));
  }

  private async postBatch(text: string): Promise<XmlElement> {
    const answer = await this.http.postRetrying(COMMAND_PATH, text);
    if (!answer.root) throw new RequestFailedError(`HTTP ${answer.status}`, undefined, undefined, answer.status);
    if (answer.status !== 200 && answer.status !== 400) throw CwaRequestError.fromError(childOf(answer.root, 'error'), `HTTP ${answer.status}`, answer.status);
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
