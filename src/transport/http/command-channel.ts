// The command channel: POST /cwa/MainCommandHandler.ashx with a cwaRequests batch,
// answered in order with one cwaResponses.
import { countRefusals, runBatch, type BatchOutcome } from '../command-runner.js';
import type { TransportContext } from './context.js';
import type { Auth, Exchange } from './exchange.js';

export function commandHandler(ctx: TransportContext) {
  const { metrics } = ctx.ops;
  return (x: Exchange, auth: Auth, text: string): void | Promise<void> => {
    const stop = metrics.timeCommand('http');
    const answer = (outcome: BatchOutcome): void => {
      stop();
      if (outcome.status === 200) countRefusals(metrics, outcome);
      else x.cwaError = outcome.code; // counted with the request (kind "document")
      x.xml(outcome.status, outcome.body, auth.current);
    };
    // A single gateway whose engine is free answers in this turn.
    const outcome = runBatch(ctx, auth, text);
    return outcome instanceof Promise ? outcome.then(answer) : answer(outcome);
  };
}
