// The errors every door answers with in the same situations (HTTP paths before and behind
// Express, WebSocket upgrades and frames), written once so that their texts cannot drift.
import { cwaError, ErrorCode } from '../protocol/cwa-errors.js';
import type { CwaError } from '../protocol/cwa-errors.js';

/** The shared state (Redis) cannot be reached: 503, retry shortly. */
export const STORE_UNAVAILABLE: CwaError = cwaError(ErrorCode.InternalFailure, 'The gateway\'s store (Redis) is unavailable; retry shortly.');

/** Shutdown has begun: a request that arrives now is not run (503, retry elsewhere or later). */
export const SHUTTING_DOWN: CwaError = cwaError(ErrorCode.InternalFailure, 'The gateway is shutting down; retry shortly.');

/** No valid CWA-Ticket on an HTTP request after logon (401). */
export const NOT_SIGNED_IN: CwaError = { ...cwaError(ErrorCode.SessionNotFound, 'A valid CWA-Ticket header is required: sign in first.'), reason: 'Not Authenticated' };
