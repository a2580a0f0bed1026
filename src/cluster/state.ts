// What commands change: the engine (sessions, tickets, conversations, presence, user
// data), the event logs, and the responses of recent batches (the rid cache). `apply`
// is the one place a command takes effect, on a single gateway and on every node of a
// cluster alike.
import type { CommandContext, Engine, SignOutResult } from '../engine/engine.js';
import type { ResponseItem } from '../engine/types.js';
import type { EventLog } from '../delivery/event-log.js';
import type { CachedResponse, ProducedResponse, RidCache } from '../delivery/rid-cache.js';
import type { Session } from '../engine/session.js';
import type { Command, DoorName, TypedBatch } from './commands.js';
import type { UcwaRendering } from '../protocol/event-sink.js';
import { UcwaOperations, type UcwaResult } from '../protocol/ucwa/operations.js';
import { UcwaState } from '../protocol/ucwa/state.js';
import { UcwaTranslator } from '../protocol/ucwa/translate.js';

export type CommandResult = CachedResponse | SignOutResult | UcwaResult | undefined;

/** A batch's typed answer: one ResponseItem per request, in order, and the counts a door's envelope reports. */
export interface BatchAnswer {
  answers: ResponseItem[];
  /** Requests the engine executed. */
  processed: number;
  /** Requests no door knows (refused as unknownRequest). */
  unexpected: number;
}

/**
 * How a door turns a batch's typed answer into what it sends. What it returns is also what
 * the rid cache keeps for the batch, so a retry is answered byte-identically; every node
 * renders the same bytes from the same commands.
 */
export type BatchRenderer = (answer: BatchAnswer) => CachedResponse;

export class GatewayState {
  /** The UCWA applications (the door's state beside the engine sessions they are). */
  readonly ucwa: UcwaState;
  private readonly ucwaTranslator: UcwaTranslator;
  private readonly ucwaOps: UcwaOperations;

  constructor(
    readonly engine: Engine,
    /** The event logs as commands leave them (a cluster node's transports read them through a ReplicatedEventLog). */
    readonly log: EventLog,
    readonly ridCache: RidCache,
    /** Each door's renderer of batch answers, by the name batch commands carry. */
    private readonly doors: Readonly<Record<DoorName, BatchRenderer>>,
  ) {
    // Answers describing a session go with it; answers of a ticket's batches go with the ticket.
    this.ucwa = new UcwaState(() => engine.clock, () => engine.random);
    this.ucwaTranslator = new UcwaTranslator(this.ucwa, () => engine.config.inviteTimeoutS * 1000);
    this.ucwaOps = new UcwaOperations(engine, this.ucwa, this.ucwaTranslator, log);
    engine.sessionEnded = (sid) => {
      ridCache.sessionEnded(sid);
      this.ucwa.ended(sid, 'expired');
    };
    engine.sessionRemoved = (sid) => {
      ridCache.sessionRemoved(sid);
      this.ucwa.removed(sid);
    };
    engine.tickets.forgotten = (hash) => ridCache.dropScope(ticketScope(hash));
  }

  /** What the event sink needs to render the events of UCWA applications. */
  ucwaRendering(): UcwaRendering {
    return { dialectOf: (sid) => this.engine.dialectOf(sid), state: this.ucwa, translator: this.ucwaTranslator };
  }

  /**
   * Applies a command: at once, without a promise, when it completes synchronously (a batch
   * when no command is queued and every request is synchronous, a ticket's change, a touch,
   * acknowledgements); the rest (a sign-out, a tick, a UCWA operation) give a promise.
   */
  apply(cmd: Command): CommandResult | Promise<CommandResult> {
    const { engine } = this;
    switch (cmd.t) {
      case 'batch':
        return this.applyBatch(cmd);
      case 'logon':
        engine.tickets.adopt(cmd.ticketHash, cmd.login);
        return undefined;
      case 'rotate':
        engine.tickets.rotate(cmd.from, cmd.to);
        return undefined;
      case 'renew':
        engine.tickets.renew(cmd.hash);
        return undefined;
      case 'touch': {
        const touched = engine.exclusiveNow(() => {
          const session = engine.sessionFor(cmd.login, cmd.sid);
          if (session) engine.touch(session, cmd.ua);
        });
        return touched instanceof Promise ? touched.then(() => undefined) : undefined;
      }
      case 'ack': {
        // In memory at once; a log that cannot (none today) through its read.
        const { log } = this;
        if (!log.acknowledge) return this.applyOther(cmd);
        for (const [sid, ackId] of cmd.acks) log.acknowledge(sid, ackId);
        return undefined;
      }
      default:
        return this.applyOther(cmd);
    }
  }

  private applyBatch(cmd: Extract<Command, { t: 'batch' }>): CachedResponse | Promise<CachedResponse> {
    const { engine } = this;
    const render = this.doors[cmd.door ?? 'cwa'];
    if (!render) return Promise.reject(new Error(`no door ${cmd.door} renders batch answers`));
    const produced = ({ answer, sessions, started }: ExecutedBatch): ProducedResponse => {
      // Not kept: the start of a session that already ended, an answer about a session already removed (terminateSession).
      const keep = started.every((s) => !s.ended) && sessions.every((s) => !s.ended || engine.isEndedLogReadable(s.sid));
      return { response: render(answer), sessions: sessions.map((s) => s.sid), started: started.map((s) => s.sid), keep };
    };
    const run = (): ProducedResponse | Promise<ProducedResponse> => {
      const executed = executeBatch(engine, cmd.login, cmd.batch);
      return executed instanceof Promise ? executed.then(produced) : produced(executed);
    };
    if (cmd.scope === undefined || cmd.key === undefined) {
      const r = run();
      return r instanceof Promise ? r.then((p) => p.response) : r.response;
    }
    const cached = this.ridCache.run(cmd.scope, cmd.key, cmd.body ?? '', run);
    return cached instanceof Promise ? cached.then((c) => c.response) : cached.response;
  }

  /** The commands that wait (a sign-out, a tick, a UCWA operation). */
  private async applyOther(cmd: Exclude<Command, { t: 'batch' | 'logon' | 'rotate' | 'renew' | 'touch' }>): Promise<CommandResult> {
    const { engine } = this;
    switch (cmd.t) {
      case 'signOut':
        return engine.signOut(cmd.login);
      case 'ack':
        for (const [sid, ackId] of cmd.acks) await this.log.read(sid, ackId, 0);
        return undefined;
      case 'tick':
        await engine.tick();
        await engine.exclusive(() => this.ucwaOps.expireSubscriptions());
        return undefined;
      case 'ucwa':
        return engine.exclusive(() => this.ucwaOps.apply(cmd.login, cmd.op));
    }
  }
}

/** The duplicate-cache scope of batches sent with a ticket before a session exists (by the ticket's hash). */
export function ticketScope(hash: string): string {
  return `t:${hash}`;
}

/** What executing a batch gives: its typed answer, with the sessions it acted in and started. */
export interface ExecutedBatch {
  answer: BatchAnswer;
  sessions: Session[];
  started: Session[];
}

/**
 * Executes a typed batch in order, one request after another. At once, without a promise,
 * when no command is running or queued and every request completes synchronously (a
 * message, an acknowledgement …); otherwise it goes on as each step completes.
 */
export function executeBatch(engine: Engine, login: string, batch: TypedBatch): ExecutedBatch | Promise<ExecutedBatch> {
  return engine.exclusiveNow(() => {
    const command: CommandContext = {
      login,
      // A UCWA application is not a CWA session: the CWA door does not reach it.
      session: batch.sid ? cwaOnly(engine.sessionFor(login, batch.sid)) : engine.soleSessionOf(login),
    };
    const run: BatchRun = { answers: [], sessions: new Set(), started: [], processed: 0, unexpected: 0 };
    return executeFrom(engine, command, batch.items, 0, run);
  });
}

interface BatchRun {
  answers: ResponseItem[];
  sessions: Set<Session>;
  started: Session[];
  processed: number;
  unexpected: number;
}

/** Executes `items` from `from` on; continues once a request that has to wait completes. */
function executeFrom(engine: Engine, command: CommandContext, items: TypedBatch['items'], from: number, run: BatchRun): ExecutedBatch | Promise<ExecutedBatch> {
  for (let i = from; i < items.length; i++) {
    const item = items[i]!;
    if (item.status === 'ok') {
      run.processed += 1;
      const before = command.session;
      if (before) run.sessions.add(before);
      const answer = engine.execute(command, item.request);
      if (answer instanceof Promise) {
        return answer.then((a) => {
          executed(command, before, a, run);
          return executeFrom(engine, command, items, i + 1, run);
        });
      }
      executed(command, before, answer, run);
    } else {
      if (item.status === 'unknown') run.unexpected += 1;
      run.answers.push({ type: 'requestInvalid', rid: item.rid, error: item.error });
    }
  }
  const ended = engine.endBatch();
  return ended ? ended.then(() => batchDone(run)) : batchDone(run);
}

function executed(command: CommandContext, before: Session | undefined, answer: ResponseItem, run: BatchRun): void {
  run.answers.push(answer);
  // initiateSession names the session the rest of the batch acts in.
  if (command.session && command.session !== before) run.started.push(command.session);
}

function batchDone(run: BatchRun): ExecutedBatch {
  return { answer: { answers: run.answers, processed: run.processed, unexpected: run.unexpected }, sessions: [...run.sessions], started: run.started };
}

function cwaOnly(session: Session | undefined): Session | undefined {
  return session?.dialect === 'ucwa' ? undefined : session;
}
