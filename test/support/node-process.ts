// A gateway node as its own process (bin/cwa-gateway.js), as an operator runs it: the
// cluster tests kill these with SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../../bin/cwa-gateway.js', import.meta.url));

export interface NodeProcess {
  url: string;
  child: ChildProcess;
  /** What the node wrote (its JSON log), for failure messages. */
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * The URL of the gateway's JSON "listening" log line in what it wrote to standard output
 * (complete lines only). Throws on a line that is not JSON: standard output is JSON only.
 */
export function listeningUrl(stdout: string): string | undefined {
  const lines = stdout.split('\n').slice(0, -1).filter((l) => l.trim() !== '');
  for (const line of lines) {
    let record: { msg?: unknown; url?: unknown };
    try {
      record = JSON.parse(line) as typeof record;
    } catch {
      throw new Error(`a line of standard output is not JSON: ${line}`);
    }
    if (record.msg === 'listening' && typeof record.url === 'string') return record.url;
  }
  return undefined;
}

export async function startNodeProcess(args: string[], timeoutMs = 10_000): Promise<NodeProcess> {
  const child = spawn(process.execPath, [BIN, '--port', '0', '--host', '127.0.0.1', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the node did not start within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    let stdout = '';
    const look = (d: Buffer) => {
      stdout += d.toString();
      const url = listeningUrl(stdout);
      if (url) {
        clearTimeout(timer);
        resolve(url);
      }
    };
    child.stdout!.on('data', look);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the node exited (${code}) before listening:\n${out}`));
    });
  });
  return {
    url,
    child,
    output: () => out,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
