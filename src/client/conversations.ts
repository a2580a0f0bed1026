// The conversation model of the UCC API, over the gateway's `conference` requests and
// events: a session manager that announces incoming conversations, and IM sessions
// with participants, messages, composing state, addParticipant and terminate.
import { Listeners, type Unsubscribe } from './emitter.js';
import { CwaRequestError, RequestFailedError, SipError } from './errors.js';
import { childOf, escapeXmlText, type XmlElement } from './xml.js';

export type ImSessionState = 'incoming' | 'connecting' | 'connected' | 'terminated';

export interface Participant {
  uri: string;
  name?: string;
  role?: string;
}

export interface ImMessage {
  /** The sender's SIP URI. */
  sender: string;
  content: string;
  /** The X-MMS-IM-Format string, when the sender gave one. */
  format?: string;
  /** True for the message that came with the invitation (also on `session.firstMessage`). */
  fromInvitation?: boolean;
}

/** Messages kept for a conversation that has no onMessage listener yet (the first one added gets them). */
const MAX_UNHEARD_MESSAGES = 1000;

/** What a session needs from the client: run one `conference` request of its own. */
export interface ConferenceRunner {
  /** Runs `<conference rid confId>inner</conference>`; resolves with the answer element, rejects on requestFailed/Invalid. */
  conference(confId: number, inner: string, rid?: string): Promise<XmlElement>;
  nextRid(): string;
}

function messageOf(el: XmlElement | undefined, sender: string): ImMessage | undefined {
  if (!el) return undefined;
  const format = childOf(el, 'format')?.text;
  return { sender, content: childOf(el, 'content')?.text ?? '', ...(format !== undefined ? { format } : {}) };
}

/** `<format>…</format><content>…</content>`: the inside of `message` and of `sendMessage`. */
function renderMessageBody(content: string, format?: string): string {
  return `${format !== undefined ? `<format>${escapeXmlText(format)}</format>` : ''}<content>${escapeXmlText(content)}</content>`;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined); // a rejection nobody awaits is not an unhandled one
  return { promise, resolve, reject };
}

/** One IM conversation (the UCC API's IM session), as seen by this endpoint. */
export class ImSession {
  state: ImSessionState;
  readonly participants = new Map<string, Participant>();
  private readonly messageListeners = new Listeners<[ImMessage]>();
  private readonly addedListeners = new Listeners<[Participant]>();
  private readonly removedListeners = new Listeners<[string]>();
  private readonly stateListeners = new Listeners<[ImSessionState]>();
  private readonly composingListeners = new Listeners<[{ uri?: string; composing: boolean }]>();
  /** Why the conversation failed to start, when it did. */
  failure: CwaRequestError | undefined;
  private readonly connectedDeferred = deferred<void>();
  private readonly sends = new Map<string, Deferred<string>>();
  /** addParticipant calls waiting for the invitee to join, by the inviteParticipants rid. */
  private readonly invites = new Map<string, { uri: string; done: Deferred<Participant> }>();
  /** Messages that arrived while nobody listened (the invitation's among them), for the first onMessage. */
  private unheard: ImMessage[] = [];
  /** The conversation's mode: `peer` (one-to-one), `escalating`/`escalated` (a conference) … */
  escalationMode: string | undefined;
  /** This endpoint's role (`attendee`, `presenter`). */
  role: string | undefined;
  /** The conference's focus URI, once it is a conference (others can join with it). */
  confUri: string | undefined;

  constructor(
    private readonly runner: ConferenceRunner,
    readonly confId: number,
    readonly direction: 'incoming' | 'outgoing',
    /** The other party at the start: the invitee (outgoing) or the inviter (incoming). */
    readonly peer: Participant,
    readonly subject?: string,
    /** The message that came with an invitation (onMessage gets it too, flagged `fromInvitation`). */
    readonly firstMessage?: ImMessage,
    /** The rid of the initiateImSession that started an outgoing session. */
    readonly inviteRid?: string,
  ) {
    this.state = direction === 'incoming' ? 'incoming' : 'connecting';
    if (firstMessage) this.unheard.push({ ...firstMessage, fromInvitation: true });
  }

  /** Resolves when the conversation is connected; rejects when it ends first (with the invitation's failure). */
  connected(): Promise<void> {
    return this.connectedDeferred.promise;
  }

  /** Accepts an incoming invitation. */
  async accept(): Promise<void> {
    await this.runner.conference(this.confId, '<acceptImSession/>');
  }

  /** Sends a message; resolves with its messageId once the gateway has delivered it, rejects when sending failed. */
  async sendMessage(content: string, format?: string): Promise<string> {
    const rid = this.runner.nextRid();
    const done = deferred<string>();
    this.sends.set(rid, done);
    try {
      await this.runner.conference(this.confId, `<sendMessage>${renderMessageBody(content, format)}</sendMessage>`, rid);
    } catch (err) {
      this.sends.delete(rid);
      throw err;
    }
    return done.promise;
  }

  async setComposing(composing: boolean): Promise<void> {
    await this.runner.conference(this.confId, `<notifyComposing>${composing ? 'composing' : 'idle'}</notifyComposing>`);
  }

  /**
   * Invites another participant (inviteParticipants; a one-to-one conversation becomes a
   * conference). Resolves when they join; rejects with a CwaRequestError when the gateway
   * refuses the request or the invitation fails (its SIP reason: 404, 480, 603, 408 …).
   */
  async addParticipant(uri: string): Promise<Participant> {
    const rid = this.runner.nextRid();
    const done = deferred<Participant>();
    this.invites.set(rid, { uri, done });
    try {
      await this.runner.conference(this.confId, `<inviteParticipants><uris><uri>${escapeXmlText(uri)}</uri></uris></inviteParticipants>`, rid);
    } catch (err) {
      this.invites.delete(rid);
      throw err;
    }
    return done.promise;
  }

  /** Leaves (or declines) the conversation. */
  async terminate(): Promise<void> {
    if (this.state === 'terminated') return;
    await this.runner.conference(this.confId, '<terminateImSession/>');
  }

  /**
   * A message from another participant, the invitation's first (flagged `fromInvitation`)
   * included. Messages that arrived before any listener was added (the invitation's, when
   * the listener is added after an `await` in onIncomingSession) go to the first listener
   * added, in order, right after this call returns.
   */
  onMessage(fn: (m: ImMessage) => void): Unsubscribe {
    const off = this.messageListeners.add(fn);
    if (this.unheard.length > 0) queueMicrotask(() => this.flushUnheard());
    return off;
  }

  onParticipantAdded(fn: (p: Participant) => void): Unsubscribe {
    return this.addedListeners.add(fn);
  }

  onParticipantRemoved(fn: (uri: string) => void): Unsubscribe {
    return this.removedListeners.add(fn);
  }

  onStateChanged(fn: (s: ImSessionState) => void): Unsubscribe {
    return this.stateListeners.add(fn);
  }

  onComposing(fn: (c: { uri?: string; composing: boolean }) => void): Unsubscribe {
    return this.composingListeners.add(fn);
  }

  /** @internal One `conference` event body of this conversation. */
  handle(body: XmlElement): void {
    switch (body.name) {
      case 'imSessionState': {
        const state = body.text.trim() as ImSessionState;
        if (state === this.state) return;
        this.state = state;
        if (state === 'connected') this.connectedDeferred.resolve();
        if (state === 'terminated') {
          this.connectedDeferred.reject(this.failure ?? new RequestFailedError('the conversation ended'));
          for (const [, d] of this.sends) d.reject(new RequestFailedError('the conversation ended'));
          this.sends.clear();
          for (const [, i] of this.invites) i.done.reject(new RequestFailedError('the conversation ended'));
          this.invites.clear();
        }
        this.stateListeners.emit(state);
        return;
      }
      case 'messageReceived': {
        this.deliver(messageOf(childOf(body, 'message'), body.attrs.sender ?? '')!);
        return;
      }
      case 'messageIdReceived': {
        const d = this.sends.get(body.attrs.rid ?? '');
        if (d) {
          this.sends.delete(body.attrs.rid!);
          d.resolve(body.attrs.messageId ?? '');
        }
        return;
      }
      case 'messageSendFailed': {
        const d = this.sends.get(body.attrs.rid ?? '');
        if (d) {
          this.sends.delete(body.attrs.rid!);
          d.reject(CwaRequestError.fromError(childOf(body, 'error'), 'the message could not be sent'));
        }
        return;
      }
      case 'participant': {
        const p: Participant = { uri: body.attrs.uri ?? '', name: body.attrs.name, role: body.attrs.role };
        const known = this.participants.has(p.uri);
        this.participants.set(p.uri, p); // a known participant's event is an update (e.g. a new role)
        for (const [rid, i] of this.invites) {
          if (i.uri.toLowerCase() === p.uri.toLowerCase()) {
            this.invites.delete(rid);
            i.done.resolve(p);
          }
        }
        if (!known) this.addedListeners.emit(p);
        return;
      }
      case 'escalationMode':
        this.escalationMode = body.text.trim();
        return;
      case 'role':
        this.role = body.text.trim();
        return;
      case 'confUri':
        this.confUri = body.text.trim();
        return;
      case 'participantRemoved': {
        const uri = body.text.trim();
        this.participants.delete(uri);
        this.removedListeners.emit(uri);
        return;
      }
      case 'composingState':
        this.composingListeners.emit({ uri: body.attrs.uri, composing: body.text.trim().toLowerCase() === 'composing' });
        return;
    }
  }

  /** Hands a message to the listeners, or keeps it until there is one. */
  private deliver(m: ImMessage): void {
    this.flushUnheard();
    if (this.messageListeners.size > 0) {
      this.messageListeners.emit(m);
      return;
    }
    if (this.unheard.length >= MAX_UNHEARD_MESSAGES) {
      console.warn(`cwa-client: conversation ${this.confId} has no onMessage listener; dropping its oldest unheard message`);
      this.unheard.shift();
    }
    this.unheard.push(m);
  }

  private flushUnheard(): void {
    if (this.messageListeners.size === 0 || this.unheard.length === 0) return;
    for (const m of this.unheard.splice(0)) this.messageListeners.emit(m);
  }

  /** @internal A requestFailed event: the failure (with its SIP reason) of this session's invitation or of an addParticipant. */
  requestFailed(rid: string, error: CwaRequestError): void {
    if (rid === this.inviteRid) this.failure = error instanceof SipError ? error.about(this.peer.uri) : error;
    const invite = this.invites.get(rid);
    if (invite) {
      this.invites.delete(rid);
      invite.done.reject(error instanceof SipError ? error.about(invite.uri) : error);
    }
  }
}

/** The UCC API's session manager: starts conversations and announces incoming ones. */
export class SessionManager {
  private readonly incomingListeners = new Listeners<[ImSession]>();
  private readonly sessions = new Map<number, ImSession>();
  private readonly starting = new Map<string, { uri: string; subject?: string; done: Deferred<ImSession> }>();

  constructor(private readonly runner: ConferenceRunner) {}

  /** An invitation arrived: the session is `incoming`; `accept()` or `terminate()` it (sending a message accepts too). */
  onIncomingSession(fn: (session: ImSession) => void): Unsubscribe {
    return this.incomingListeners.add(fn);
  }

  /** The conversations this endpoint takes part in (ended ones are dropped). */
  all(): ImSession[] {
    return [...this.sessions.values()];
  }

  get(confId: number): ImSession | undefined {
    return this.sessions.get(confId);
  }

  /**
   * Invites `uri` to a new IM conversation with a first message. Resolves with the
   * session once the gateway accepted the request (state `connecting`); await
   * `session.connected()` for the answer.
   */
  async startImSession(uri: string, message: string, options: { subject?: string; format?: string } = {}): Promise<ImSession> {
    const rid = this.runner.nextRid();
    const done = deferred<ImSession>();
    this.starting.set(rid, { uri, subject: options.subject, done });
    const inner =
      `<initiateImSession><uris><uri>${escapeXmlText(uri)}</uri></uris>` +
      (options.subject !== undefined ? `<subject>${escapeXmlText(options.subject)}</subject>` : '') +
      `<message>${renderMessageBody(message, options.format)}</message></initiateImSession>`;
    try {
      const answer = await this.runner.conference(0, inner, rid);
      // The answer and the initiateImSessionAccepted event both carry the confId; whichever comes first creates the session.
      this.started(rid, Number(answer.attrs.confId));
    } catch (err) {
      this.starting.delete(rid);
      throw err;
    }
    return done.promise;
  }

  /** @internal Routes one event of the session. */
  handleEvent(ev: XmlElement): void {
    if (ev.name === 'requestFailed') {
      // An invitation that failed reports the SIP reason against its rid.
      const rid = ev.attrs.rid ?? '';
      const error = CwaRequestError.fromError(childOf(ev, 'error'), 'the invitation failed');
      for (const s of this.sessions.values()) s.requestFailed(rid, error);
      return;
    }
    if (ev.name !== 'conference') return;
    const confId = Number(ev.attrs.confId);
    const body = ev.children[0];
    if (!body) return;
    if (body.name === 'initiateImSessionAccepted') {
      this.started(body.attrs.rid ?? '', confId);
      return;
    }
    if (body.name === 'imSessionReceived') {
      const inviter = childOf(body, 'inviter');
      const peer: Participant = { uri: inviter?.attrs.uri ?? '', name: inviter?.attrs.name };
      const session = new ImSession(this.runner, confId, 'incoming', peer, childOf(body, 'subject')?.text, messageOf(childOf(body, 'message'), peer.uri));
      this.sessions.set(confId, session);
      this.incomingListeners.emit(session);
      return;
    }
    const session = this.sessions.get(confId);
    if (!session) return;
    session.handle(body);
    if (session.state === 'terminated') this.sessions.delete(confId);
  }

  /** @internal The session ended: every conversation is over. */
  endAll(): void {
    for (const s of this.sessions.values()) s.handle({ name: 'imSessionState', attrs: {}, children: [], text: 'terminated' });
    this.sessions.clear();
    for (const [, s] of this.starting) s.done.reject(new RequestFailedError('the session ended'));
    this.starting.clear();
  }

  private started(rid: string, confId: number): void {
    const pending = this.starting.get(rid);
    if (!pending || !(confId > 0)) return;
    this.starting.delete(rid);
    const session = new ImSession(this.runner, confId, 'outgoing', { uri: pending.uri }, pending.subject, undefined, rid);
    this.sessions.set(confId, session);
    pending.done.resolve(session);
  }
}
