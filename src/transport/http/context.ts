// What the HTTP transport needs from the rest of the gateway.
import type { AttachmentRegistry } from '../../delivery/attachments.js';
import type { EventLog } from '../../delivery/event-log.js';
import type { RidCache } from '../../delivery/rid-cache.js';
import type { Engine } from '../../engine/engine.js';
import type { CodecLimits } from '../../protocol/codec.js';
import type { RequestSchema } from '../../protocol/schema.js';

export interface TransportContext {
  engine: Engine;
  log: EventLog;
  schema: RequestSchema;
  ridCache: RidCache;
  limits: CodecLimits & { maxBodyBytes: number };
  /** Longest time a data-channel GET is held when nothing is queued. */
  holdMs: number;
  pollWaitMs: number;
  /** Most events answered in one data-channel response (or one WebSocket frame). */
  maxEventsPerPoll: number;
  /** The one listener (held poll or WebSocket) of each session. */
  attachments: AttachmentRegistry;
}
