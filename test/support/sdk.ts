// Helpers for the client-library suites (test/client-*.test.ts): clients that validate every
// document they receive, polling helpers, and a TCP forwarder whose target can be swapped, so
// that a gateway can be restarted (on another port) behind one stable URL.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { CwaClient, type CwaClientOptions } from '../../src/client/index.js';
import { expectValidDocument } from './schemas.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A client of `baseUrl` that checks every document it receives against schemas/. */
export function validatingClient(baseUrl: string, options: Partial<CwaClientOptions> = {}): CwaClient {
  return new CwaClient({
    baseUrl,
    wsRetryMs: 300,
    inspect: (direction, _channel, xml) => {
      if (direction === 'received') expectValidDocument(xml);
    },
    ...options,
  });
}

/** What a promise rejected with (fails the test when it resolved). */
export async function rejection(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as Error,
  );
}

/**
 * A TCP forwarder on a fixed loopback port: connections go to `target`, or are dropped at
 * once while there is none (as a host whose gateway is down answers: connection refused/reset).
 */
export class Forwarder {
  url = '';
  private target: string | undefined;
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();

  async start(target?: string): Promise<string> {
    this.target = target;
    const server = net.createServer((client) => {
      this.sockets.add(client);
      client.on('close', () => this.sockets.delete(client));
      client.on('error', () => undefined);
      if (!this.target) return void client.destroy();
      const url = new URL(this.target);
      const upstream = net.connect(Number(url.port), url.hostname);
      this.sockets.add(upstream);
      upstream.on('close', () => {
        this.sockets.delete(upstream);
        client.destroy();
      });
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.url;
  }

  /** Sends new connections to `target` (undefined: drop them); open ones are cut. */
  retarget(target: string | undefined): void {
    this.target = target;
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.retarget(undefined);
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
