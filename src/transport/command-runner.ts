// Runs one cwaRequests batch for an authenticated client, whatever carried it (an HTTP
// POST or a WebSocket frame): decode, de-duplicate, execute in order, render.
import { createHash } from 'node:crypto';
import type { CommandContext } from '../engine/engine.js';
import type { ResponseItem } from '../engine/types.js';
import { decodeBatch, DocumentRejectedError, type DecodedBatch } from '../protocol/codec.js';
import { renderErrorResponse, renderResponses } from '../protocol/responses.js';
import type { TransportContext } from './http/context.js';

export interface Caller {
  login: string;
  /** The ticket the client presented (scope of duplicate detection before a session exists). */
  presented: string;
}

export interface BatchOutcome {
  /** 200, or 400 for a document refused as a whole. */
  status: number;
  body: string;
}

export async function runBatch(ctx: TransportContext, caller: Caller, text: string): Promise<BatchOutcome> {
  let batch: DecodedBatch;
  try {
    batch = decodeBatch(text, ctx.limits, ctx.schema);
  } catch (err) {
    if (err instanceof DocumentRejectedError) return { status: 400, body: renderErrorResponse(err.error) };
    throw err;
  }
  const rids = batch.items.map((i) => (i.status === 'ok' ? (i.request.rid ?? '') : i.rid));
  const run = async () => ({ status: 200, body: await execute(ctx, caller.login, batch) });
  if (rids.every((r) => r === '')) return run();
  // A retried batch: same session (or, before one exists, same ticket), same rids, same body.
  const scope = batch.sid ? `s:${batch.sid}:${caller.login}` : `t:${caller.presented}`;
  const key = rids.join('\u0000') + '\u0000' + createHash('sha1').update(text).digest('base64');
  return (await ctx.ridCache.run(scope, key, run)).response;
}

async function execute(ctx: TransportContext, login: string, batch: DecodedBatch): Promise<string> {
  const { engine } = ctx;
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
