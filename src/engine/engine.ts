// The session engine: sign-in, sessions, and the domain modules (IM conversations …)
// that act in them. It knows nothing of HTTP, WebSocket or XML: it takes typed requests
// and answers with typed responses, and queues typed events through the EventSink.
// Commands run one at a time (a mutex), so every participant of a conversation sees
// its events in one order.
import { refill } from './state-io.js';
import { Serial } from './serial.js';
import { MemoryUserDataStore } from '../store/memory.js';
import type { Clock } from './clock.js';
import { cryptoRandom, type RandomSource } from './random.js';
import { AccessControl } from './containers.js';
import { Level } from './presence-model.js';
import { ContactService } from './contacts.js';
import { Networks } from './identity.js';
import { ImService } from './im.js';
import { PresenceService } from './presence.js';
import { SearchService } from './search.js';
import { routeRequests, type EngineCore, type EngineModule, type RequestKind, type Routes } from './module.js';
import type { Backlog, Delivery, Directory, DirectoryUser, EventSink, UserDataStore } from './ports.js';
import { Session } from './session.js';
import { TicketService, type TicketCheck } from './tickets.js';
import { USER_DATA_DEFAULTS, type EngineConfig } from './config.js';
import type { CwaEvent, CwaRequest, ResponseItem, SessionEndReason } from './types.js';

export { DEFAULT_CONFIGURATION, USER_DATA_DEFAULTS, type EngineConfig, type UserDataConfig } from './config.js';

/** What a sign-out everywhere ended. */
export interface SignOutResult {
  tickets: number;
  sessions: number;
}

/** The batch-scoped context of a command: who sent it and which session it acts in. */
export interface CommandContext {
  login: string;
  /** The session the batch names (`sid`), if any; set by initiateSession for the rest of the batch. */
  session?: Session;
}

/** The requests the engine handles itself: a session's start and end, and what no module carries out. */
const NO_SIDS: readonly number[] = [];

function pastMark(backlog: Backlog | undefined, mark: { events: number; bytes: number }): boolean {
  return !!backlog && (backlog.events > mark.events || backlog.bytes > mark.bytes);
}

const SESSION_REQUESTS = { name: 'engine', requests: ['initiateSession', 'terminateSession', 'unsupported'] } as const satisfies { name: string; requests: readonly RequestKind[] };

export interface EngineState {
  sessions: Map<number, Session>;
  byLogin: Map<string, Set<Session>>;
  endedLogs: Map<number, number>;
  nextSid: number;
  tickets: ReturnType<TicketService['exportState']>;
  im: ReturnType<ImService['exportState']>;
  presence: ReturnType<PresenceService['exportState']>;
}

export class Engine implements EngineCore {
  readonly tickets: TicketService;
  readonly im: ImService;
  readonly contacts: ContactService;
  readonly acl: AccessControl;
  readonly presence: PresenceService;
  readonly search: SearchService;
  private readonly modules: EngineModule[];
  /** Each request kind's module, from the modules' declarations. */
  private readonly routes: Routes;
  private readonly sessions = new Map<number, Session>();
  private readonly byLogin = new Map<string, Set<Session>>();
  private readonly endedLogs = new Map<number, number>(); // sid -> when to remove its log
  private nextSid = 1;
  private readonly queue = new Serial();
  /** Told when a session ends, whatever the reason, and when its log is removed (what was kept about it can go). */
  sessionEnded?: (sid: number) => void;
  sessionRemoved?: (sid: number) => void;

  constructor(
    readonly directory: Directory,
    private readonly sink: EventSink,
    readonly clock: Clock,
    readonly config: EngineConfig,
    readonly store: UserDataStore = new MemoryUserDataStore(),
    readonly random: RandomSource = cryptoRandom,
  ) {
    this.tickets = new TicketService(clock, config.ticketTtlS * 1000);
    this.im = new ImService(this);
    const limits = { ...USER_DATA_DEFAULTS, ...config.userData };
    const networks = new Networks(directory);
    this.acl = new AccessControl(this, store, networks, limits);
    this.contacts = new ContactService(this, store, limits);
    this.presence = new PresenceService(this, store, this.contacts, this.acl, networks, {
      machineIdleS: limits.machineIdleS,
      machineAwayS: limits.machineAwayS,
      enableAppearOffline: config.configuration.enableAppearOffline,
    });
    this.contacts.listener = this.presence;
    this.acl.listener = this.presence;
    this.search = new SearchService(this, { maxResults: limits.searchMaxResults, defaultFunction: config.configuration.searchDefaultFunction });
    // Hooks run in this order (a session's initial burst: IM has none, then presence's).
    this.modules = [this.im, this.presence, this.contacts, this.acl, this.search];
    this.routes = routeRequests(this.modules, SESSION_REQUESTS);
  }

  /** The engine's state (a cluster node's snapshot); `importState` takes it back. */
  exportState(): EngineState {
    return {
      sessions: this.sessions,
      byLogin: this.byLogin,
      endedLogs: this.endedLogs,
      nextSid: this.nextSid,
      tickets: this.tickets.exportState(),
      im: this.im.exportState(),
      presence: this.presence.exportState(),
    };
  }

  importState(state: EngineState): void {
    refill(this.sessions, state.sessions);
    refill(this.byLogin, state.byLogin);
    refill(this.endedLogs, state.endedLogs);
    this.nextSid = state.nextSid;
    this.tickets.importState(state.tickets);
    this.im.importState(state.im);
    this.presence.importState(state.presence);
  }

  /** The door a session was opened through ('cwa' for an unknown sid). */
  dialectOf(sid: number): 'cwa' | 'ucwa' {
    return this.sessions.get(sid)?.dialect ?? 'cwa';
  }

  sessionsOf(login: string): Session[] {
    return [...(this.byLogin.get(login) ?? [])].filter((s) => !s.ended);
  }

  backlogged(sid: number): boolean | Promise<boolean> {
    const mark = this.config.messageHighWater;
    if (!mark || !this.sink.backlog) return false;
    const backlog = this.sink.backlog(sid);
    return backlog instanceof Promise ? backlog.then((b) => pastMark(b, mark)) : pastMark(backlog, mark);
  }

  async blocks(ownerUri: string, otherUri: string): Promise<boolean> {
    return (await this.acl.standing(ownerUri, otherUri)).level === Level.blocked;
  }

  /** Runs `fn` after every command queued before it. */
  exclusive<T>(fn: () => T | Promise<T>): Promise<T> {
    return this.queue.run(fn);
  }

  /**
   * Like `exclusive`, but runs `fn` at once when no command is running or queued, and
   * gives its value without a promise when it completes synchronously (a single gateway's
   * batches, most of the time).
   */
  exclusiveNow<T>(fn: () => T | Promise<T>): T | Promise<T> {
    return this.queue.now(fn);
  }

  // ---- sign-in --------------------------------------------------------------

  /** The directory user for a user name and password; undefined when they do not match. */
  async authenticate(user: string | undefined, password: string | undefined): Promise<DirectoryUser | undefined> {
    if (!user || password === undefined) return undefined;
    return (await this.directory.authenticate(user, password)) ?? undefined;
  }

  checkTicket(ticket: string | undefined): TicketCheck | undefined {
    return this.tickets.check(ticket);
  }

  /** Signs `login` out everywhere: every ticket revoked, every session ended (its peers see it leave). */
  signOut(login: string): Promise<SignOutResult> {
    return this.exclusive(async () => {
      const tickets = this.tickets.revokeAll(login);
      const sessions = this.sessionsOf(login);
      for (const s of sessions) await this.endSession(s, 'terminated');
      return { tickets, sessions: sessions.length };
    });
  }

  userOf(login: string): DirectoryUser | undefined {
    return this.directory.findByLogonName(login);
  }

  // ---- sessions ---------------------------------------------------------------

  /** The live session `sid` if it belongs to `login`; undefined otherwise (unknown and foreign look alike). */
  sessionFor(login: string, sid: number): Session | undefined {
    const s = this.sessions.get(sid);
    return s && !s.ended && s.user.login === login ? s : undefined;
  }

  /** The only live session of `login`, for batches that omit `sid`. */
  soleSessionOf(login: string): Session | undefined {
    const set = this.byLogin.get(login);
    const cwa = set ? [...set].filter((s) => s.dialect !== 'ucwa') : [];
    return cwa.length === 1 ? cwa[0] : undefined;
  }

  /** A session whose log is still readable after the gateway ended it. */
  isEndedLogReadable(sid: number): boolean {
    return this.endedLogs.has(sid);
  }

  ownsEndedLog(login: string, sid: number): boolean {
    const s = this.sessions.get(sid);
    return !!s && s.ended && s.user.login === login && this.endedLogs.has(sid);
  }

  touch(session: Session, userActive?: boolean): void {
    session.lastActivity = this.clock.now();
    if (userActive !== undefined) session.userActive = userActive;
    if (userActive) session.userActiveAt = session.lastActivity;
    // UA=true publishes machine state "active" for sessions that asked for it.
    if (userActive && !session.ended && this.presence.noteActivity(session)) {
      void this.exclusive(() => (session.ended ? Promise.resolve() : this.presence.refresh(session))).catch(() => undefined);
    }
  }

  secondsLeft(session: Session): number {
    const left = session.lastActivity + this.config.sessionTimeoutS * 1000 - this.clock.now();
    return Math.max(0, Math.ceil(left / 1000));
  }

  liveSessions(): number {
    return this.byLogin.size === 0 ? 0 : [...this.byLogin.values()].reduce((n, s) => n + s.size, 0);
  }

  // ---- commands ---------------------------------------------------------------

  /** Executes one decoded request of a batch, at once when its module can. Must run inside `exclusive`. */
  execute(ctx: CommandContext, req: CwaRequest): ResponseItem | Promise<ResponseItem> {
    if (req.kind === 'initiateSession') return this.initiateSession(ctx, req);
    const session = ctx.session;
    const rid = req.rid ?? '';
    if (!session || session.ended) {
      return { type: 'requestFailed', rid, error: { refused: 'noSession' } };
    }
    this.touch(session);
    if (req.kind === 'terminateSession') return this.endSession(session, 'terminated').then(() => ({ type: 'requestAccepted', rid }));
    if (req.kind === 'unsupported') return { type: 'requestFailed', rid, error: { refused: 'notSupported', name: req.name } };
    // Every other kind goes to the module that declared it (routeRequests checked there is exactly one).
    return this.routes.get(req.kind)!.handle!(session, req as never);
  }

  /** The names of what handles a request kind: 'engine' or the modules declaring it (exactly one, or the engine would not start). */
  handlersOf(kind: RequestKind): string[] {
    const declared: Array<{ name: string; requests?: readonly RequestKind[] }> = [SESSION_REQUESTS, ...this.modules];
    return declared.filter((m) => m.requests?.includes(kind)).map((m) => m.name);
  }

  private async initiateSession(ctx: CommandContext, req: Extract<CwaRequest, { kind: 'initiateSession' }>): Promise<ResponseItem> {
    const user = this.directory.findByLogonName(ctx.login);
    if (!user) return { type: 'requestFailed', rid: req.rid, error: { refused: 'userGone' } };
    const max = this.config.maxSessionsPerUser;
    if (this.sessionsOf(user.login).length >= max) return { type: 'requestFailed', rid: req.rid, error: { refused: 'tooManySessions', max } };
    const sid = this.nextSid++;
    const session = new Session(sid, user, req.options, req.userStateAvailability, this.clock.now());
    if (req.dialect === 'ucwa') {
      session.dialect = 'ucwa';
      session.ringable = false;
    }
    this.sessions.set(sid, session);
    let set = this.byLogin.get(user.login);
    if (!set) this.byLogin.set(user.login, (set = new Set()));
    set.add(session);
    ctx.session = session;
    await this.sink.openSession(sid);
    // configuration first; then each module's burst (presence: selfPresence, contactGroup, …).
    const out: Delivery[] = [{ sid, event: { kind: 'configuration', data: this.config.configuration } }];
    for (const m of this.modules) await m.onSessionStart?.(session, out);
    await this.deliver(out);
    return { type: 'requestAccepted', rid: req.rid, session: { sid, uri: user.uri, pollWaitTime: this.config.pollWaitMs } };
  }

  /** Ends a session: its conversations end (peers are told), and its log is removed or closed. */
  async endSession(session: Session, reason: SessionEndReason): Promise<void> {
    if (session.ended) return;
    session.ended = true;
    this.sessionEnded?.(session.sid);
    const out: Delivery[] = [];
    for (const m of this.modules) await m.onSessionEnd?.(session, out);
    this.byLogin.get(session.user.login)?.delete(session);
    if (this.byLogin.get(session.user.login)?.size === 0) this.byLogin.delete(session.user.login);
    await this.deliver(out.filter((d) => d.sid !== session.sid));
    if (reason === 'terminated') {
      this.sessions.delete(session.sid);
      this.sessionRemoved?.(session.sid);
      await this.sink.removeSession(session.sid);
    } else {
      // Keep the log readable a little while so the client learns why, from the log itself.
      await this.sink.closeSession(session.sid, { kind: 'sessionTerminated', reason });
      this.endedLogs.set(session.sid, this.clock.now() + this.config.endedSessionGraceS * 1000);
    }
  }

  /**
   * Queues events; sessions whose log overflowed are ended. At once (no promise) when the
   * sink is (the gateway's logs are in memory) and no session has to end.
   */
  deliver(out: Delivery[]): void | Promise<void> {
    if (out.length === 0) return;
    // Confirmations go last, once what they confirm is queued or known to be lost.
    let plain = out;
    let withConfirmation = false;
    for (const d of out) if (d.unlessOverflowed) withConfirmation = true;
    if (withConfirmation) plain = out.filter((d) => !d.unlessOverflowed);
    const first = plain.length > 0 ? this.sink.deliver(plain) : NO_SIDS;
    if (first instanceof Promise) return first.then((sids) => this.confirm(out, withConfirmation, new Set(sids)));
    return this.confirm(out, withConfirmation, first.length === 0 ? undefined : new Set(first));
  }

  /** The confirmations of a delivery, then the end of the sessions whose logs overflowed. */
  private confirm(out: Delivery[], withConfirmation: boolean, overflowed: Set<number> | undefined): void | Promise<void> {
    if (!withConfirmation) return overflowed && this.endOverflowed(overflowed);
    const confirmations: Delivery[] = [];
    for (const { sid, event, unlessOverflowed: c } of out) {
      if (c) confirmations.push({ sid, event: overflowed && c.sids.some((s) => overflowed.has(s)) ? c.instead : event });
    }
    const more = this.sink.deliver(confirmations);
    const end = (sids: readonly number[]): void | Promise<void> => {
      if (sids.length === 0) return overflowed && this.endOverflowed(overflowed);
      const all = overflowed ?? new Set<number>();
      for (const sid of sids) all.add(sid);
      return this.endOverflowed(all);
    };
    return more instanceof Promise ? more.then(end) : end(more);
  }

  private async endOverflowed(overflowed: Set<number>): Promise<void> {
    for (const sid of overflowed) {
      const s = this.sessions.get(sid);
      if (s && !s.ended) await this.endSession(s, 'eventLogOverflow');
    }
  }

  /** Ends a command batch: modules finish what the batch started. Must run inside `exclusive`. */
  endBatch(): void | Promise<void> {
    for (let i = 0; i < this.modules.length; i++) {
      const m = this.modules[i]!;
      if (!m.afterBatch) continue;
      const out: Delivery[] = [];
      const after = m.afterBatch(out);
      // Nothing to wait for, nearly always: the rest goes on at once.
      if (after instanceof Promise) return after.then(() => this.deliver(out)).then(() => this.endBatchFrom(i + 1));
      const delivered = this.deliver(out);
      if (delivered) return delivered.then(() => this.endBatchFrom(i + 1));
    }
  }

  private async endBatchFrom(next: number): Promise<void> {
    for (const m of this.modules.slice(next)) {
      const out: Delivery[] = [];
      await m.afterBatch?.(out);
      await this.deliver(out);
    }
  }

  // ---- timers -------------------------------------------------------------------

  /** Expires idle sessions, unanswered invitations, old tickets and ended logs. Call about once a second. */
  async tick(): Promise<void> {
    await this.exclusive(async () => {
      const now = this.clock.now();
      const idleMs = this.config.sessionTimeoutS * 1000;
      for (const s of [...this.sessions.values()]) {
        if (!s.ended && now - s.lastActivity >= idleMs) await this.endSession(s, 'timeout');
      }
      for (const m of this.modules) {
        const out: Delivery[] = [];
        await m.tick?.(now, out);
        await this.deliver(out);
      }
      for (const [sid, until] of [...this.endedLogs]) {
        if (now >= until) {
          this.endedLogs.delete(sid);
          this.sessions.delete(sid);
          this.sessionRemoved?.(sid);
          await this.sink.removeSession(sid);
        }
      }
      this.tickets.sweep();
    });
  }

  /** Ends every session (graceful shutdown). */
  async shutdown(): Promise<void> {
    await this.exclusive(async () => {
      for (const s of [...this.sessions.values()]) await this.endSession(s, 'shutdown');
    });
  }
}

export type { CwaEvent };
