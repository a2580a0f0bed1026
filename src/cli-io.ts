// Everything the `cwa-gateway` command touches (streams, environment, exit, the server),
// passed in so tests run commands in-process. Shared by cli.ts and the commands it loads
// on demand (testing/cli.ts, testing/record-cli.ts).
import type { startGateway as StartGateway } from './server.js';

export interface CliIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown; isTTY?: boolean };
  stdin: AsyncIterable<string | Buffer> & { isTTY?: boolean };
  env: Record<string, string | undefined>;
  exit: (code: number) => void;
  /** Replaces the real server (tests); by default `./server.js` is loaded on demand. */
  startGateway?: typeof StartGateway;
}
