// The command channel: POST /cwa/MainCommandHandler.ashx with a cwaRequests batch,
// answered in order with one cwaResponses. A batch repeated with the same session,
// rids and body is answered from the cache and not executed again.
import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import type { CommandContext } from '../../engine/engine.js';
import type { ResponseItem } from '../../engine/types.js';
import { decodeBatch, DocumentRejectedError, type DecodedBatch } from '../../protocol/codec.js';
import { renderResponses } from '../../protocol/responses.js';
import { bodyText } from './body.js';
import type { TransportContext } from './context.js';
import { sendError, sendXml } from './replies.js';

export function commandHandler(ctx: TransportContext) {
  return async (req: Request, res: Response) => {
    const auth = res.locals.auth as { login: string; current: string; presented: string };
    const text = bodyText(req);
    let batch: DecodedBatch;
    try {
      batch = decodeBatch(text, ctx.limits, ctx.schema);
    } catch (err) {
      if (err instanceof DocumentRejectedError) return sendError(res, 400, err.error, auth.current);
      throw err;
    }
    const rids = batch.items.map((i) => (i.status === 'ok' ? (i.request.rid ?? '') : i.rid));
    const run = async () => ({ status: 200, body: await execute(ctx, auth.login, batch) });
    if (rids.every((r) => r === '')) {
      const { body } = await run();
      return sendXml(res, 200, body, auth.current);
    }
    // Before a session exists the scope is the presented ticket (one per client).
    const scope = batch.sid ? `s:${batch.sid}:${auth.login}` : `t:${auth.presented}`;
    const key = rids.join('\u0000') + '\u0000' + createHash('sha1').update(text).digest('base64');
    const { response } = await ctx.ridCache.run(scope, key, run);
    sendXml(res, response.status, response.body, auth.current);
  };
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
    return renderResponses(answers, processed, unexpected);
  });
}
