// The headers every answer carries besides its own (security headers and CORS), computed
// once per gateway as a flat [name, value, …] list that `writeHead` takes as it is: the
// CWA paths (fast-path.ts) write them with their answer in one call instead of running a
// middleware chain per request. The security headers are what helmet, configured in
// operability.ts, sets (recorded once at start-up); the CORS ones are what the `cors`
// package sets on a request that is not a preflight (preflights go through Express).
import type { IncomingMessage } from 'node:http';
import { REQUEST_ID_HEADER, securityHeaders } from './operability.js';
import type { TransportContext } from './context.js';

export const EXPOSED_HEADERS = ['CWA-Ticket', REQUEST_ID_HEADER, 'Retry-After'];

/** The headers helmet sets, as [name, value, …]: helmet run once against a recording response. */
export function recordedSecurityHeaders(ctx: TransportContext): string[] {
  const out: string[] = [];
  const recorder = {
    setHeader(name: string, value: unknown) {
      out.push(name, String(value));
    },
    removeHeader() {},
  };
  let failed: unknown;
  securityHeaders(ctx)({} as never, recorder as never, (err?: unknown) => (failed = err));
  if (failed) throw failed;
  return out;
}

export class CommonHeaders {
  /** Security headers, plus the CORS headers that do not depend on the request's Origin. */
  private readonly fixed: string[];
  private readonly allowed: Set<string> | undefined;

  constructor(ctx: TransportContext) {
    const origins = ctx.ops.corsOrigins;
    this.fixed = recordedSecurityHeaders(ctx);
    if (origins === '*') {
      this.fixed.push('Access-Control-Allow-Origin', '*');
    } else if (origins.length > 0) {
      this.allowed = new Set(origins);
      // Told to caches on every answer: another origin gets another answer.
      this.fixed.push('Vary', 'Origin');
    }
    if (origins.length > 0) this.fixed.push('Access-Control-Expose-Headers', EXPOSED_HEADERS.join(','));
  }

  /** A fresh list to add the answer's own headers to. */
  forRequest(req: IncomingMessage): string[] {
    const out = this.fixed.slice();
    if (this.allowed) {
      const origin = req.headers.origin;
      if (origin !== undefined && this.allowed.has(origin)) out.push('Access-Control-Allow-Origin', origin);
    }
    return out;
  }
}
