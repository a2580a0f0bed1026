// Graceful shutdown in ordered phases, within one time bound. Any part of the gateway
// registers what it must do when the process stops; the phases make the order explicit:
//
//   release  stop accepting connections; answer every held poll; close WebSockets with
//            1001 (going away). Clients learn at once, and nothing of theirs is pending.
//   drain    wait for requests in flight (commands already running finish and are
//            answered); when the bound is near, cut the remaining connections.
//   engine   stop the engine (timers, sessions).
//   flush    flush and close durable stores: whatever a client was told succeeded is on
//            disk before the process exits.
//   final    release what is left (native resources, log buffers).
//
// Hooks of one phase run concurrently; a hook that fails or overruns is reported and the
// next phases still run (a stuck connection must not keep the store from being flushed).
import type http from 'node:http';
import type { Logger } from 'pino';

export const SHUTDOWN_PHASES = ['release', 'drain', 'engine', 'flush', 'final'] as const;
export type ShutdownPhase = (typeof SHUTDOWN_PHASES)[number];

export interface ShutdownHook {
  name: string;
  phase: ShutdownPhase;
  /** `deadline` is the time (Date.now()) by which the whole shutdown must be over. */
  run(deadline: number): Promise<void> | void;
}

export interface ShutdownReport {
  ok: boolean;
  ms: number;
  failed: string[];
  timedOut: string[];
}

/** Time kept for the phases after `drain` when waiting for requests in flight. */
export function drainBudget(deadline: number, timeoutMs: number, now = Date.now()): number {
  const reserve = Math.min(2000, Math.floor(timeoutMs / 4));
  return Math.max(0, deadline - reserve - now);
}

/** The HTTP requests being served, from their headers to their answer (the drain waits for them). */
export class RequestsInFlight {
  private count = 0;
  private readonly waiters = new Set<() => void>();

  constructor(server: http.Server) {
    server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
      this.count += 1;
      res.once('close', () => {
        this.count -= 1;
        if (this.count === 0) for (const w of [...this.waiters]) w();
      });
    });
  }

  get size(): number {
    return this.count;
  }

  /** Resolves true once none is in flight, false after `ms`. */
  none(ms: number): Promise<boolean> {
    if (this.count === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const done = (v: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(onNone);
        resolve(v);
      };
      const onNone = () => done(true);
      const timer = setTimeout(() => done(false), Math.max(0, ms));
      this.waiters.add(onNone);
    });
  }
}

export class ShutdownRegistry {
  private readonly hooks: ShutdownHook[] = [];
  private running: Promise<ShutdownReport> | undefined;
  private started = false;
  private readonly listeners = new Set<() => void>();

  /** True from the moment shutdown starts: readiness fails, polls are no longer held. */
  get shuttingDown(): boolean {
    return this.started;
  }

  /** Adds a hook; returns a function that removes it (for parts that stop on their own). */
  register(name: string, phase: ShutdownPhase, run: (deadline: number) => Promise<void> | void): () => void {
    const hook: ShutdownHook = { name, phase, run };
    this.hooks.push(hook);
    return () => {
      const i = this.hooks.indexOf(hook);
      if (i >= 0) this.hooks.splice(i, 1);
    };
  }

  /** Called synchronously when shutdown starts, before any hook runs. */
  onStart(listener: () => void): void {
    this.listeners.add(listener);
  }

  names(phase: ShutdownPhase): string[] {
    return this.hooks.filter((h) => h.phase === phase).map((h) => h.name);
  }

  /** Runs every phase once (later calls get the same report). */
  run(timeoutMs: number, logger?: Logger): Promise<ShutdownReport> {
    if (!this.running) {
      this.started = true;
      this.running = this.runPhases(timeoutMs, logger);
    }
    return this.running;
  }

  private async runPhases(timeoutMs: number, logger?: Logger): Promise<ShutdownReport> {
    const started = Date.now();
    const deadline = started + timeoutMs;
    for (const l of this.listeners) l();
    const failed: string[] = [];
    const timedOut: string[] = [];
    for (const phase of SHUTDOWN_PHASES) {
      const hooks = this.hooks.filter((h) => h.phase === phase);
      await Promise.all(
        hooks.map(async (hook) => {
          // The final phase always runs, however late: it frees resources and flushes logs.
          const left = phase === 'final' ? Math.max(1000, deadline - Date.now()) : deadline - Date.now();
          const outcome = await withTimeout(Promise.resolve().then(() => hook.run(deadline)), left);
          if (outcome === 'timeout') {
            timedOut.push(hook.name);
            logger?.error({ hook: hook.name, phase }, 'shutdown step did not finish in time');
          } else if (outcome !== 'ok') {
            failed.push(hook.name);
            logger?.error({ hook: hook.name, phase, err: outcome.error }, 'shutdown step failed');
          }
        }),
      );
      logger?.debug({ phase, hooks: hooks.map((h) => h.name), ms: Date.now() - started }, 'shutdown phase done');
    }
    // A stuck drain is expected under load (its connections were cut); stuck flushes are not.
    const critical = [...failed, ...timedOut.filter((n) => !this.names('release').includes(n) && !this.names('drain').includes(n))];
    return { ok: critical.length === 0, ms: Date.now() - started, failed, timedOut };
  }
}

async function withTimeout(p: Promise<unknown>, ms: number): Promise<'ok' | 'timeout' | { error: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), Math.max(0, ms));
  });
  try {
    return await Promise.race([p.then(() => 'ok' as const, (error: unknown) => ({ error })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
