// What commands change: the engine (sessions, tickets, conversations, presence, user
// data), the event logs, and the responses of recent batches (the rid cache). `apply`
// is the one place a command takes effect, on a single gateway and on every node of a
// cluster alike.
import type { CommandContext, Engine } from '../engine/engine.js';
import type { ResponseItem } from '../engine/types.js';
import type { EventLog } from '../delivery/event-log.js';
import type { CachedResponse, RidCache } from '../delivery/rid-cache.js';
import type { DecodedBatch } from '../protocol/codec.js';
import { renderResponses } from '../protocol/responses.js';
import type { Command } from './commands.js';

export type CommandResult = CachedResponse | undefined;

export class GatewayState {
  constructor(
    readonly engine: Engine,
    /** The event logs as commands leave them (a cluster node's transports read them through a ReplicatedEventLog). */
    readonly log: EventLog,
    readonly ridCache: RidCache,
  ) {}

  async apply(cmd: Command): Promise<CommandResult> {
    const { engine } = this;
    switch (cmd.t) {
      case 'logon':
        engine.tickets.adopt(cmd.ticketHash, cmd.login);
        return undefined;
      case 'rotate':
        engine.tickets.rotate(cmd.from, cmd.to);
        return undefined;
      case 'batch': {
        const run = async (): Promise<CachedResponse> => ({ status: 200, body: await executeBatch(engine, cmd.login, cmd.batch) });
        if (cmd.scope === undefined || cmd.key === undefined) return run();
        return (await this.ridCache.run(cmd.scope, cmd.key, run)).response;
      }
      case 'touch':
        await engine.exclusive(async () => {
          const session = engine.sessionFor(cmd.login, cmd.sid);
          if (session) engine.touch(session, cmd.ua);
        });
        return undefined;
      case 'ack':
        for (const [sid, ackId] of cmd.acks) await this.log.read(sid, ackId, 0);
        return undefined;
      case 'tick':
        await engine.tick();
        return undefined;
    }
  }
}

/** Executes a decoded batch in order, one request after another, and renders the answers. */
export async function executeBatch(engine: Engine, login: string, batch: DecodedBatch): Promise<string> {
  return engine.exclusive(async () => {
    const command: CommandContext = {
      login,
      session: batch.sid ? engine.sessionFor(login, batch.sid) : engine.soleSessionOf(login),
    };
    const answers: ResponseItem[] = [];
    let processed = 0;
    let unexpected = 0;
    for (const item of batch.items) {
      if (item.status === 'ok') {
        processed += 1;
        answers.push(await engine.execute(command, item.request));
      } else {
        if (item.status === 'unknown') unexpected += 1;
        answers.push({ type: 'requestInvalid', rid: item.rid, error: item.error });
      }
    }
    await engine.endBatch();
    return renderResponses(answers, processed, unexpected);
  });
}
