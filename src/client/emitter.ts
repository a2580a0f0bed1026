// A minimal typed listener list (no Node EventEmitter, so the client runs in browsers).
// A listener that throws does not stop the others; its error goes to `onError`.

export type Unsubscribe = () => void;

export class Listeners<T extends unknown[]> {
  private readonly fns = new Set<(...args: T) => void>();

  constructor(private readonly onError: (err: unknown) => void = (err) => console.error('cwa-client: listener failed', err)) {}

  add(fn: (...args: T) => void): Unsubscribe {
    this.fns.add(fn);
    return () => this.fns.delete(fn);
  }

  emit(...args: T): void {
    for (const fn of [...this.fns]) {
      try {
        fn(...args);
      } catch (err) {
        this.onError(err);
      }
    }
  }

  get size(): number {
    return this.fns.size;
  }
}
