// The command channel: POST /cwa/MainCommandHandler.ashx with a cwaRequests batch,
// answered in order with one cwaResponses.
import type { Request, Response } from 'express';
import { runBatch } from '../command-runner.js';
import { bodyText } from './body.js';
import type { TransportContext } from './context.js';
import { sendXml } from './replies.js';

export function commandHandler(ctx: TransportContext) {
  const { metrics } = ctx.ops;
  const duration = metrics.commandDuration.labels({ transport: 'http' });
  return async (req: Request, res: Response) => {
    const auth = res.locals.auth as { login: string; current: string; presented: string };
    const stop = duration.startTimer();
    const outcome = await runBatch(ctx, auth, bodyText(req));
    stop();
    if (outcome.status === 200) metrics.countRequestErrors(outcome.body);
    else {
      const code = /<error code="(\d+)"/.exec(outcome.body)?.[1];
      if (code) res.locals.cwaError = Number(code);
    }
    sendXml(res, outcome.status, outcome.body, auth.current);
  };
}
