// Every frame a client sends on a WebSocket costs the gateway work (acks included, and
// frames it can only refuse), so every frame counts against the socket's budget: a token
// bucket of --ws-frame-burst tokens refilled at --ws-frame-rate per second. Past it the
// gateway stops reading the socket until tokens are back (TCP pushes back on the client);
// the frames that had already arrived with the last one wait in order and are handled as
// tokens come back. Nothing is dropped and nothing is answered differently: a flooding
// client only slows itself down, and the server's work per socket stays bounded.
// Measured on the monotonic clock: it paces CPU, not protocol time.
import { performance } from 'node:perf_hooks';

export interface FrameBudgetSpec {
  /** Frames per second; 0 turns the budget off. */
  ratePerS: number;
  /** Frames accepted at once. */
  burst: number;
}

const monotonic = (): number => performance.now();

export class FrameBudget {
  private tokens: number;
  private at: number;

  constructor(
    private readonly spec: FrameBudgetSpec,
    private readonly now: () => number = monotonic,
  ) {
    this.tokens = spec.burst;
    this.at = this.now();
  }

  get enabled(): boolean {
    return this.spec.ratePerS > 0;
  }

  /** Takes one token; false when none is left. */
  take(): boolean {
    if (!this.enabled) return true;
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until a token is back (0 when one is there). */
  msUntilToken(): number {
    if (!this.enabled) return 0;
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / this.spec.ratePerS);
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.spec.burst, this.tokens + ((now - this.at) / 1000) * this.spec.ratePerS);
    this.at = now;
  }
}
