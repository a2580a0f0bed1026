// Runs one cwaRequests batch for an authenticated client, whatever carried it (an HTTP
// POST or a WebSocket frame): decode here, then hand it to the coordinator, which
// de-duplicates, executes in order and renders (cluster/state.ts).
import type { BatchCommand } from '../cluster/coordinator.js';
import { portableBatch } from '../cluster/commands.js';
import { ticketScope } from '../cluster/state.js';
import { digestOf } from '../engine/hash.js';
import { ticketHash } from '../engine/tickets.js';
import { decodeBatch, DocumentRejectedError, type DecodedBatch } from '../protocol/codec.js';
import { renderErrorResponse } from '../protocol/responses.js';
import type { TransportContext } from './http/context.js';
import type { GatewayMetrics } from '../ops/metrics.js';
import type { Reason } from '../engine/outcomes.js';
import { CWA_CODE } from '../protocol/cwa-outcomes.js';

export interface Caller {
  login: string;
  /** The ticket the client presented (scope of duplicate detection before a session exists). */
  presented: string;
}

export interface BatchOutcome {
  /** 200, or 400 for a document refused as a whole. */
  status: number;
  body: string;
  /** The reasons of the refused requests of a 200 answer (engine/outcomes.ts). */
  refusals?: string[];
  /** The error code of a document refused as a whole. */
  code?: number;
}

export async function runBatch(ctx: TransportContext, caller: Caller, text: string): Promise<BatchOutcome> {
  let batch: DecodedBatch;
  try {
    batch = decodeBatch(text, ctx.limits, ctx.schema);
  } catch (err) {
    if (err instanceof DocumentRejectedError) return { status: 400, body: renderErrorResponse(err.error), code: err.error.code };
    throw err;
  }
  const rids = batch.items.map((i) => (i.status === 'ok' ? (i.request.rid ?? '') : i.rid));
  const cmd: BatchCommand = { login: caller.login, batch: portableBatch(batch) };
  if (rids.some((r) => r !== '')) {
    // A retried batch: same session (or, before one exists, same ticket), same rids, same body.
    cmd.scope = batch.sid ? `s:${batch.sid}:${caller.login}` : ticketScope(ticketHash(caller.presented));
    cmd.key = rids.join('\u0000') + '\u0000' + digest(text);
  }
  return ctx.coordinator.runBatch(cmd);
}

/** Counts an answer's refusals: by reason, and by the 18xxx code the CWA door answered each with. */
export function countRefusals(metrics: GatewayMetrics, outcome: BatchOutcome): void {
  for (const reason of outcome.refusals ?? []) {
    metrics.refusals.inc({ reason });
    metrics.errors.inc({ code: String(CWA_CODE[reason as Reason]), kind: 'request' });
  }
}

function digest(text: string): string {
  return digestOf('sha1', text, 'base64');
}
