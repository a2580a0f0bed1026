// Runs async steps one after another, in the order they were handed in: each starts when
// the previous one has settled (a failed step does not stop the next).
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();
  /** Steps handed in and not yet settled. */
  private pending = 0;
  /** A step is running at once (`now`), inside its caller's turn. */
  private inline = false;
  /** Opened when that step is done: what was handed in while it ran waits behind it. */
  private gate: ((done: Promise<unknown> | undefined) => void) | undefined;
  private readonly settled = (): void => {
    this.pending -= 1;
  };

  /** Runs `step` after every step handed in before it; always a promise, and the step starts a turn later at the earliest. */
  run<T>(step: () => T | Promise<T>): Promise<T> {
    if (this.inline && this.gate === undefined) {
      this.tail = new Promise<unknown>((open) => (this.gate = open));
    }
    this.pending += 1;
    const run = this.tail.then(step, step);
    this.tail = run.then(this.settled, this.settled);
    return run;
  }

  /**
   * Like `run`, but when no step is running or waiting, `step` runs at once, and a step
   * that completes synchronously gives its value without any promise (a single gateway
   * runs most commands this way). A step that throws at once gives a rejected promise, as
   * with `run`.
   */
  now<T>(step: () => T | Promise<T>): T | Promise<T> {
    if (this.pending > 0 || this.inline) return this.run(step);
    this.pending += 1;
    this.inline = true;
    let value: T | Promise<T>;
    try {
      value = step();
    } catch (err) {
      value = Promise.reject(err);
    } finally {
      this.inline = false;
    }
    const gate = this.gate;
    this.gate = undefined;
    if (value instanceof Promise) {
      const done = value.then(this.settled, this.settled);
      if (gate) gate(done);
      else this.tail = done;
    } else {
      this.pending -= 1;
      gate?.(undefined);
    }
    return value;
  }
}
