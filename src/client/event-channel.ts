// The client's side of the delivery contract: one cursor (the last eid processed),
// fed by a WebSocket when one can be had and by long-polls otherwise, switching
// between them at any time. Every event is handed to the application exactly once and
// in order: whatever the door, an event whose eid is at or below the cursor is a
// redelivery and is skipped, and the cursor only ever moves by one. What the
// application has processed is acknowledged (ack frames, or the next poll's AckId);
// everything else the gateway keeps and sends again on the next attach or poll.
//
// User activity (the person at the keyboard, told by reportActivity) goes to the gateway as the
// protocol's UA=true: on the next attach or poll, or at once on an open socket (an ack frame
// with ua="true"; a held poll is left for a new one that says it). Activity that goes on is
// reported once per `activityReportMs`; activity after a quiet spell (half that interval) is
// reported at once, so a person coming back from idle is seen back at once. The gateway keeps
// the machine state active, so the person does not turn Away while using the page.
import { Listeners } from './emitter.js';
import { CwaRequestError, NetworkError, RequestFailedError } from './errors.js';
import { asksToComeBack, backoffDelay, COMMAND_PATH, DATA_PATH, type BackoffPolicy, type HttpChannel, type Inspector, type TicketHolder } from './http.js';
import { OPEN, type WebSocketLike, type WebSocketSupport } from './websocket.js';
import { childOf, parseXml, type XmlElement } from './xml.js';

export type TransportName = 'websocket' | 'polling';
/** `auto`: WebSocket, falling back to polling (and back); the others use one door only. */
export type TransportPreference = 'auto' | TransportName;

export type EndReason =
  /** The session ended (signed out, timed out, overflowed: see the sessionTerminated event). */
  | 'sessionEnded'
  /** The ticket is no longer valid. */
  | 'notAuthenticated'
  /** The gateway has dropped events this client had not processed (its cursor is older than the log). */
  | 'cursorLost'
  /** The gateway could not be reached for longer than `offlineLimitMs`. */
  | 'unreachable'
  /** stop() was called. */
  | 'stopped';

export interface ChannelOptions {
  preference: TransportPreference;
  /** In `auto`, how long to poll after a WebSocket failed before trying one again. */
  wsRetryMs: number;
  /** A socket that closes sooner than this after opening counts as a failed attempt. */
  wsHealthyMs: number;
  /** Delay before acknowledging processed events on a socket (acks of close frames coalesce). */
  ackDelayMs: number;
  /** Give up after this long without reaching the gateway. */
  offlineLimitMs: number;
  /** Activity that goes on is reported once per this interval (ms); after a quiet spell of half of it, at once. */
  activityReportMs: number;
  /** The waits between attempts while the gateway cannot be reached. */
  backoff: BackoffPolicy;
}

type SocketOutcome = 'refused' | 'dropped' | 'quickDrop' | 'switch' | 'stopped' | EndReason;

interface PendingCommand {
  text: string;
  resolve: (body: string) => void;
  reject: (err: unknown) => void;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export class EventChannel {
  /** The eid of the last event handed to the application. */
  cursor = 0;
  readonly onEvent = new Listeners<[XmlElement]>();
  readonly onTransport = new Listeners<[TransportName]>();
  /** The end; `afterOutage`: the gateway had gone away (unreachable, or closing connections as a shutdown does) just before. */
  readonly onEnd = new Listeners<[EndReason, Error | undefined, boolean]>();
  /** The gateway went away (see `outage`): the channel keeps trying, with backoff. */
  readonly onOutage = new Listeners<[]>();
  /** The gateway answered again after an outage and still knows the session: events go on from the cursor. */
  readonly onResume = new Listeners<[{ outageMs: number }]>();
  private outageSince = 0;
  /**
   * Set when the gateway could not be reached or dropped the connection as a shutdown does
   * (poll network error or 5xx, WebSocket 1001/1006/1011, upgrade not answered); cleared by
   * the next answer with events. A session refused right after one was lost to a restart,
   * not ended on purpose (a revocation closes a healthy connection).
   */
  private outage = false;
  private running = false;
  private current: TransportName | undefined;
  private socket: WebSocketLike | undefined;
  /** Command batches sent on the socket, answered in order by cwaResponses frames. */
  private pending: PendingCommand[] = [];
  private wsFailedAt = Number.NEGATIVE_INFINITY;
  private acked = 0;
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  /** Aborted to leave the current phase (stop, preference change, time to retry a WebSocket). */
  private phase = new AbortController();
  private loop: Promise<void> | undefined;
  /** Aborted to leave the held poll (or the pause between polls) for one that reports user activity. */
  private pollNudge: AbortController | undefined;
  /** User activity not yet told to the gateway: the next attach or poll says UA=true. */
  private uaPending = false;
  private lastActivityReport = Number.NEGATIVE_INFINITY;
  private lastActivity = Number.NEGATIVE_INFINITY;
  private activityTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly sid: number,
    private readonly http: HttpChannel,
    private readonly tickets: TicketHolder,
    private readonly ws: WebSocketSupport | undefined,
    private options: ChannelOptions,
    private readonly inspect?: Inspector,
  ) {}

  get transport(): TransportName | undefined {
    return this.current;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /**
   * The user is active: tells the gateway (UA=true) now when it was last told an interval
   * (`activityReportMs`) ago or the user had been quiet for half of one; else at the end of
   * the interval.
   */
  noteActivity(): void {
    if (!this.running) return;
    const now = Date.now();
    const every = this.options.activityReportMs;
    const quiet = now - this.lastActivity >= every / 2;
    this.lastActivity = now;
    const wait = this.lastActivityReport + every - now;
    if (wait <= 0 || quiet) {
      if (this.activityTimer) clearTimeout(this.activityTimer);
      this.activityTimer = undefined;
      return this.reportActivity();
    }
    if (this.activityTimer) return;
    this.activityTimer = setTimeout(() => {
      this.activityTimer = undefined;
      if (this.running) this.reportActivity();
    }, wait);
  }

  private reportActivity(): void {
    this.lastActivityReport = Date.now();
    const socket = this.socket;
    if (socket && socket.readyState === OPEN) {
      // An ack of what is processed anyway, saying the user is active.
      if (this.ackTimer) clearTimeout(this.ackTimer);
      this.ackTimer = undefined;
      this.acked = this.cursor;
      const frame = `<ack ackId="${this.cursor}" ua="true"/>`;
      this.inspect?.('sent', 'websocket', frame);
      socket.send(frame);
      return;
    }
    this.uaPending = true;
    this.pollNudge?.abort();
  }

  /** `&UA=true` when user activity waits to be reported (it then counts as reported). */
  private uaParam(): string {
    if (!this.uaPending) return '';
    this.uaPending = false;
    return '&UA=true';
  }

  /** Stops listening (the session itself is untouched). */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.activityTimer) clearTimeout(this.activityTimer);
    this.activityTimer = undefined;
    this.phase.abort();
    this.socket?.close(1000);
    await this.loop;
  }

  /** Changes the preferred door; the switch happens at once. */
  prefer(preference: TransportPreference): void {
    this.options = { ...this.options, preference };
    if (preference !== 'polling') this.wsFailedAt = Number.NEGATIVE_INFINITY;
    this.phase.abort();
  }

  /** Sends a cwaRequests batch on the socket when one is open, else as a POST; resolves with the cwaResponses text. */
  command(text: string): Promise<string> {
    const socket = this.socket;
    if (socket && socket.readyState === OPEN) {
      return new Promise((resolve, reject) => {
        this.pending.push({ text, resolve, reject });
        this.inspect?.('sent', 'websocket', text);
        socket.send(text);
      });
    }
    return this.postCommand(text);
  }

  /**
   * A POST of the batch. Sent again, byte-identical (the gateway answers a duplicate from its
   * cache, so it runs at most once), when the gateway cannot be reached (for up to
   * `offlineLimitMs`, then NetworkError) and when it asks to come back later
   * (429/503 with Retry-After, within the retry policy, then ThrottledError).
   */
  async postCommand(text: string): Promise<string> {
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      try {
        const answer = await this.http.postRetrying(COMMAND_PATH, text);
        if (answer.status === 200 || answer.status === 400) return answer.text;
        throw CwaRequestError.fromError(childOf(answer.root, 'error'), `HTTP ${answer.status}`, answer.status);
      } catch (err) {
        if (!(err instanceof NetworkError) || Date.now() - started > this.options.offlineLimitMs) throw err;
        await sleep(backoffDelay(this.options.backoff, attempt));
      }
    }
  }

  // ---- the loop -----------------------------------------------------------------

  private wantWebSocket(): boolean {
    if (!this.ws) return false;
    const p = this.options.preference;
    return p === 'websocket' || (p === 'auto' && Date.now() - this.wsFailedAt >= this.options.wsRetryMs);
  }

  private async run(): Promise<void> {
    let wsFailures = 0;
    try {
      while (this.running) {
        if (this.phase.signal.aborted) this.phase = new AbortController();
        if (this.wantWebSocket()) {
          const outcome = await this.socketPhase(this.phase.signal);
          if (this.isEnd(outcome)) return this.end(outcome);
          if (outcome === 'refused' || outcome === 'quickDrop') {
            wsFailures += 1;
            this.wsFailedAt = Date.now();
            // WebSocket only: back off instead of polling.
            if (this.options.preference === 'websocket') await sleep(backoffDelay(this.options.backoff, wsFailures), this.phase.signal);
          } else if (outcome === 'dropped') {
            wsFailures = 0; // a healthy socket was lost: try again at once
          }
          continue;
        }
        const outcome = await this.pollPhase(this.phase.signal);
        if (outcome) return this.end(outcome);
      }
      this.end('stopped');
    } catch (err) {
      this.end('unreachable', err instanceof Error ? err : new Error(String(err)));
    }
  }

  private isEnd(o: SocketOutcome): o is EndReason {
    return o === 'sessionEnded' || o === 'notAuthenticated' || o === 'cursorLost' || o === 'unreachable' || o === 'stopped';
  }

  private end(reason: EndReason, error?: Error): void {
    const wasRunning = this.running || reason === 'stopped';
    this.running = false;
    if (this.activityTimer) clearTimeout(this.activityTimer);
    this.activityTimer = undefined;
    this.current = undefined;
    for (const p of this.pending.splice(0)) p.reject(new RequestFailedError(`the event channel ended (${reason})`));
    if (wasRunning) this.onEnd.emit(reason, error, this.outage);
  }

  private markOutage(): void {
    if (this.outage || !this.running) return;
    this.outage = true;
    this.outageSince = Date.now();
    this.onOutage.emit();
  }

  private markHealthy(): void {
    if (!this.outage) return;
    this.outage = false;
    if (this.running) this.onResume.emit({ outageMs: Date.now() - this.outageSince });
  }

  private setTransport(t: TransportName): void {
    if (this.current === t) return;
    this.current = t;
    this.onTransport.emit(t);
  }

  // ---- WebSocket ----------------------------------------------------------------

  private socketPhase(signal: AbortSignal): Promise<SocketOutcome> {
    const ws = this.ws!;
    const base = this.http.baseUrl.replace(/^http/i, 'ws');
    const ticket = this.tickets.ticket ?? '';
    const query = `Sid=${this.sid}&AckId=${this.cursor}${this.uaParam()}${ws.canSetHeaders ? '' : `&ticket=${encodeURIComponent(ticket)}`}`;
    const socket = ws.create(`${base}${DATA_PATH}?${query}`, ws.canSetHeaders ? { 'CWA-Ticket': ticket } : {});
    this.acked = this.cursor;
    return new Promise<SocketOutcome>((resolve) => {
      let openedAt: number | undefined;
      /** The HTTP status of a refused upgrade, when the WebSocket implementation tells it (the `ws` package does). */
      let refusedWith: number | undefined;
      const onAbort = () => socket.close(1000);
      signal.addEventListener('abort', onAbort, { once: true });
      socket.onopen = () => {
        openedAt = Date.now();
        // The gateway accepted this sid and ticket: the session is alive.
        this.markHealthy();
        this.socket = socket;
        this.setTransport('websocket');
      };
      socket.onmessage = (ev) => {
        if (this.socket !== socket) return;
        const text = typeof ev.data === 'string' ? ev.data : String(ev.data);
        this.inspect?.('received', 'websocket', text);
        this.onFrame(socket, text);
      };
      socket.onerror = (ev) => {
        // A close event follows. The `ws` package says why an upgrade was refused; browsers do not.
        const e = ev as { message?: unknown; error?: { message?: unknown } } | undefined;
        const m = /Unexpected server response: (\d{3})/.exec(String(e?.message ?? e?.error?.message ?? ''));
        if (m) refusedWith = Number(m[1]);
      };
      socket.onclose = (ev) => {
        signal.removeEventListener('abort', onAbort);
        if (this.socket === socket) this.socket = undefined;
        if (this.ackTimer) clearTimeout(this.ackTimer);
        this.ackTimer = undefined;
        // Batches the socket did not answer go again as POSTs: the gateway runs each at most once.
        for (const p of this.pending.splice(0)) this.postCommand(p.text).then(p.resolve, p.reject);
        if (!this.running) return resolve('stopped');
        if (signal.aborted) return resolve('switch');
        if (openedAt === undefined) {
          if (refusedWith === 401) return resolve('notAuthenticated');
          if (refusedWith === 404) return resolve('sessionEnded');
          if (refusedWith === undefined || refusedWith >= 500) this.markOutage();
          return resolve('refused');
        }
        if (ev.code === 1001 || ev.code === 1006 || ev.code === 1011) this.markOutage();
        switch (ev.code) {
          case 4004:
            return resolve('sessionEnded');
          case 4003:
            return resolve('notAuthenticated');
          default:
            // 4001 superseded, 4002 too slow, 1001 going away, 1006 dropped …: resume from the cursor.
            return resolve(Date.now() - openedAt < this.options.wsHealthyMs ? 'quickDrop' : 'dropped');
        }
      };
    });
  }

  private onFrame(socket: WebSocketLike, text: string): void {
    let root: XmlElement;
    try {
      root = parseXml(text);
    } catch (err) {
      console.error('cwa-client: unreadable frame', err);
      return;
    }
    switch (root.name) {
      case 'cwaEvents':
        this.markHealthy();
        if (!this.take(root)) {
          socket.close(1000); // a gap: start again from the cursor
          return;
        }
        this.scheduleAck(socket);
        return;
      case 'cwaResponses':
        this.pending.shift()?.resolve(text);
        return;
      case 'ticket':
        if (root.text.trim()) this.tickets.ticket = root.text.trim();
        return;
    }
  }

  private scheduleAck(socket: WebSocketLike): void {
    if (this.cursor <= this.acked || this.ackTimer) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      if (socket.readyState !== OPEN || this.cursor <= this.acked) return;
      this.acked = this.cursor;
      const frame = `<ack ackId="${this.cursor}"/>`;
      this.inspect?.('sent', 'websocket', frame);
      socket.send(frame);
    }, this.options.ackDelayMs);
  }

  // ---- polling --------------------------------------------------------------------

  /** Polls until the phase is aborted, a WebSocket is due, or the channel ends (returns why). */
  private async pollPhase(signal: AbortSignal): Promise<EndReason | undefined> {
    this.setTransport('polling');
    let retry: ReturnType<typeof setTimeout> | undefined;
    if (this.ws && this.options.preference === 'auto') {
      // Time to try a WebSocket again: leave the held poll (its events stay unacknowledged).
      const due = Math.max(0, this.wsFailedAt + this.options.wsRetryMs - Date.now());
      retry = setTimeout(() => this.phase.abort(), due);
    }
    let failingSince: number | undefined;
    let failures = 0;
    // Aborted with the phase, or alone (reportActivity) to leave the held poll for one with UA=true.
    let nudge = new AbortController();
    const forward = () => nudge.abort();
    signal.addEventListener('abort', forward, { once: true });
    try {
      while (this.running && !signal.aborted) {
        const started = Date.now();
        if (nudge.signal.aborted) nudge = new AbortController();
        this.pollNudge = nudge;
        let answer;
        try {
          answer = await this.http.get(`${DATA_PATH}?Sid=${this.sid}&AckId=${this.cursor}${this.uaParam()}`, nudge.signal);
        } catch (err) {
          if (signal.aborted || !this.running) return undefined;
          if (nudge.signal.aborted) continue; // user activity to report: a new poll says it
          this.markOutage();
          failingSince ??= started;
          if (Date.now() - failingSince > this.options.offlineLimitMs) return 'unreachable';
          await sleep(backoffDelay(this.options.backoff, failures++), signal);
          continue;
        }
        if (!this.running) return undefined;
        if (asksToComeBack(answer)) {
          // Not served: come back when the gateway said (throttled, shutting down, store unavailable).
          if (answer.status === 503) this.markOutage();
          await sleep(answer.retryAfterMs ?? 1000, signal);
          continue;
        }
        switch (answer.status) {
          case 200:
            break;
          case 401:
            return 'notAuthenticated';
          case 404:
            return 'sessionEnded';
          case 409:
            return 'cursorLost';
          default:
            if (answer.status >= 500) this.markOutage();
            failingSince ??= started;
            if (Date.now() - failingSince > this.options.offlineLimitMs) return 'unreachable';
            await sleep(backoffDelay(this.options.backoff, failures++), signal);
            continue;
        }
        this.markHealthy();
        failingSince = undefined;
        failures = 0;
        const root = answer.root!;
        const hadEvents = root.children.length > 0;
        this.take(root);
        if (!hadEvents) {
          // Pace empty answers (a gateway that does not hold polls answers at once).
          const wait = Number(root.attrs.pollWaitTime ?? 0) - (Date.now() - started);
          if (wait > 0) await sleep(wait, nudge.signal);
        }
      }
      return undefined;
    } finally {
      signal.removeEventListener('abort', forward);
      this.pollNudge = undefined;
      if (retry) clearTimeout(retry);
    }
  }

  // ---- events ---------------------------------------------------------------------

  /**
   * Hands the events of one cwaEvents document to the application, skipping those at
   * or below the cursor. False when the document skips ahead of the cursor (it then
   * processes nothing past the gap, so the next attach or poll fills it).
   */
  private take(root: XmlElement): boolean {
    for (const ev of root.children) {
      const eid = Number(ev.attrs.eid);
      if (!(eid > this.cursor)) continue;
      if (eid !== this.cursor + 1) {
        console.error(`cwa-client: event ${eid} follows ${this.cursor}: fetching the gap again`);
        return false;
      }
      this.cursor = eid;
      this.onEvent.emit(ev);
    }
    // An empty answer whose ackId is past the cursor: the gateway's head is there and
    // nothing is left in between (another listener acknowledged it).
    const ackId = Number(root.attrs.ackId);
    if (root.children.length === 0 && ackId > this.cursor) {
      console.warn(`cwa-client: events ${this.cursor + 1}..${ackId} were acknowledged by another listener of this session`);
      this.cursor = ackId;
    }
    return true;
  }
}
