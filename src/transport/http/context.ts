// What the HTTP transport needs from the rest of the gateway.
import type { AttachmentRegistry } from '../../delivery/attachments.js';
import type { EventLog } from '../../delivery/event-log.js';
import type { Coordinator } from '../../cluster/coordinator.js';
import type { Engine } from '../../engine/engine.js';
import type { Logger } from '../../ops/logger.js';
import type { GatewayMetrics } from '../../ops/metrics.js';
import type { LogonGuard } from '../../ops/logon-guard.js';
import type { RateLimiter } from '../../ops/rate-limit.js';
import type { RequestsInFlight, ShutdownRegistry } from '../../ops/shutdown.js';
import type { CodecLimits } from '../../protocol/codec.js';
import type { XmlLayout } from '../../protocol/layout.js';
import type { RequestSchema } from '../../protocol/schema.js';
import type { HeldPolls } from './held-polls.js';
import type { WebClientFiles } from './web-client.js';

export interface TransportContext {
  /** The engine, to read from (sessions, users); changes go through `coordinator`. */
  readonly engine: Engine;
  /** Applies changes: at once on a single gateway, through the shared command stream on a cluster. */
  coordinator: Coordinator;
  /** The event logs, to read, acknowledge and wait on. */
  log: EventLog;
  schema: RequestSchema;
  limits: CodecLimits & { maxBodyBytes: number };
  /** Longest time a data-channel GET is held when nothing is queued. */
  holdMs: number;
  /**
   * How long confirmations alone (lazy events) wait for more before a held poll answers them
   * or a WebSocket pushes them (--confirmation-batch-ms); 0: at once.
   */
  confirmationBatchMs: number;
  pollWaitMs: number;
  /** Most events answered in one data-channel response (or one WebSocket frame). */
  maxEventsPerPoll: number;
  /** The layout of event documents (--xml-layout); the events themselves were rendered in it. */
  xmlLayout: XmlLayout;
  /** The charset of a request body that is not UTF-8 and names none (--fallback-charset); undefined: refused. */
  fallbackCharset?: string;
  /** The one listener (held poll or WebSocket) of each session. */
  attachments: AttachmentRegistry;
  ops: OpsContext;
  /**
   * Where clients reach the gateway (--public-url, normalized without a trailing slash):
   * the base of absolute links. Unset: nothing names it (links needing one use the request's Host).
   */
  publicUrl?: string;
  /** The web client's files, served at /app/ (absent with --no-web-client, or when it was not built). */
  webClient?: WebClientFiles;
}

/** Logs, metrics, rate limits, browser access and the shutdown state, shared by the transports. */
export interface OpsContext {
  logger: Logger;
  metrics: GatewayMetrics;
  rates: RateLimiters;
  polls: HeldPolls;
  shutdown: ShutdownRegistry;
  /** HTTP requests from their headers to their answer (shutdown drains them). */
  inFlight: RequestsInFlight;
  /** Origins allowed by CORS: `*`, a list, or none (no CORS headers). */
  corsOrigins: '*' | string[];
  /** Reverse proxies whose X-Forwarded-For is trusted. */
  trustProxy: number;
  /** Bearer token of the operator endpoint (/admin/revoke); without it the endpoint does not exist. */
  adminToken?: string;
}

export interface RateLimiters {
  /** Every request from one client address. */
  address: RateLimiter;
  /** Every request carrying one CWA-Ticket. */
  ticket: RateLimiter;
  /** Logon attempts from one client address. */
  logonAddress: RateLimiter;
  /** Failed logons per (user, address), per address and per user. */
  logon: LogonGuard;
}
