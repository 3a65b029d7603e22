// Dequeues the object holds (src/guarantees/tenure/ explains why): while a newcomer whose acquireLock was
// refused has not enqueued yet, the core answers the holder's final empty dequeue with a time
// (Unix ms) instead of null. This keeps that reply pending and asks the core again, with the same
// arguments, whenever the key is written and at that time, until it answers an entry or null.
// Only the waiting lives here; every decision is the core's. A newcomer's acquireLock may be held
// the same way (while the holder of a restored tenure may only have its release left): its answer
// is then a lock or null.

export class HeldDequeues {
  readonly #waiting = new Map<string, Set<() => void>>();

  /** Something that may decide a held dequeue on `key` happened: ask again now. */
  written(key: string): void {
    const waiting = this.#waiting.get(key);
    if (!waiting) return;
    this.#waiting.delete(key);
    for (const wake of waiting) wake();
  }

  /** Waits until `ask` answers an entry or null; `first` is the time its first answer named. */
  async hold<T>(key: string, first: number, ask: () => T | number): Promise<T> {
    let answer: T | number = first;
    while (typeof answer === "number") {
      const until = answer;
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.#waiting.get(key)?.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, Math.max(0, until - Date.now()));
        let waiting = this.#waiting.get(key);
        if (!waiting) this.#waiting.set(key, (waiting = new Set()));
        waiting.add(wake);
      });
      answer = ask();
    }
    return answer as T;
  }
}
