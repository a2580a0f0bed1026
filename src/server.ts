// Composition root: configuration -> stores -> engine -> transports.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GatewayConfig } from './config.js';
import { AttachmentRegistry } from './delivery/attachments.js';
import { MemoryEventLog } from './delivery/event-log.js';
import { RidCache } from './delivery/rid-cache.js';
import { systemClock, type Clock } from './engine/clock.js';
import { DEFAULT_CONFIGURATION, Engine } from './engine/engine.js';
import type { ConfigurationData } from './engine/types.js';
import { LogEventSink, OVERFLOW_RECORD } from './protocol/event-sink.js';
import { RequestSchema } from './protocol/schema.js';
import { createApp } from './transport/http/app.js';
import type { TransportContext } from './transport/http/context.js';
import { SqliteUserDataStore } from './store/sqlite.js';
import type { UserDataStore } from './store/types.js';
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
  /** Users' durable data (contacts, containers, published categories …). */
  store: UserDataStore;
  /** Stops the timers and frees native resources (does not touch the listening socket). */
  dispose(): void;
}

export interface GatewayDeps {
  users: UserDirectory;
  clock?: Clock;
  /** A store to use instead of the one --store/--data-dir name; the caller closes it. */
  store?: UserDataStore;
}

/** The configuration event's content, from the options. */
export function configurationOf(config: GatewayConfig): ConfigurationData {
  return {
    ...DEFAULT_CONFIGURATION,
    enableAppearOffline: config.enableAppearOffline !== 'false',
    composingRefreshS: config.composingRefreshS,
    composingTimeoutS: config.composingTimeoutS,
    searchDefaultFunction: config.searchDefaultFunction,
    ...(config.userNotice !== undefined ? { userNotice: config.userNotice } : {}),
  };
}

export const MAX_EVENTS_PER_POLL = 200;

/** Builds a gateway without listening (tests listen on an ephemeral port themselves). */
export function createGateway(config: GatewayConfig, deps: GatewayDeps): Gateway {
  if (config.store !== 'embedded') {
    // Refuse rather than silently run on in-process state the operator did not ask for.
    throw new Error(`--store ${config.store.split('://')[0]}:// is not available in this version: only "embedded" is`);
  }
  const clock = deps.clock ?? systemClock;
  // The embedded store: users' durable data in SQLite under --data-dir.
  const store = deps.store ?? SqliteUserDataStore.open(config.dataDir);
  const log = new MemoryEventLog({ maxEvents: config.logMaxEvents, maxBytes: config.logMaxBytes }, OVERFLOW_RECORD);
  const engine = new Engine(deps.users, new LogEventSink(log), clock, {
    pollWaitMs: config.pollWaitMs,
    sessionTimeoutS: config.sessionTimeoutS,
    ticketTtlS: config.ticketTtlS,
    inviteTimeoutS: config.inviteTimeoutS,
    maxMessageLength: config.maxMessageLength,
    maxParticipantsPerConference: config.maxParticipantsPerConference,
    maxConferencesPerSession: config.maxConferencesPerSession,
    mpopAcceptS: config.mpopAcceptS,
    endedSessionGraceS: 60,
    configuration: configurationOf(config),
    userData: {
      searchMaxResults: config.searchMaxResults,
      machineIdleS: config.machineIdleS,
      machineAwayS: config.machineAwayS,
      maxContacts: config.maxContacts,
      maxContainerMembers: config.maxContainerMembers,
    },
  }, store);
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
    store,
    dispose() {
      if (timer) clearInterval(timer);
      websocket.close(0);
      schema.dispose();
      if (!deps.store) void store.close();
    },
  };
}

export async function startGateway(config: GatewayConfig, deps: GatewayDeps): Promise<RunningGateway> {
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
