// Runs async steps one after another, in the order they were handed in: each starts when
// the previous one has settled (a failed step does not stop the next).
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(step: () => T | Promise<T>): Promise<T> {
    const run = this.tail.then(step, step);
    this.tail = run.catch(() => undefined);
    return run;
  }
}
