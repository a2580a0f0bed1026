// A plain load balancer for cluster tests: every HTTP request and every WebSocket upgrade
// goes to the next live node in turn (round robin, no session affinity). A node can be
// taken out of the rotation (as a health check would, once it died).
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export class Balancer {
  private next = 0;
  private readonly out = new Set<number>();
  private server?: http.Server;
  /** Requests sent to each node (index in `targets`). */
  readonly served: number[];
  url = '';

  constructor(private readonly targets: string[]) {
    this.served = targets.map(() => 0);
  }

  /** The node the next request goes to. */
  private pick(): number {
    for (let i = 0; i < this.targets.length; i++) {
      const n = this.next++ % this.targets.length;
      if (!this.out.has(n)) return n;
    }
    throw new Error('no live node');
  }

  remove(index: number): void {
    this.out.add(index);
  }

  /** Puts a node (a new process at `url`) back in the rotation at `index`. */
  restore(index: number, url: string): void {
    this.targets[index] = url;
    this.out.delete(index);
  }

  async start(): Promise<string> {
    const server = http.createServer((req, res) => {
      const n = this.pick();
      this.served[n]! += 1;
      const target = new URL(this.targets[n]!);
      const upstream = http.request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent: false },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => {
        // The node died with the request: the client sees the connection drop, as behind a real balancer.
        res.destroy();
      });
      req.pipe(upstream);
    });
    server.on('upgrade', (req, socket, head) => {
      const n = this.pick();
      this.served[n]! += 1;
      const target = new URL(this.targets[n]!);
      const upstream = net.connect(Number(target.port), target.hostname, () => {
        const lines = [`${req.method} ${req.url} HTTP/1.1`, ...Object.entries(req.headers).map(([k, v]) => `${k}: ${String(v)}`), '', ''];
        upstream.write(lines.join('\r\n'));
        if (head.length) upstream.write(head);
        upstream.pipe(socket);
        socket.pipe(upstream);
      });
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
