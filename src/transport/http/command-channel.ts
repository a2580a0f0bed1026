// The command channel: POST /cwa/MainCommandHandler.ashx with a cwaRequests batch,
// answered in order with one cwaResponses.
import { runBatch } from '../command-runner.js';
import type { TransportContext } from './context.js';
import type { Auth, Exchange } from './exchange.js';

const ERROR_CODE = /<error code="(\d+)"/;

export function commandHandler(ctx: TransportContext) {
  const { metrics } = ctx.ops;
  const duration = metrics.commandDuration.labels({ transport: 'http' });
  return async (x: Exchange, auth: Auth, text: string): Promise<void> => {
    const stop = duration.startTimer();
    const outcome = await runBatch(ctx, auth, text);
    stop();
    if (outcome.status === 200) metrics.countRequestErrors(outcome.body);
    else {
      const code = ERROR_CODE.exec(outcome.body)?.[1];
      if (code) x.cwaError = Number(code);
    }
    x.xml(outcome.status, outcome.body, auth.current);
  };
}
