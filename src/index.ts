/**
 * cwa-gateway as a library: build or start a gateway in-process. The client library is a
 * separate entry point, `cwa-gateway/client` (also the package `@cwa-gateway/client`), and the
 * transcript tools are `cwa-gateway/testing`.
 *
 * @module cwa-gateway
 */
export { createGateway, startGateway, type Gateway, type GatewayDeps, type RunningGateway } from './server.js';
export { defaultConfig, loadConfig, ConfigError, OPTIONS, type GatewayConfig, type OptionSpec } from './config.js';
export { UserDirectory, type UserEntry, type UserRecord } from './users/directory.js';
export type { ShutdownReport } from './ops/shutdown.js';
export { CloseCode } from './transport/ws/close-codes.js';
