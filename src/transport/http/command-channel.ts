// The command channel: POST /cwa/MainCommandHandler.ashx with a cwaRequests batch,
// answered in order with one cwaResponses.
import { countRefusals, runBatch } from '../command-runner.js';
import type { TransportContext } from './context.js';
import type { Auth, Exchange } from './exchange.js';

export function commandHandler(ctx: TransportContext) {
  const { metrics } = ctx.ops;
  const duration = metrics.commandDuration.labels({ transport: 'http' });
  return async (x: Exchange, auth: Auth, text: string): Promise<void> => {
    const stop = duration.startTimer();
    const outcome = await runBatch(ctx, auth, text);
    stop();
    if (outcome.status === 200) countRefusals(metrics, outcome);
    else x.cwaError = outcome.code; // counted with the request (kind "document")
    x.xml(outcome.status, outcome.body, auth.current);
  };
}
