// cwa-gateway as a library: build or start a gateway in-process. The client library
// is a separate entry point: `cwa-gateway/client`.
export { createGateway, startGateway, type Gateway, type RunningGateway } from './server.js';
export { defaultConfig, loadConfig, ConfigError, OPTIONS, type GatewayConfig } from './config.js';
export { UserDirectory } from './users/directory.js';
export { CloseCode } from './transport/ws/close-codes.js';
