/**
 * One holder at a time per key, in arrival order. Used by the in-process stores to make a
 * client's transactions run one after another (different keys never wait for each other).
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  /** Waits for the key, then returns the function that gives it up (call it exactly once). */
  async acquire(key: string): Promise<() => void> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let unlock!: () => void;
    const mine = new Promise<void>((resolve) => (unlock = resolve));
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    await previous;
    return () => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
      unlock();
    };
  }
}
