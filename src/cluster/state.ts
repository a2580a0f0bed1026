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

  async apply(cmd: Command): Promise<CommandResult> {
    const { engine } = this;
    switch (cmd.t) {
      case 'logon':
        engine.tickets.adopt(cmd.ticketHash, cmd.login);
        return undefined;
      case 'rotate':
        engine.tickets.rotate(cmd.from, cmd.to);
        return undefined;
      case 'renew':
        engine.tickets.renew(cmd.hash);
        return undefined;
      case 'signOut':
        return engine.signOut(cmd.login);
      case 'batch': {
        const render = this.doors[cmd.door ?? 'cwa'];
        if (!render) throw new Error(`no door ${cmd.door} renders batch answers`);
        const run = async (): Promise<ProducedResponse> => {
          const { answer, sessions, started } = await executeBatch(engine, cmd.login, cmd.batch);
          // Not kept: the start of a session that already ended, an answer about a session already removed (terminateSession).
          const keep = started.every((s) => !s.ended) && sessions.every((s) => !s.ended || engine.isEndedLogReadable(s.sid));
          return { response: render(answer), sessions: sessions.map((s) => s.sid), started: started.map((s) => s.sid), keep };
        };
        if (cmd.scope === undefined || cmd.key === undefined) return (await run()).response;
        return (await this.ridCache.run(cmd.scope, cmd.key, cmd.body ?? '', run)).response;
      }
      case 'touch':
        await engine.exclusive(async () => {
          const session = engine.sessionFor(cmd.login, cmd.sid);
          if (session) engine.touch(session, cmd.ua);
        });
        return undefined;
      case 'ack': {
        // In memory at once; a log that cannot (none today) through its read.
        const { log } = this;
        if (log.acknowledge) for (const [sid, ackId] of cmd.acks) log.acknowledge(sid, ackId);
        else for (const [sid, ackId] of cmd.acks) await log.read(sid, ackId, 0);
        return undefined;
      }
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

/** Executes a typed batch in order, one request after another: its typed answer, with the sessions it acted in and started. */
export async function executeBatch(
  engine: Engine,
  login: string,
  batch: TypedBatch,
): Promise<{ answer: BatchAnswer; sessions: Session[]; started: Session[] }> {
  return engine.exclusive(async () => {
    const command: CommandContext = {
      login,
      // A UCWA application is not a CWA session: the CWA door does not reach it.
      session: batch.sid ? cwaOnly(engine.sessionFor(login, batch.sid)) : engine.soleSessionOf(login),
    };
    const answers: ResponseItem[] = [];
    const sessions = new Set<Session>();
    const started: Session[] = [];
    let processed = 0;
    let unexpected = 0;
    for (const item of batch.items) {
      if (item.status === 'ok') {
        processed += 1;
        const before = command.session;
        if (before) sessions.add(before);
        answers.push(await engine.execute(command, item.request));
        // initiateSession names the session the rest of the batch acts in.
        if (command.session && command.session !== before) started.push(command.session);
      } else {
        if (item.status === 'unknown') unexpected += 1;
        answers.push({ type: 'requestInvalid', rid: item.rid, error: item.error });
      }
    }
    await engine.endBatch();
    return { answer: { answers, processed, unexpected }, sessions: [...sessions], started };
  });
}

function cwaOnly(session: Session | undefined): Session | undefined {
  return session?.dialect === 'ucwa' ? undefined : session;
}
