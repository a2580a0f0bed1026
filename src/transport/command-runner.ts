// Runs one cwaRequests batch for an authenticated client, whatever carried it (an HTTP
// POST or a WebSocket frame): decode here, then hand it to the coordinator, which
// de-duplicates, executes in order and renders (cluster/state.ts). A single gateway
// applies the decoded batch as it is; a cluster's coordinator makes it portable first.
import type { BatchCommand } from '../cluster/coordinator.js';
import { ticketScope } from '../cluster/state.js';
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

/**
 * Runs a batch: its answer, at once when the coordinator gives it at once (a single gateway
 * whose engine is free); a promise otherwise. Never throws: a failure is a rejected promise.
 */
export function runBatch(ctx: TransportContext, caller: Caller, text: string): BatchOutcome | Promise<BatchOutcome> {
  try {
    return run(ctx, caller, text);
  } catch (err) {
    return Promise.reject(err);
  }
}

function run(ctx: TransportContext, caller: Caller, text: string): BatchOutcome | Promise<BatchOutcome> {
  let batch: DecodedBatch;
  try {
    batch = decodeBatch(text, ctx.limits, ctx.schema);
  } catch (err) {
    if (err instanceof DocumentRejectedError) return { status: 400, body: renderErrorResponse(err.error), code: err.error.code };
    throw err;
  }
  const cmd: BatchCommand = { login: caller.login, batch };
  const rids = ridsOf(batch);
  if (rids !== undefined) {
    // A retried batch: same session (or, before one exists, same ticket), same rids, same body.
    // The body is kept as it is and compared only when the rids repeat (rid-cache.ts).
    cmd.scope = batch.sid ? `s:${batch.sid}:${caller.login}` : ticketScope(ticketHash(caller.presented));
    cmd.key = rids;
    cmd.body = text;
  }
  return ctx.coordinator.runBatch(cmd);
}

/** The batch's rids joined with NUL, or undefined when none of its requests has one. */
function ridsOf(batch: DecodedBatch): string | undefined {
  const { items } = batch;
  let any = false;
  let joined = '';
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    const rid = item.status === 'ok' ? (item.request.rid ?? '') : item.rid;
    if (rid !== '') any = true;
    joined = i === 0 ? rid : `${joined}\u0000${rid}`;
  }
  return any ? joined : undefined;
}

/** Counts an answer's refusals: by reason, and by the 18xxx code the CWA door answered each with. */
export function countRefusals(metrics: GatewayMetrics, outcome: BatchOutcome): void {
  for (const reason of outcome.refusals ?? []) {
    metrics.refusals.inc({ reason });
    metrics.errors.inc({ code: String(CWA_CODE[reason as Reason]), kind: 'request' });
  }
}
