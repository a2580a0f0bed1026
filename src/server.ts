// Composition root: configuration -> stores -> engine -> transports.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GatewayConfig } from './config.js';
import { AttachmentRegistry } from './delivery/attachments.js';
import { MemoryEventLog } from './delivery/event-log.js';
import { RidCache } from './delivery/rid-cache.js';
import { systemClock, type Clock } from './engine/clock.js';
import { DEFAULT_CONFIGURATION, Engine } from './engine/engine.js';
import { LogEventSink, OVERFLOW_RECORD } from './protocol/event-sink.js';
import { RequestSchema } from './protocol/schema.js';
import { createApp } from './transport/http/app.js';
import type { TransportContext } from './transport/http/context.js';
import { WebSocketChannel } from './transport/ws/websocket-server.js';
import type { UserDirectory } from './users/directory.js';

export interface RunningGateway {
  url: string;
  close(): Promise<void>;
}

export interface Gateway {
  engine: Engine;
  context: TransportContext;
  server: http.Server;
  /** The WebSocket door to the data channel (upgrades of the data-channel path). */
  websocket: WebSocketChannel;
  /** Stops the timers and frees native resources (does not touch the listening socket). */
  dispose(): void;
}

export const MAX_EVENTS_PER_POLL = 200;

/** Builds a gateway without listening (tests listen on an ephemeral port themselves). */
export function createGateway(config: GatewayConfig, deps: { users: UserDirectory; clock?: Clock }): Gateway {
  if (config.store !== 'embedded') {
    // Refuse rather than silently run on in-process state the operator did not ask for.
    throw new Error(`--store ${config.store.split('://')[0]}:// is not available in this version: only "embedded" is`);
  }
  const clock = deps.clock ?? systemClock;
  const log = new MemoryEventLog({ maxEvents: config.logMaxEvents, maxBytes: config.logMaxBytes }, OVERFLOW_RECORD);
  const engine = new Engine(deps.users, new LogEventSink(log), clock, {
    pollWaitMs: config.pollWaitMs,
    sessionTimeoutS: config.sessionTimeoutS,
    ticketTtlS: config.ticketTtlS,
    inviteTimeoutS: config.inviteTimeoutS,
    maxMessageLength: config.maxMessageLength,
    endedSessionGraceS: 60,
    configuration: DEFAULT_CONFIGURATION,
  });
  const schema = RequestSchema.load();
  const context: TransportContext = {
    engine,
    log,
    schema,
    ridCache: new RidCache(config.ridCacheSize),
    limits: {
      maxBodyBytes: config.maxBodyBytes,
      maxDepth: config.maxXmlDepth,
      maxElements: config.maxXmlElements,
      maxAttributes: config.maxAttributes,
      maxAttributeLength: config.maxAttributeLength,
      maxRequestsPerBatch: config.maxRequestsPerBatch,
    },
    holdMs: config.holdMs,
    pollWaitMs: config.pollWaitMs,
    maxEventsPerPoll: MAX_EVENTS_PER_POLL,
    attachments: new AttachmentRegistry(),
  };
  const server = http.createServer(createApp(context));
  const websocket = new WebSocketChannel(context, {
    maxPayloadBytes: config.wsMaxPayloadBytes,
    maxBufferedBytes: config.wsMaxBufferedBytes,
    pingIntervalMs: config.wsPingIntervalMs,
  });
  websocket.listen(server);
  const timer = deps.clock ? undefined : setInterval(() => void engine.tick(), 1000);
  timer?.unref();
  return {
    engine,
    context,
    server,
    websocket,
    dispose() {
      if (timer) clearInterval(timer);
      websocket.close(0);
      schema.dispose();
    },
  };
}

export async function startGateway(config: GatewayConfig, deps: { users: UserDirectory }): Promise<RunningGateway> {
  const gw = createGateway(config, deps);
  await new Promise<void>((resolve, reject) => {
    gw.server.once('error', reject);
    gw.server.listen(config.port, config.host, () => resolve());
  });
  const addr = gw.server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}`,
    async close() {
      await gw.engine.shutdown();
      gw.websocket.close();
      await new Promise<void>((resolve) => {
        gw.server.close(() => resolve());
        gw.server.closeAllConnections();
      });
      gw.dispose();
    },
  };
}
