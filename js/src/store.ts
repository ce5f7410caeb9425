// The default store: this process's memory. Tessera's engine already keeps
// revocations, the refresh single-flight and the replay window in its own
// memory, so a single process needs nothing more (`shared: false`: Tessera
// skips the store). The operations are implemented all the same, as the
// reference a shared backend (tessera-edge/redis) is tested against.
import type { TesseraStore } from './types.js';

interface Held {
  value: string;
  until: number;
}

/** `TesseraStore` in this process's memory (the default). */
export class MemoryStore implements TesseraStore {
  readonly shared = false;
  readonly #values = new Map<string, Held>();
  readonly #waiters = new Map<string, ((value: string) => void)[]>();
  readonly #listeners = new Map<string, ((message: string) => void)[]>();
  readonly #now: () => number;

  /** `now`: the clock in milliseconds (default `Date.now`). */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  #live(key: string): Held | undefined {
    const held = this.#values.get(key);
    if (held && held.until <= this.#now()) {
      this.#values.delete(key);
      return undefined;
    }
    return held;
  }

  get(key: string): Promise<string | undefined> {
    return Promise.resolve(this.#live(key)?.value);
  }

  set(key: string, value: string, ttlSeconds: number): Promise<void> {
    this.#values.set(key, { value, until: this.#now() + ttlSeconds * 1000 });
    return Promise.resolve();
  }

  setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    if (this.#live(key)) return Promise.resolve(false);
    this.#values.set(key, { value, until: this.#now() + ttlSeconds * 1000 });
    return Promise.resolve(true);
  }

  async lock(
    key: string,
    options: { holdSeconds: number; keepSeconds: number; waitMs: number },
    work: () => Promise<{ value: string; keep: boolean }>,
  ): Promise<{ value: string | undefined; role: 'hit' | 'lead' | 'join' }> {
    const kept = this.#live(`${key}:result`);
    if (kept) return { value: kept.value, role: 'hit' };
    if (!(await this.setIfAbsent(`${key}:lock`, '1', options.holdSeconds))) {
      const value = await new Promise<string | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), options.waitMs);
        const list = this.#waiters.get(key) ?? [];
        list.push((v) => { clearTimeout(timer); resolve(v); });
        this.#waiters.set(key, list);
      });
      return { value, role: 'join' };
    }
    try {
      const { value, keep } = await work();
      if (keep) await this.set(`${key}:result`, value, options.keepSeconds);
      for (const wake of this.#waiters.get(key) ?? []) wake(value);
      return { value, role: 'lead' };
    } finally {
      this.#waiters.delete(key);
      this.#values.delete(`${key}:lock`);
    }
  }

  publish(channel: string, message: string): Promise<void> {
    for (const listener of this.#listeners.get(channel) ?? []) listener(message);
    return Promise.resolve();
  }

  subscribe(channel: string, listener: (message: string) => void): Promise<void> {
    const list = this.#listeners.get(channel) ?? [];
    list.push(listener);
    this.#listeners.set(channel, list);
    return Promise.resolve();
  }

  scan(prefix: string): Promise<string[]> {
    const out: string[] = [];
    for (const key of [...this.#values.keys()]) {
      if (key.startsWith(prefix)) {
        const held = this.#live(key);
        if (held) out.push(held.value);
      }
    }
    return Promise.resolve(out);
  }
}
