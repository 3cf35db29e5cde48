/** Time as the scheduler sees it: injectable, so tests drive ticks without sleeping. */

export interface Clock {
  now(): Date;
  /** Resolves at `when` (at once if it is past), or as soon as `signal` aborts. */
  sleepUntil(when: Date, signal: AbortSignal): Promise<void>;
}

/** setTimeout only holds ~24.8 days; longer waits are taken in steps. */
const maxTimeout = 2 ** 31 - 1;

/** The real clock. */
export const systemClock: Clock = {
  now: () => new Date(),
  sleepUntil(when, signal) {
    return new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      let timer: NodeJS.Timeout;
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const arm = () => {
        const left = when.getTime() - Date.now();
        if (left <= 0) return done();
        timer = setTimeout(arm, Math.min(left, maxTimeout));
      };
      signal.addEventListener("abort", done, { once: true });
      arm();
    });
  },
};

/** A clock moved by hand (tests): `advance` wakes every sleeper whose time has come. */
export class ManualClock implements Clock {
  #now: Date;
  #sleepers: { when: Date; resolve: () => void }[] = [];
  #onSleep: (() => void)[] = [];

  constructor(start: Date) {
    this.#now = start;
  }

  now(): Date {
    return new Date(this.#now);
  }

  sleepUntil(when: Date, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal.aborted || when <= this.#now) return resolve();
      const sleeper = { when, resolve };
      this.#sleepers.push(sleeper);
      signal.addEventListener(
        "abort",
        () => {
          this.#sleepers = this.#sleepers.filter((s) => s !== sleeper);
          resolve();
        },
        { once: true },
      );
      for (const f of this.#onSleep.splice(0)) f();
    });
  }

  /** How many are asleep now. */
  get sleeping(): number {
    return this.#sleepers.length;
  }

  /** Resolves once at least `n` sleepers wait. */
  async untilSleeping(n: number): Promise<void> {
    while (this.#sleepers.length < n) await new Promise<void>((r) => this.#onSleep.push(r));
  }

  /** Moves time to `to` and wakes the sleepers due by then. */
  advance(to: Date): void {
    this.#now = to;
    const due = this.#sleepers.filter((s) => s.when <= to);
    this.#sleepers = this.#sleepers.filter((s) => s.when > to);
    for (const s of due) s.resolve();
  }
}
