// Rate limits answered with HTTP 429, `Retry-After` and `error` 18101 "Request Throttled".
// Per client address on every request (before the body is read), per CWA-Ticket once
// the ticket is known, logon attempts per address, and failed logons (see logon.ts and
// ops/logon-guard.ts).
import type { NextFunction, Request, Response } from 'express';
import { cwaError, ErrorCode } from '../../protocol/cwa-errors.js';
import type { CwaError } from '../../protocol/cwa-errors.js';
import type { ThrottleLimit } from '../../ops/metrics.js';
import { addressKey } from '../../ops/rate-limit.js';
import type { TransportContext } from './context.js';
import { clientAddress, type RequestLocals } from './operability.js';
import { sendError } from './replies.js';

const WHAT: Record<ThrottleLimit, string> = {
  address: 'Too many requests from this address',
  ticket: 'Too many requests with this CWA-Ticket',
  logonAddress: 'Too many logon attempts from this address',
  logonFailures: 'Too many failed logons from this address',
  logonUserAddress: 'Too many failed logons for this user from this address',
};

/** The `error` of a throttled request. */
export function throttledError(limit: ThrottleLimit, retryAfterS: number): CwaError {
  return cwaError(ErrorCode.RequestThrottled, `${WHAT[limit]}: retry after ${retryAfterS} s.`);
}

export function sendThrottled(ctx: TransportContext, res: Response, limit: ThrottleLimit, retryAfterS: number, ticket?: string): void {
  ctx.ops.metrics.throttled.inc({ limit });
  res.setHeader('Retry-After', String(retryAfterS));
  sendError(res, 429, throttledError(limit, retryAfterS), ticket);
}

/**
 * Every request from one client address (IPv6: one /64). A request another door owns
 * (`ownedBy` answers it) is refused in that door's representation.
 */
export function addressLimit(ctx: TransportContext, other?: { owns(req: Request): boolean; refuse(req: Request, res: Response, retryAfterS: number): void }) {
  return (req: Request, res: Response, next: NextFunction) => {
    const outcome = ctx.ops.rates.address.take(addressKey(clientAddress(req, ctx.ops.trustProxy)));
    if (outcome.ok) return next();
    if (other?.owns(req)) {
      ctx.ops.metrics.throttled.inc({ limit: 'address' });
      res.setHeader('Retry-After', String(outcome.retryAfterS));
      return other.refuse(req, res, outcome.retryAfterS);
    }
    sendThrottled(ctx, res, 'address', outcome.retryAfterS);
  };
}

/** Every request with one CWA-Ticket (after requireTicket; a rotated ticket counts as its successor). */
export function ticketLimit(ctx: TransportContext) {
  return (_req: Request, res: Response, next: NextFunction) => {
    const auth = (res.locals as RequestLocals).auth!;
    const outcome = ctx.ops.rates.ticket.take(auth.current);
    if (!outcome.ok) return sendThrottled(ctx, res, 'ticket', outcome.retryAfterS, auth.current);
    next();
  };
}
