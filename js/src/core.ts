// The host around the sans-IO engine (crates/node-binding): it does every
// fetch, the clock, randomness and native signature checks, and feeds the
// results back until the engine decides. Runtime-neutral: only the Fetch API,
// `crypto.getRandomValues` and WebAssembly. The entry points (node.ts,
// workerd.ts, browser.ts) load the WebAssembly and pick the signature backend.
import {
  type AuthenticateOptions,
  type AuthResult,
  type ConfigWarning,
  type Algorithm,
  type Identity,
  type JwksCacheStore,
  type TesseraConfig,
  REASONS,
  TesseraConfigError,
  type TesseraEvent,
  type TesseraOptions,
  type TesseraReason,
  type TesseraStatus,
  type TesseraStore,
  type RevokeTarget,
  type StoreStats,
  type VerifyResult,
} from './types.js';

/**
 * A raw signature check the engine hands to the host. In a synchronous check
 * the byte arrays are views of the engine's memory, valid during the call
 * only: read them before returning, copy what you keep.
 */
export interface SignatureCheck {
  alg: Algorithm;
  /** Stable name of the key (hex SHA-256 of `spki`), for caching imported keys. */
  keyId: string;
  /** The key as DER SubjectPublicKeyInfo. */
  spki: Uint8Array<ArrayBuffer>;
  signingInput: Uint8Array<ArrayBuffer>;
  /** ES256: raw `r ‖ s` (IEEE P1363), as WebCrypto expects. */
  signature: Uint8Array<ArrayBuffer>;
}

/**
 * A native signature backend: the algorithms it checks and how. A synchronous
 * one (`node:crypto`) is called from inside the engine, mid-verification; an
 * asynchronous one (WebCrypto) is driven through `verify` steps, and may
 * resolve `undefined` when the runtime cannot check the algorithm at all (a
 * WebCrypto without `Ed25519`): the engine then checks it in WebAssembly, that
 * token and every later one of its algorithm.
 */
export type SignatureBackend =
  | { readonly algorithms: readonly Algorithm[]; readonly sync: true; verify(check: SignatureCheck): boolean }
  | { readonly algorithms: readonly Algorithm[]; readonly sync: false; verify(check: SignatureCheck): Promise<boolean | undefined> };

/** The synchronous check as the engine calls it. */
type SyncCheck = (alg: Algorithm, keyId: string, spki: Uint8Array<ArrayBuffer>, signingInput: Uint8Array<ArrayBuffer>, signature: Uint8Array<ArrayBuffer>) => boolean;

/** The generated wasm-bindgen class (crates/node-binding), as this host uses it. */
export interface WasmCore {
  handle(method: string, url: string, headers: string[], now: number, random: Uint8Array): Step;
  /** `token` undefined: the token of the last `verifyRemembered` that returned undefined. */
  verifyToken(token: string | undefined, now: number): Step;
  verifyRemembered(token: string, now: number): Identity | undefined;
  resumeResponse(id: number, status: number, cacheControl: string | undefined, body: Uint8Array, now: number, random: Uint8Array): Step;
  resumeFailed(id: number, why: string, now: number, random: Uint8Array): Step;
  /** `valid` undefined: the host cannot check this algorithm (the engine does, from now on). */
  resumeSignature(id: number, valid: boolean | undefined, now: number, random: Uint8Array): Step;
  refreshBegin(id: number, now: number, random: Uint8Array): Step | Flight;
  refreshFinish(id: number, status: number, body: Uint8Array, failed: string | undefined, now: number, random: Uint8Array): { outcome: string; step: Step };
  resumeTokens(id: number, outcome: string | undefined, now: number, random: Uint8Array): Step;
  resumeBody(id: number, body: Uint8Array, now: number, random: Uint8Array): Step;
  resumeStored(id: number, result: boolean, error: string | undefined, now: number, random: Uint8Array): Step;
  /** One JSON record per line. */
  revokedAll(records: string, now: number): number;
  revoke(kind: string, value: string, now: number): StoreRecord;
  setRevocationsUnknownSince(since: number | undefined): void;
  revocationStats(): Float64Array;
  forget(id: number): void;
  pendingCount(): number;
  snapshot(): string;
  readonly warnings: ConfigWarning[];
  restore(snapshot: string, now: number): void;
  stripCookies(cookieHeader: string): string;
  classify(method: string, url: string): 'public' | 'page' | 'api' | 'invalid';
  requiringRule(method: string, url: string): number;
}

export interface WasmCoreClass {
  new (config: string, hostAlgorithms: string[], check: SyncCheck | undefined): WasmCore;
}

interface HttpRequest {
  method: 'GET' | 'POST';
  url: string;
  headers: [string, string][];
  body: string | null;
  timeoutMs: number;
  maxBytes: number;
  /** Concurrent requests with this key may share one call (one introspection per token). */
  share: string | null;
}

interface Decision {
  status: TesseraStatus;
  reason: TesseraReason | null;
  message: string | null;
  retryable: boolean;
  identity: Identity | null;
  forward: [string, string][] | null;
  forwardRemove: string[];
  forwardBody: boolean;
  respond: { status: number; headers: [string, string][]; body: string } | null;
  responseHeaders: [string, string][];
  event: TesseraEvent;
  background: Step[];
}

/** How a `verifyToken` ends: the verdict alone (no headers, no event). */
interface Verdict {
  kind: 'verdict';
  identity: Identity | null;
  reason: TesseraReason | null;
  message: string | null;
  retryable: boolean;
  /** HTTP fetches made on the way: the key set is persisted when some were. */
  fetches: number;
  background: Step[];
}

/**
 * A signature check for the host: `bytes` holds the key's SPKI, the signing
 * input and the signature, one after the other (one array crosses, not three).
 */
interface VerifyStep {
  kind: 'verify';
  id: number;
  alg: Algorithm;
  keyId: string;
  spkiLength: number;
  signingInputLength: number;
  bytes: Uint8Array<ArrayBuffer>;
}

/** A revocation to keep under `key` for `ttl` seconds and publish as `record`. */
interface StoreRecord {
  key: string;
  ttl: number;
  record: string;
}

type StoreOp =
  | { kind: 'once'; key: string; ttl: number }
  | { kind: 'revoke'; records: StoreRecord[] };

type Step =
  | { kind: 'done'; decision: Decision }
  | Verdict
  | { kind: 'fetch'; id: number; request: HttpRequest }
  | { kind: 'refresh'; id: number; request: HttpRequest }
  | VerifyStep
  | { kind: 'body'; id: number; limit: number }
  | { kind: 'store'; id: number; op: StoreOp }
  | { kind: 'idle' }
  | { kind: 'gone'; id: number };

/** Reads a request's body, at most `limit` bytes and one more. */
type BodyReader = (limit: number) => Promise<Uint8Array>;

/** Store keys and channels (a backend may prefix them). */
const REVOKED = 'rev:';
const REVOCATIONS = 'revocations';

/** How often a process that could not load the revocations tries again, in seconds. */
const RELOAD_AFTER = 5;

interface Flight {
  kind: 'lead' | 'join';
  key: string;
  /** Seals the outcome in a shared store (base64url; derived from the refresh token). */
  secret: string;
}

type Fetched =
  | { ok: true; status: number; cacheControl: string | undefined; body: Uint8Array }
  | { ok: false; why: string };

/** How long a request waits for another one's refresh before answering 503. */
const JOIN_GIVE_UP_MS = 7_000;

/** How long a refresh leader may hold the shared lock (the core's LEAD_TIMEOUT). */
const LEAD_TIMEOUT = 15;

const EMPTY = new Uint8Array(0);

/**
 * Whether `name` (lower case) is one of Tessera's identity headers, `_` read
 * as `-` (CGI, WSGI and PHP origins map `x_tessera_user` like `x-tessera-user`).
 */
export function isIdentityHeader(name: string): boolean {
  return name.replaceAll('_', '-').startsWith('x-tessera-');
}

/** Headers that describe a body, dropped with it. */
const BODY_HEADERS = new Set(['content-length', 'content-type', 'transfer-encoding']);

/**
 * What the framework adapters accept: a Tessera, or the promise `createTessera`
 * returns (so a module can create it at load time without a top-level await).
 */
export type TesseraSource = Tessera | Promise<Tessera>;

/** Tessera for one app: verify tokens, authenticate requests. Create with `createTessera`. */
export class Tessera {
  readonly #core: WasmCore;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #signatures: SignatureBackend | null;
  readonly #jwksStore: JwksCacheStore | undefined;
  readonly #jwksKey: string;
  /**
   * Revocations, refresh single-flight and the replay window across
   * processes; `null` for one process, whose engine's memory holds them.
   */
  readonly #store: TesseraStore | null;
  readonly #replayWindow: number;
  readonly #stats = { hit: 0, miss: 0, revoked: 0, storeError: 0 };
  /** Whether this process holds every revocation (always, without a shared store). */
  #revocationsLoaded: boolean;
  #subscribed = false;
  /** When loading them was last tried (seconds). */
  #loadTried = 0;
  /** A reload after the subscription came back failed: what it missed is still to load. */
  #resyncPending = false;
  #loading: Promise<void> | null = null;
  #saved = '';
  /** In-flight GETs (discovery, key set), shared by concurrent requests. */
  readonly #gets = new Map<string, Promise<Fetched>>();
  /** In-flight refreshes by flight key; resolve to the outcome JSON. */
  readonly #refreshes = new Map<string, Promise<string | undefined>>();

  /** @internal Use `createTessera`. */
  constructor(Core: WasmCoreClass, config: TesseraConfig, options: TesseraOptions, signatures: SignatureBackend | null) {
    const useNative = (options.signatures ?? 'native') === 'native' && signatures !== null;
    this.#signatures = useNative ? signatures : null;
    try {
      const algorithms = useNative ? [...signatures.algorithms] : [];
      const check: SyncCheck | undefined = useNative && signatures.sync
        ? (alg, keyId, spki, signingInput, signature) => signatures.verify({ alg, keyId, spki, signingInput, signature })
        : undefined;
      this.#core = new Core(JSON.stringify(config), algorithms, check);
    } catch (e) {
      if (e && typeof e === 'object' && 'field' in e && 'message' in e) {
        throw new TesseraConfigError(String(e.field), String(e.message));
      }
      throw e;
    }
    const f = options.fetch ?? globalThis.fetch;
    this.#fetch = f.bind(globalThis) as typeof fetch;
    this.#now = options.now ?? Date.now;
    this.#jwksStore = options.jwksCache;
    this.#jwksKey = `tessera:jwks:${config.issuer}`;
    this.#store = options.store ?? null;
    this.#replayWindow = config.replayWindow ?? 30;
    // Until the shared store's revocations are loaded, sessions and tokens
    // from before this process started cannot be cleared.
    this.#revocationsLoaded = this.#store === null;
    if (this.#store) this.#core.setRevocationsUnknownSince(this.#seconds());
    this.warnings = Object.freeze(this.#core.warnings.map((w) => Object.freeze(w)));
    const warn = options.onWarning ?? ((w: ConfigWarning) => console.warn(`tessera: configuration warning: ${w.field}: ${w.message}`));
    for (const w of this.warnings) warn(w);
  }

  /**
   * What in this valid configuration deserves a second look (a public default
   * under protective rules, no audience, a short forward secret): each names
   * the field and what to set. Also passed to `options.onWarning` at creation.
   */
  readonly warnings: readonly ConfigWarning[];

  /** @internal Restores the persisted key set, if a store is configured. */
  async restore(): Promise<void> {
    await this.#loadRevocations();
    if (!this.#jwksStore) return;
    try {
      const saved = await this.#jwksStore.get(this.#jwksKey);
      if (typeof saved === 'string' && saved) {
        this.#core.restore(saved, this.#seconds());
        this.#saved = saved;
      }
    } catch {
      // An unreachable store only costs a fetch.
    }
  }

  /**
   * Verifies a bearer token (no cookies, no request): `{ valid: true, identity,
   * claims }` or `{ valid: false, reason, message, retryable }`. `retryable` is
   * true for outages (key set unreachable), never for bad tokens. `identity`
   * (and `claims`, which is `identity.claims`) is frozen: a repeat of the same
   * token returns the same object.
   */
  async verify(token: string): Promise<VerifyResult> {
    if (typeof token !== 'string' || token === '') {
      return { valid: false, reason: 'token-missing', message: 'no token was given', retryable: false };
    }
    // A repeat token: one memo lookup in the engine, which hands back the
    // identity object it built for this token before (no decision, no copy).
    // A new one: the engine kept the token, `verifyToken` verifies it.
    const now = this.#seconds(); // read once: nothing runs between the two calls
    const remembered = this.#core.verifyRemembered(token, now);
    if (remembered !== undefined) return verified(remembered);
    let step = this.#core.verifyToken(undefined, now);
    // A host signature check, the one suspension of a new token once the keys
    // are loaded, is awaited here rather than through `#drive`, whose async
    // frames cost a few turns of the microtask queue per token.
    if (step.kind === 'verify') step = this.#resumeSignature(step, await this.#check(step));
    const verdict = step.kind === 'verdict' ? this.#ended(step) : await this.#drive(step);
    if (verdict.kind !== 'verdict') throw new Error('tessera: verifyToken ended without a verdict');
    if (verdict.identity) return verified(verdict.identity);
    return {
      valid: false,
      reason: verdict.reason ?? 'token-malformed',
      message: verdict.message ?? 'the token was refused',
      retryable: verdict.retryable,
    };
  }

  /**
   * Authenticates a Fetch API request by its session cookies or bearer token,
   * refreshing an expired session through the provider, and answers Tessera's
   * endpoints (`/__tessera/sign-in`, `callback`, `refresh`, `session`,
   * `sign-out`). Use `response` when set; otherwise pass the request on with
   * `forwardRequest` and add `headers` to your response (`withHeaders`).
   */
  async authenticateRequest(request: Request, options?: AuthenticateOptions): Promise<AuthResult> {
    const headers: string[] = [];
    request.headers.forEach((value, name) => { headers.push(name, value); });
    const target = options?.target ?? request.url;
    this.#retryRevocations();
    const step = this.#core.handle(request.method, target, headers, this.#seconds(), random());
    const end = await this.#drive(step, options?.body ?? ((limit) => readCapped(request, limit + 1)));
    if (end.kind !== 'done') throw new Error('tessera: a request ended without a decision');
    const d = end.decision;
    const out = new Headers();
    for (const [n, v] of d.responseHeaders) out.append(n, v);
    let response: Response | null = null;
    if (d.respond) {
      const h = new Headers(d.respond.headers);
      for (const [n, v] of d.responseHeaders) {
        if (n === 'set-cookie') h.append(n, v);
        else h.set(n, v);
      }
      const empty = d.respond.body === '' || [204, 205, 304].includes(d.respond.status);
      response = new Response(empty ? null : d.respond.body, { status: d.respond.status, headers: h });
    }
    if (d.event.store === 'revoked') this.#stats.revoked++;
    return {
      status: d.status,
      reason: d.reason,
      message: d.message,
      retryable: d.retryable,
      identity: d.identity && frozen(d.identity),
      forwardHeaders: d.forward ? new Headers(d.forward) : null,
      forwardRemove: Object.freeze(d.forwardRemove),
      forwardBody: d.forwardBody,
      headers: out,
      response,
      event: d.event,
    };
  }

  /**
   * The headers to pass on after `authenticateRequest` forwarded a request:
   * the request's own, less incoming `x-tessera-*` headers, Tessera's cookies
   * and `result.forwardRemove` (an unverified `authorization`), plus the
   * identity headers (`authorization`, `x-tessera-user`, …).
   */
  forwardHeaders(request: Request, result: AuthResult): Headers {
    const headers = new Headers();
    const bodyless = !result.forwardBody;
    request.headers.forEach((value, name) => {
      if (isIdentityHeader(name) || result.forwardRemove.includes(name)) return;
      if (bodyless && BODY_HEADERS.has(name)) return;
      headers.append(name, value);
    });
    const cookie = headers.get('cookie');
    if (cookie !== null) {
      const rest = this.#core.stripCookies(cookie);
      if (rest) headers.set('cookie', rest);
      else headers.delete('cookie');
    }
    result.forwardHeaders?.forEach((value, name) => { headers.set(name, value); });
    return headers;
  }

  /**
   * The request to pass on (to an origin with `fetch`, or your handler) after
   * `authenticateRequest` forwarded it, with `forwardHeaders`. The body is
   * passed through as a stream, not read (and dropped for a CORS preflight).
   */
  forwardRequest(request: Request, result: AuthResult): Request {
    const headers = this.forwardHeaders(request, result);
    if (result.forwardBody) return new Request(request, { headers });
    return new Request(request.url, { method: request.method, headers, redirect: request.redirect, signal: request.signal });
  }

  /**
   * @internal What the route of `method` and `target` requires, by the rules
   * `authenticateRequest` applies, deciding nothing (`invalid`: a target the
   * engine refuses). For adapters that must check a second spelling.
   */
  routeAccess(method: string, target: string): 'public' | 'page' | 'api' | 'invalid' {
    return this.#core.classify(method, target);
  }

  /**
   * @internal The route rule deciding `method` and `target` when it has
   * requirements (`routes[].require`), else -1: an identity admitted on one
   * spelling was checked against no other rule's requirements.
   */
  routeRequirements(method: string, target: string): number {
    return this.#core.requiringRule(method, target);
  }

  /** Adds Tessera's response headers (`Set-Cookie`, `x-tessera-*`) to `headers`. */
  static addHeaders(headers: Headers, result: AuthResult): void {
    result.headers.forEach((value, name) => {
      if (name !== 'set-cookie') headers.set(name, value);
    });
    for (const c of result.headers.getSetCookie()) headers.append('set-cookie', c);
  }

  /** A copy of `response` with Tessera's response headers added (`addHeaders`). */
  static withHeaders(response: Response, result: AuthResult): Response {
    const out = new Response(response.body, response);
    Tessera.addHeaders(out.headers, result);
    return out;
  }

  /** @internal Suspended requests (a leak check for tests). */
  get pendingCount(): number {
    return this.#core.pendingCount();
  }

  #seconds(): number {
    return Math.floor(this.#now() / 1000);
  }

  /** Runs a request's steps to its end: a decision, or a verdict for `verifyToken`. */
  async #drive(first: Step, body?: BodyReader): Promise<Extract<Step, { kind: 'done' | 'verdict' }>> {
    let step: Step = first;
    for (;;) {
      switch (step.kind) {
        case 'done':
        case 'verdict':
          return this.#ended(step);
        case 'fetch':
        case 'refresh':
        case 'verify':
        case 'body':
        case 'store':
          step = await this.#advance(step, body);
          break;
        default:
          // `idle` and `gone` never follow a request's own steps.
          throw new Error(`tessera: unexpected step ${step.kind}`);
      }
    }
  }

  /** After a request: starts its revalidations, persists fetched keys. */
  #ended<T extends Extract<Step, { kind: 'done' | 'verdict' }>>(end: T): T {
    const background = end.kind === 'done' ? end.decision.background : end.background;
    const fetches = end.kind === 'done' ? end.decision.event.fetches : end.fetches;
    if (background.length) void this.#background(background);
    if (fetches > 0) this.#persist();
    return end;
  }

  /** Does what one suspended step asks; on a host failure the engine forgets it. */
  async #advance(step: Extract<Step, { id: number }>, body?: BodyReader): Promise<Step> {
    try {
      switch (step.kind) {
        case 'fetch': {
          const r = await this.#get(step.request);
          return r.ok
            ? this.#core.resumeResponse(step.id, r.status, r.cacheControl, r.body, this.#seconds(), random())
            : this.#core.resumeFailed(step.id, r.why, this.#seconds(), random());
        }
        case 'verify':
          return this.#resumeSignature(step, await this.#check(step));
        case 'refresh':
          return await this.#refresh(step);
        case 'body': {
          const bytes = body ? await body(step.limit).catch(() => EMPTY) : EMPTY;
          return this.#core.resumeBody(step.id, bytes, this.#seconds(), random());
        }
        case 'store':
          return await this.#storeOp(step);
        default:
          throw new Error(`tessera: request ${step.id} is not suspended`);
      }
    } catch (e) {
      this.#core.forget(step.id);
      throw e;
    }
  }

  /**
   * The host's signature check of a `verify` step: `undefined` if the backend
   * cannot check the algorithm, else whether it verified (`false` if it
   * throws: a key the runtime refuses never verifies).
   */
  #check(step: VerifyStep): Promise<boolean | undefined> {
    try {
      return Promise.resolve(this.#signatures?.verify(checkOf(step))).then((v) => (v === undefined ? v : v === true), () => false);
    } catch {
      return Promise.resolve(false);
    }
  }

  /** Continues a `verify` step with the host's verdict; on a host failure the engine forgets it. */
  #resumeSignature(step: VerifyStep, valid: boolean | undefined): Step {
    try {
      return this.#core.resumeSignature(step.id, valid, this.#seconds(), random());
    } catch (e) {
      this.#core.forget(step.id);
      throw e;
    }
  }

  /** Runs background revalidations to completion (errors only cost a later fetch). */
  async #background(steps: Step[]): Promise<void> {
    await Promise.all(steps.map(async (s) => {
      let step = s;
      try {
        while (step.kind === 'fetch' || step.kind === 'verify' || step.kind === 'refresh') step = await this.#advance(step);
      } catch {
        // Logged by nobody: the next request revalidates again.
      }
    }));
    this.#persist();
  }

  /** Saves the key set when it changed (fire and forget). */
  #persist(): void {
    if (!this.#jwksStore) return;
    const snapshot = this.#core.snapshot();
    if (snapshot === this.#saved) return;
    this.#saved = snapshot;
    Promise.resolve()
      .then(() => this.#jwksStore?.set(this.#jwksKey, snapshot))
      .catch(() => { this.#saved = ''; });
  }

  /**
   * Revokes, on every process sharing the store, a provider session
   * (`{ sid }`, the `sid` of its ID tokens and `x-tessera-session`), every
   * session and token of a user issued until now (`{ sub }`: an admin
   * disabling a user), or one Tessera session (`{ session }`). Refused from
   * then on with `session-revoked`, for `cookies.sessionMaxAge`. Resolves once
   * the store has it; rejects when the store cannot be reached (this process
   * refuses it all the same).
   */
  async revoke(target: RevokeTarget): Promise<void> {
    const [kind, value] = 'sid' in target ? ['sid', target.sid] : 'sub' in target ? ['sub', target.sub] : ['session', target.session];
    if (typeof value !== 'string') throw new TypeError('tessera: revoke takes { sid }, { sub } or { session } with a string');
    let record: StoreRecord;
    try {
      record = this.#core.revoke(kind, value, this.#seconds());
    } catch (e) {
      throw new TypeError(`tessera: ${e && typeof e === 'object' && 'message' in e ? String(e.message) : String(e)}`);
    }
    if (!this.#store) return;
    try {
      await this.#publish(this.#store, [record]);
    } catch (e) {
      this.#stats.storeError++;
      throw e;
    }
  }

  /** What the shared store did since this process started (see `StoreStats`). */
  get storeStats(): StoreStats {
    const [revocations = 0, revocationsDropped = 0] = this.#core.revocationStats();
    return { ...this.#stats, revocationsLoaded: this.#revocationsLoaded, revocations, revocationsDropped };
  }

  /** Keeps each revocation in the store and tells every process. */
  async #publish(store: TesseraStore, records: StoreRecord[]): Promise<void> {
    for (const r of records) {
      // One key per record, never overwritten by a later one with an earlier
      // cut-off or expiry: every process keeps the latest of each (the bulk
      // load merges them as the engine does).
      const { at, until } = JSON.parse(r.record) as { at: number; until: number };
      await store.set(`${REVOKED}${r.key}:${at}:${until}`, r.record, r.ttl);
      await store.publish(REVOCATIONS, r.record);
    }
  }

  /** A `store` step: the operation in the shared store (nothing without one: the engine's memory is the store). */
  async #storeOp(step: Extract<Step, { kind: 'store' }>): Promise<Step> {
    let result = true;
    let error: string | undefined;
    const store = this.#store;
    if (store) {
      try {
        if (step.op.kind === 'once') result = await store.setIfAbsent(`once:${step.op.key}`, '1', step.op.ttl);
        else await this.#publish(store, step.op.records);
      } catch (e) {
        this.#stats.storeError++;
        error = e instanceof Error ? e.message : String(e);
      }
    }
    return this.#core.resumeStored(step.id, result, error, this.#seconds(), random());
  }

  /**
   * Subscribes to revocations, then loads every live one (in that order, so
   * none published in between is missed). Until that succeeds the engine
   * refuses (503 `store-unavailable`) sessions and tokens from before this
   * process started trying; it retries every few seconds, on demand.
   */
  #loadRevocations(): Promise<void> {
    const store = this.#store;
    if (!store) return Promise.resolve();
    if (this.#loading) return this.#loading;
    this.#loadTried = this.#seconds();
    this.#loading = (async () => {
      try {
        if (!this.#subscribed) {
          await store.subscribe(
            REVOCATIONS,
            (record) => { this.#core.revokedAll(record, this.#seconds()); },
            // Back after a loss: load again what may have been missed.
            () => { void this.#loadRevocations(); },
          );
          this.#subscribed = true;
        }
        this.#core.revokedAll((await store.scan(REVOKED)).join('\n'), this.#seconds());
        this.#core.setRevocationsUnknownSince(undefined);
        this.#revocationsLoaded = true;
        this.#resyncPending = false;
      } catch {
        this.#stats.storeError++;
        // Loaded before: keep serving what was known, and load again soon.
        if (this.#revocationsLoaded) this.#resyncPending = true;
      } finally {
        this.#loading = null;
      }
    })();
    return this.#loading;
  }

  /** A process that could not load the revocations tries again, at most every few seconds. */
  #retryRevocations(): void {
    if ((!this.#revocationsLoaded || this.#resyncPending) && !this.#loading && this.#seconds() - this.#loadTried >= RELOAD_AFTER) {
      void this.#loadRevocations();
    }
  }

  /**
   * Concurrent requests share GETs by URL (discovery, key set) and other
   * calls by their share key (one introspection per token); other POSTs
   * (code exchange, refresh, revocation) never.
   */
  #get(request: HttpRequest): Promise<Fetched> {
    const key = request.share ?? (request.method === 'GET' ? request.url : null);
    if (key === null) return this.#http(request);
    let flight = this.#gets.get(key);
    if (!flight) {
      flight = this.#http(request).finally(() => this.#gets.delete(key));
      this.#gets.set(key, flight);
    }
    return flight;
  }

  /**
   * One refresh per session: in this process through the engine's
   * coordinator (`refreshBegin`: lead, join or a replayed outcome); across
   * processes, with a shared store, the leader of each process asks the
   * store's lock, so one of them reaches the provider and the others get its
   * outcome, sealed so that only holders of the same refresh token can open it.
   */
  async #refresh(step: Extract<Step, { kind: 'refresh' }>): Promise<Step> {
    const ticket = this.#core.refreshBegin(step.id, this.#seconds(), random());
    if (!isFlight(ticket)) return ticket; // a recent outcome, replayed
    if (ticket.kind === 'join') {
      const flight = this.#refreshes.get(ticket.key);
      const outcome = flight ? await giveUpAfter(flight, JOIN_GIVE_UP_MS) : undefined;
      return this.#core.resumeTokens(step.id, outcome, this.#seconds(), random());
    }
    let settle: (outcome: string | undefined) => void = () => {};
    this.#refreshes.set(ticket.key, new Promise((resolve) => { settle = resolve; }));
    let outcome: string | undefined;
    let next: Step | undefined;
    const lead = async (): Promise<string> => {
      const r = await this.#http(step.request);
      const finished = r.ok
        ? this.#core.refreshFinish(step.id, r.status, r.body, undefined, this.#seconds(), random())
        : this.#core.refreshFinish(step.id, 0, EMPTY, r.why, this.#seconds(), random());
      next = finished.step;
      return finished.outcome;
    };
    try {
      outcome = this.#store ? await this.#sharedRefresh(this.#store, ticket, lead) : await lead();
      return next ?? this.#core.resumeTokens(step.id, outcome, this.#seconds(), random());
    } finally {
      settle(outcome);
      this.#refreshes.delete(ticket.key);
    }
  }

  /**
   * A refresh through the shared store's lock: this process leads (`lead`
   * reaches the provider) or gets the outcome another process published.
   * The outcome is sealed in the store (AES-GCM, with the flight's secret,
   * which only holders of the same refresh token can derive) and kept for
   * the replay window unless it is an outage. `undefined` when the store
   * failed or the leader did not publish in time: the request then answers
   * 503 and keeps its cookies (refreshing without the lock could spend the
   * token twice and sign the user out).
   */
  async #sharedRefresh(store: TesseraStore, flight: Flight, lead: () => Promise<string>): Promise<string | undefined> {
    const options = { holdSeconds: LEAD_TIMEOUT, keepSeconds: this.#replayWindow, waitMs: JOIN_GIVE_UP_MS };
    let led: string | undefined;
    try {
      const { value, role } = await store.lock(`refresh:${flight.key}`, options, async () => {
        led = await lead();
        return { value: await sealOutcome(flight.secret, led), keep: !isOutage(led) };
      });
      if (role === 'lead') this.#stats.miss++;
      else this.#stats.hit++;
      return led ?? (value === undefined ? undefined : await openOutcome(flight.secret, value));
    } catch (e) {
      this.#stats.storeError++;
      return led ?? storeDown(e);
    }
  }

  /** One HTTP exchange with the engine's timeout and body cap; never throws. */
  async #http(request: HttpRequest): Promise<Fetched> {
    try {
      const res = await this.#fetch(request.url, {
        method: request.method,
        headers: request.headers,
        ...(request.body === null ? {} : { body: request.body }),
        redirect: 'manual',
        signal: AbortSignal.timeout(request.timeoutMs),
      });
      const body = await readCapped(res, request.maxBytes + 1);
      return { ok: true, status: res.status, cacheControl: res.headers.get('cache-control') ?? undefined, body };
    } catch (e) {
      const why = e instanceof Error ? (e.name === 'TimeoutError' ? `timed out after ${request.timeoutMs} ms` : e.message) : String(e);
      return { ok: false, why };
    }
  }
}

/** The check a `verify` step asks for, its byte ranges as views of `bytes`. */
function checkOf(step: VerifyStep): SignatureCheck {
  const { alg, keyId, bytes } = step;
  const inputEnd = step.spkiLength + step.signingInputLength;
  return {
    alg,
    keyId,
    spki: bytes.subarray(0, step.spkiLength),
    signingInput: bytes.subarray(step.spkiLength, inputEnd),
    signature: bytes.subarray(inputEnd),
  };
}

/** Reads at most `limit` bytes of the body (the engine refuses what is longer). */
async function readCapped(res: { body: ReadableStream<Uint8Array> | null }, limit: number): Promise<Uint8Array> {
  if (!res.body) return EMPTY;
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      size += value.length;
    }
  } finally {
    if (size >= limit) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
  const out = new Uint8Array(Math.min(size, limit));
  let at = 0;
  for (const p of parts) {
    const take = Math.min(p.length, out.length - at);
    out.set(p.subarray(0, take), at);
    at += take;
  }
  return out;
}

/** The refresh outcome (JSON) of a store that failed: 503 `store-unavailable`, cookies kept. */
function storeDown(e: unknown): string {
  const why = e instanceof Error ? e.message : String(e);
  const message = `the shared store failed (${why}), so this session was not refreshed: refreshing without it could spend the refresh token twice; retry shortly`;
  return JSON.stringify({ Err: { reason: 'store-unavailable', message } });
}

/** Whether a refresh outcome (JSON) is an outage, which is never replayed. */
function isOutage(outcome: string): boolean {
  try {
    const o = JSON.parse(outcome) as { Err?: { reason?: string } };
    const reason = o.Err?.reason;
    return reason !== undefined && reason in REASONS && REASONS[reason as TesseraReason][1];
  } catch {
    return true;
  }
}

const OUTCOME_AAD = new TextEncoder().encode('tessera refresh outcome');

function outcomeKey(secret: string, use: KeyUsage): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', fromBase64url(secret), 'AES-GCM', false, [use]);
}

/** Seals a refresh outcome for the shared store: `base64url(iv).base64url(ciphertext)`. */
async function sealOutcome(secret: string, outcome: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: OUTCOME_AAD },
    await outcomeKey(secret, 'encrypt'),
    new TextEncoder().encode(outcome),
  );
  return `${toBase64url(iv)}.${toBase64url(new Uint8Array(sealed))}`;
}

/** Opens what `sealOutcome` sealed with the same secret; `undefined` when it cannot. */
async function openOutcome(secret: string, sealed: string): Promise<string | undefined> {
  try {
    const [iv, data] = sealed.split('.');
    if (iv === undefined || data === undefined) return undefined;
    const plain = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: fromBase64url(iv), additionalData: OUTCOME_AAD },
      await outcomeKey(secret, 'decrypt'),
      fromBase64url(data),
    );
    return new TextDecoder().decode(plain);
  } catch {
    return undefined;
  }
}

function toBase64url(bytes: Uint8Array): string {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

function fromBase64url(text: string): Uint8Array<ArrayBuffer> {
  const raw = atob(text.replaceAll('-', '+').replaceAll('_', '/'));
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

function isFlight(t: Step | Flight): t is Flight {
  return t.kind === 'lead' || t.kind === 'join';
}

function giveUpAfter<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => { timer = setTimeout(resolve, ms, undefined); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * 32 fresh bytes from the platform CSPRNG for one engine call (state, nonce,
 * PKCE, sealing). Drawn 4 KiB at a time (one `getRandomValues` per 128 calls);
 * every seed is handed out once, and the engine copies it before the pool is
 * refilled.
 */
function random(): Uint8Array {
  if (poolAt === POOL.length) {
    crypto.getRandomValues(POOL);
    poolAt = 0;
  }
  poolAt += 32;
  return POOL.subarray(poolAt - 32, poolAt);
}
const POOL = new Uint8Array(4096);
let poolAt = POOL.length;

/** A valid result. */
function verified(identity: Identity): VerifyResult {
  frozen(identity);
  return { valid: true, identity, claims: identity.claims };
}

/** `identity`, deep-frozen: the engine hands every request with the same token the same object. */
function frozen(identity: Identity): Identity {
  if (!Object.isFrozen(identity)) deepFreeze(identity);
  return identity;
}

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
}

/** Shared by the entry points: builds a Tessera once the WebAssembly is loaded. */
export async function create(Core: WasmCoreClass, config: TesseraConfig, options: TesseraOptions | undefined, signatures: SignatureBackend | null): Promise<Tessera> {
  const tessera = new Tessera(Core, config, options ?? {}, signatures);
  await tessera.restore();
  return tessera;
}
