// Starts a bench server (gateway or bare baseline) in a child process and talks to it over IPC.
import { fork, type ChildProcess } from 'node:child_process';
import type { ChildMessage, ParentMessage } from './server-entry.js';

const ENTRY = new URL('./server-entry.js', import.meta.url);

/** Extra node options for the server child only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof". */
const EXTRA_NODE_ARGS = (process.env.CWA_BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);

export interface ServerOptions {
  kind: 'gateway' | 'bare';
  /** Bench users in the gateway's directory. */
  users?: number;
  /** Gateway flags, e.g. ['--log-max-events', '100000']. */
  flags?: string[];
}

export class ServerChild {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static async start(opts: ServerOptions): Promise<ServerChild> {
    const args = opts.kind === 'gateway' ? ['gateway', String(opts.users ?? 2), ...(opts.flags ?? [])] : ['bare'];
    const child = fork(ENTRY, args, { execArgv: ['--expose-gc', ...EXTRA_NODE_ARGS], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const port = await new Promise<number>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`bench server (${opts.kind}) exited with code ${code} before it was ready`));
      child.once('exit', onExit);
      child.once('message', (m: ChildMessage) => {
        child.off('exit', onExit);
        if (m.type === 'ready') resolve(m.port);
        else reject(new Error(`unexpected first message from bench server: ${JSON.stringify(m)}`));
      });
    });
    return new ServerChild(child, port);
  }

  private ask<T extends ChildMessage['type']>(type: T): Promise<Extract<ChildMessage, { type: T }>> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: ChildMessage) => {
        if (m.type !== type) return;
        this.child.off('message', onMessage);
        resolve(m as Extract<ChildMessage, { type: T }>);
      };
      this.child.on('message', onMessage);
      if (!this.child.send({ type } as ParentMessage)) reject(new Error('bench server IPC channel is closed'));
    });
  }

  get ports(): number[] {
    return [this.port];
  }

  /** Memory after full garbage collections. */
  memory(): Promise<{ heapUsed: number; rss: number }> {
    return this.ask('mem');
  }

  /** CPU time used so far, in microseconds. */
  async cpuMicros(): Promise<number> {
    const c = await this.ask('cpu');
    return c.user + c.system;
  }

  async liveSessions(): Promise<number> {
    return (await this.ask('stats')).sessions;
  }

  /** Closes the IPC channel, on which the child exits normally (so a --cpu-prof is written); SIGKILL after 5 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.disconnect();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

/** Several gateway nodes (one cluster on Redis), seen as one server by the workloads. */
export class ServerGroup {
  private constructor(readonly members: ServerChild[]) {}

  static async start(nodes: number, opts: ServerOptions): Promise<ServerGroup> {
    const members: ServerChild[] = [];
    // One after the other: each node replays what the others already wrote.
    for (let i = 0; i < nodes; i++) members.push(await ServerChild.start(opts));
    return new ServerGroup(members);
  }

  get port(): number {
    return this.members[0]!.port;
  }

  get ports(): number[] {
    return this.members.map((m) => m.port);
  }

  /** CPU time of every node together, in microseconds. */
  async cpuMicros(): Promise<number> {
    let total = 0;
    for (const m of this.members) total += await m.cpuMicros();
    return total;
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => m.stop()));
  }
}
