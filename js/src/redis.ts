// tessera-edge/redis: the shared store for an app that runs as several Node
// processes, on the `redis` client (node-redis 4 and later) the app already
// has. Revocations are keys with a TTL plus a pub/sub channel; refresh
// single-flight is `SET NX PX` with the leader's result published to the
// waiters of every process (and kept for the replay window); one-time ids
// are `SET NX EX`. node-redis needs Node's sockets: Next.js middleware on the
// edge runtime and Cloudflare Workers cannot use it (docs/revocation.md says
// what they use instead).
import type { TesseraStore } from './types.js';

/**
 * What Tessera uses of a node-redis client (`createClient()` from `redis`,
 * connected): raw commands, and a duplicate connection for subscriptions.
 * Give the client an `error` listener, as node-redis asks of every client.
 */
export interface RedisClientLike {
  sendCommand(args: string[]): Promise<unknown>;
  duplicate(): RedisSubscriberLike;
}

/** The subscriber connection (`client.duplicate()`). */
export interface RedisSubscriberLike {
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  unsubscribe(channel: string, listener?: (message: string) => void): Promise<unknown>;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  /** node-redis 5 and later. */
  close?(): Promise<unknown>;
  /** node-redis 4. */
  quit?(): Promise<unknown>;
}

export interface RedisStoreOptions {
  /** A connected node-redis client. */
  client: RedisClientLike;
  /**
   * Prepended to every key and channel. Default `tessera:`. Apps sharing one
   * Redis need one prefix each (one issuer and cookie keyring per prefix).
   */
  prefix?: string;
  /**
   * How long one command may take before the store counts as down, in
   * milliseconds. Default 1000: node-redis queues commands while it
   * reconnects, and a request must not wait for that.
   */
  timeoutMs?: number;
}

/** Creates the shared store on a node-redis client: `createTessera(config, { store })`. */
export function createRedisStore(options: RedisStoreOptions): RedisStore {
  return new RedisStore(options);
}

/** Deletes the lock only if this process still holds it. */
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/** `TesseraStore` on Redis. */
export class RedisStore implements TesseraStore {
  readonly #client: RedisClientLike;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  #subscriber: Promise<RedisSubscriberLike> | null = null;
  /** Called when the subscriber is back after a loss. */
  readonly #resyncs: (() => void)[] = [];

  constructor(options: RedisStoreOptions) {
    this.#client = options.client;
    this.#prefix = options.prefix ?? 'tessera:';
    this.#timeoutMs = options.timeoutMs ?? 1000;
  }

  #command(args: string[]): Promise<unknown> {
    return this.#withTimeout(this.#client.sendCommand(args));
  }

  async get(key: string): Promise<string | undefined> {
    const value = await this.#command(['GET', this.#prefix + key]);
    return typeof value === 'string' ? value : undefined;
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    await this.#command(['SET', this.#prefix + key, value, 'EX', String(Math.max(1, Math.ceil(ttlSeconds)))]);
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    const reply = await this.#command(['SET', this.#prefix + key, value, 'NX', 'EX', String(Math.max(1, Math.ceil(ttlSeconds)))]);
    return reply === 'OK';
  }

  async lock(
    key: string,
    options: { holdSeconds: number; keepSeconds: number; waitMs: number },
    work: () => Promise<{ value: string; keep: boolean }>,
  ): Promise<{ value: string | undefined; role: 'hit' | 'lead' | 'join' }> {
    const kept = await this.get(`${key}:result`);
    if (kept !== undefined) return { value: kept, role: 'hit' };
    const token = crypto.randomUUID();
    const lockKey = `${this.#prefix}${key}:lock`;
    const taken = await this.#command(['SET', lockKey, token, 'NX', 'PX', String(options.holdSeconds * 1000)]);
    if (taken !== 'OK') return { value: await this.#wait(key, options.waitMs), role: 'join' };
    const { value, keep } = await work();
    // The work is done: a store failure from here on only costs the waiters
    // (they answer 503 and retry), never this request its result.
    try {
      if (keep) await this.set(`${key}:result`, value, options.keepSeconds);
      await this.#command(['PUBLISH', `${this.#prefix}${key}`, value]);
      await this.#command(['EVAL', RELEASE, '1', lockKey, token]);
    } catch {
      // Counted by nobody here: the waiters see it.
    }
    return { value, role: 'lead' };
  }

  /** Waits for the lock holder's result: published, or kept (if it came before we listened). */
  async #wait(key: string, waitMs: number): Promise<string | undefined> {
    const subscriber = await this.#subscriberConnection();
    const channel = `${this.#prefix}${key}`;
    let listener: (message: string) => void = () => {};
    let timer: ReturnType<typeof setTimeout> | undefined;
    const published = new Promise<string | undefined>((resolve) => {
      listener = resolve;
      timer = setTimeout(() => resolve(undefined), waitMs);
    });
    try {
      await this.#withTimeout(subscriber.subscribe(channel, listener));
      const kept = await this.get(`${key}:result`);
      return kept ?? (await published);
    } finally {
      clearTimeout(timer);
      subscriber.unsubscribe(channel, listener).catch(() => {});
    }
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.#command(['PUBLISH', this.#prefix + channel, message]);
  }

  async subscribe(channel: string, listener: (message: string) => void, onResync: () => void): Promise<void> {
    const subscriber = await this.#subscriberConnection();
    await this.#withTimeout(subscriber.subscribe(this.#prefix + channel, listener));
    this.#resyncs.push(onResync);
  }

  async scan(prefix: string): Promise<string[]> {
    const values: string[] = [];
    let cursor = '0';
    do {
      const reply = await this.#command(['SCAN', cursor, 'MATCH', `${this.#prefix}${prefix}*`, 'COUNT', '1000']);
      const [next, keys] = reply as [string, string[]];
      cursor = String(next);
      if (keys.length > 0) {
        const found = (await this.#command(['MGET', ...keys])) as (string | null)[];
        for (const v of found) if (typeof v === 'string') values.push(v);
      }
    } while (cursor !== '0');
    return values;
  }

  /** Closes the subscriber connection (the client is the app's to close). */
  async close(): Promise<void> {
    const pending = this.#subscriber;
    this.#subscriber = null;
    if (!pending) return;
    const subscriber = await pending.catch(() => null);
    if (!subscriber) return;
    await (subscriber.close ? subscriber.close() : subscriber.quit?.())?.catch(() => {});
  }

  #withTimeout<T>(work: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`redis: no answer within ${this.#timeoutMs} ms`)), this.#timeoutMs);
    });
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  }

  /** The one subscriber connection, made on first use; a failed attempt is retried next time. */
  #subscriberConnection(): Promise<RedisSubscriberLike> {
    if (!this.#subscriber) {
      const subscriber = this.#client.duplicate();
      let ready = 0;
      subscriber.on('error', () => {
        // Reconnection is node-redis's; the store's callers see failures as rejections.
      });
      subscriber.on('ready', () => {
        ready++;
        if (ready > 1) for (const resync of this.#resyncs) resync();
      });
      this.#subscriber = this.#withTimeout(subscriber.connect()).then(
        () => subscriber,
        (e: unknown) => {
          this.#subscriber = null;
          void (subscriber.close ? subscriber.close() : subscriber.quit?.())?.catch(() => {});
          throw e;
        },
      );
    }
    return this.#subscriber;
  }
}
