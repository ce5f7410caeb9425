// The public types of tessera-edge. The configuration is the one schema every
// Tessera runtime reads (the Rust core's `TesseraConfig`, camelCase); unknown
// keys are refused, so a typo is an error rather than an ignored setting.

/** Every stable reason code (`x-tessera-reason`), with its HTTP status and retryability. */
export const REASONS = {
  'token-missing': [401, false],
  'token-malformed': [401, false],
  'token-too-large': [401, false],
  'alg-not-allowed': [401, false],
  'key-not-found': [401, false],
  'key-unusable': [401, false],
  'signature-invalid': [401, false],
  'token-expired': [401, false],
  'token-not-yet-valid': [401, false],
  'iat-in-future': [401, false],
  'token-too-old': [401, false],
  'issuer-invalid': [401, false],
  'audience-invalid': [401, false],
  'azp-invalid': [401, false],
  'typ-invalid': [401, false],
  'crit-unsupported': [401, false],
  'claim-missing': [401, false],
  'claim-invalid': [401, false],
  'jwks-unavailable': [503, true],
  'jwks-invalid': [502, false],
  'refresh-token-invalid': [401, false],
  'token-inactive': [401, false],
  'session-revoked': [401, false],
  'store-unavailable': [503, true],
  'auth-api-unavailable': [503, true],
  'auth-api-invalid': [502, false],
  'insufficient-scope': [403, false],
  'dpop-required': [401, false],
  'dpop-proof-invalid': [401, false],
  'dpop-proof-replayed': [401, false],
  'dpop-nonce-required': [401, false],
  'csrf-rejected': [403, false],
  'state-mismatch': [400, false],
  'nonce-mismatch': [400, false],
  'cookie-unsealable': [401, false],
  'callback-error': [400, false],
  'path-invalid': [400, false],
} as const satisfies Record<string, readonly [number, boolean]>;

/** A stable reason code: why a request or token was refused. */
export type TesseraReason = keyof typeof REASONS;

/** What a request came to (`x-tessera-status`). */
export type TesseraStatus = 'signed-in' | 'refreshed' | 'signed-out' | 'handshake' | 'denied' | 'unavailable';

/** Signature algorithms Tessera verifies (HMAC and `none` never). */
export type Algorithm = 'ES256' | 'EdDSA' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512';

/** Provider conventions applied to verification. */
export type Profile = 'oidc' | 'clerk' | 'auth0' | 'supabase' | 'firebase' | 'cognito' | 'workos' | 'keycloak' | 'entra' | 'okta' | 'google';

/** Access-token checks beyond the signature. */
export interface VerificationConfig {
  /** Allowed issuers (exact string match). Default: the top-level `issuer`. */
  issuers?: string | string[];
  /** Alias of `issuers`. */
  issuer?: string | string[];
  /**
   * Allowed audiences; a token without one of them fails. Required with
   * sessions or API routes unless the profile binds the app (or
   * `authorizedParties` is set).
   */
  audience?: string | string[];
  /** Alias of `audience`. */
  audiences?: string | string[];
  /** The claim holding the audience. Default `aud` (Cognito access tokens: `client_id`). */
  audienceClaim?: string;
  /** When set, `azp` must be present and one of these (Clerk: your app's origins). Default: not checked. */
  authorizedParties?: string | string[];
  /** The algorithm allowlist. Default ES256, EdDSA, RS256, PS256. */
  algorithms?: Algorithm[];
  /** Clock-skew tolerance for `exp`, `nbf`, `iat`, in seconds. Default 5. */
  leeway?: number;
  /** Required header `typ`, e.g. `at+jwt`. Default (or `null`): not checked. */
  typ?: string | null;
  /** Maximum age from `iat`, in seconds. Default (or `null`): not checked. */
  maxTokenAge?: number | null;
  /** Claims that must be present. Default: none beyond `exp`, `iss`, `sub`. */
  requiredClaims?: string[];
  /** Claims that must be absent; `nonce`, `at_hash` and `c_hash` always are (not for Firebase). */
  forbiddenClaims?: string[];
  /** Claims that must have exactly these JSON values. Default: none. */
  claimValues?: Record<string, unknown>;
  /**
   * Where roles live: claim names, or JSON Pointers starting with `/`
   * (`/realm_access/roles`). Default: the profile's (`roles` for `oidc`,
   * `cognito:groups`, Keycloak's realm and client roles, …); setting it
   * replaces the profile's list. The organisation's role always counts.
   */
  roleClaims?: string[];
  /** Where permissions live, as `roleClaims`. Default: the profile's (`permissions` for `oidc`, Auth0, WorkOS, Firebase). */
  permissionClaims?: string[];
}

/** Another issuer whose bearer tokens are accepted, verified by its own verifier. */
export interface TrustedIssuer {
  /** Its issuer URL, exactly as its tokens' `iss` says. */
  issuer: string;
  /** Its provider conventions. Default `oidc`. */
  profile?: Profile;
  /** Its policy, as `verification`; an audience (or `authorizedParties`) is required. */
  verification: VerificationConfig;
  /** Where its key set is. Default: the profile's documented location, else its discovery document's `jwks_uri`. */
  jwksUri?: string;
}

/** DPoP proofs: a token bound with `cnf.jkt` passes only as `Authorization: DPoP` with a proof for the request. */
export interface DpopConfig {
  /** Algorithms a proof may use. Default ES256, EdDSA, RS256, PS256. */
  algorithms?: Algorithm[];
  /** How old a proof may be, in seconds (1 to 300). Default 60. */
  maxAge?: number;
  /** Require server nonces (stateless, derived from the first cookie key; needs `cookieKeys`). Default false. */
  nonce?: boolean;
}

/** Names a route needs: a list is every one of them; `{ anyOf }` at least one. */
export type Needed = string[] | { anyOf: string[] } | { allOf: string[] };

/** What a route requires of a verified caller; every field given must hold. */
export interface Requirements {
  /** Issuers whose tokens the route accepts. Default: every trusted one. */
  issuers?: string[];
  /** `user`, or `machine` (client-credentials tokens). Default: both. */
  kind?: 'user' | 'machine';
  /** Scopes, from `scope` or `scp`. */
  scopes?: Needed;
  /** Roles, where the profile or `verification.roleClaims` says. */
  roles?: Needed;
  /** Permissions, where the profile or `verification.permissionClaims` says. */
  permissions?: Needed;
  /** The active organisation: `{}` requires one; each field given must match. */
  org?: { id?: string; slug?: string; role?: string };
  /** Claims (names, or JSON Pointers starting with `/`) and the JSON value each must have; an array claim must contain it. */
  claims?: Record<string, unknown>;
}

/** What sessions are built on. */
export interface SessionConfig {
  /**
   * Where a session's identity comes from. Default `access-token` (the
   * `google` profile: `id-token`): the provider's JWT access token for this
   * app, verified on every request. `id-token`: the ID token, verified at
   * sign-in and at each refresh, its claims kept in the sealed session until
   * the access token's `expires_in`; the access token is kept opaque (Google,
   * GitHub-style servers, Entra's Graph tokens, Auth0 without an audience).
   */
  identity?: 'access-token' | 'id-token';
  /**
   * Forward the session's access token to the origin in `Authorization`.
   * Default (or `null`): on for access-token sessions, off for id-token
   * sessions (as oauth2-proxy's pass-access-token).
   */
  passAccessToken?: boolean | null;
  /**
   * ID-token sessions: add the provider's userinfo claims to the ID token's, at
   * sign-in and each refresh (`sub` must match). Default false.
   */
  userinfo?: boolean;
}

/** Opaque bearer tokens through an introspection endpoint (RFC 7662). */
export interface IntrospectionConfig {
  /** The endpoint. Default (or `null`): the provider's `introspection_endpoint` from discovery. */
  endpoint?: string | null;
  /** Seconds an active answer is reused at most (the token's `exp` bounds it too). Default 60, at most 3600. */
  maxAge?: number;
  /** Seconds an inactive answer is reused. Default 10, at most 300. */
  inactiveMaxAge?: number;
  /**
   * The answer's member forwarded as the user: `sub` (default), `username`
   * (django-oauth-toolkit), or `client_id` (machine tokens only). Never a
   * fallback from one to another.
   */
  subject?: 'sub' | 'username' | 'client_id';
  /** The `token_type`s an answer must name (case-insensitive). Default: none required; a refresh token's answer is refused whenever it says so. oidc-provider: `["Bearer"]`. */
  tokenTypes?: string[];
}

/** Session cookie settings. */
export interface CookieConfig {
  /** Name prefix (`<prefix>-session`, `-refresh`, `-tx`). Default `__Host-tessera`. */
  prefix?: string;
  /** Default `Lax`, so the sign-in callback redirect carries the transaction cookie. */
  sameSite?: 'Lax' | 'Strict' | 'None';
  /** Session and refresh cookie lifetime in seconds. Default 30 days. */
  sessionMaxAge?: number;
  /** Sign-in transaction cookie lifetime in seconds. Default 600. */
  transactionMaxAge?: number;
  /** `Secure` on every cookie. Default true (plain-http development: false, with a plain prefix). */
  secure?: boolean;
}

/** One route rule; the first match wins. */
export interface RouteRule {
  /** Glob on the normalised path, starting with `/` (`*` one segment, `**` any). */
  pattern: string;
  /** Methods it applies to (upper case). Default: all. */
  methods?: string[];
  /** `public`: no session needed; `page`: sign-in redirect; `api`: 401. */
  access: 'public' | 'page' | 'api';
  /** Accept `Authorization: Bearer`. Default (or `null`): true for `api`, false otherwise. */
  bearer?: boolean | null;
  /**
   * Let paths with `;` (path parameters) match this rule. Default false: they
   * are refused (400 `path-invalid`), as servlet containers and some proxies
   * route `/admin;x.css` to `/admin`.
   */
  allowSemicolons?: boolean;
  /**
   * Let the client's own `Authorization` header reach your app when no
   * identity is forwarded (a webhook with Basic or HMAC auth). Default false:
   * an unverified `Authorization` is removed.
   */
  passAuthorization?: boolean;
  /**
   * Let CORS preflights to this protected route reach your app (without
   * credentials or body) so it can answer them. Default false: Tessera
   * answers them 204 without CORS headers. Public routes always pass them on.
   */
  forwardPreflight?: boolean;
  /**
   * What a caller must have here beyond a valid credential. Unmet: 403
   * `insufficient-scope` (a bearer token from an issuer the route does not
   * accept: 401 `issuer-invalid`). Not allowed on `public` rules.
   */
  require?: Requirements;
}

/** The shared Tessera configuration (see the README for every default and why). */
export interface TesseraConfig {
  /** Where the JSON Schema is, for editors (`./node_modules/tessera-edge/schema.json`); read and ignored. */
  $schema?: string;
  /** The provider's issuer URL, exactly as its discovery document states it. Required. */
  issuer: string;
  /** Provider conventions. Default `oidc`. */
  profile?: Profile;
  /** OAuth client id. Required for sessions (`cookieKeys`); verification-only hosts omit it. */
  clientId?: string;
  /** Client secret. Default none (a public client with PKCE). Keep it out of source code. */
  clientSecret?: string;
  /** Token endpoint authentication. Default (or `null`): `client_secret_basic` (`none` without a secret). */
  clientAuth?: 'client_secret_basic' | 'client_secret_post' | 'none' | null;
  /** Scopes requested at sign-in. Default `openid profile email offline_access`. */
  scopes?: string[];
  /** RFC 8707 resource indicators for the access token. Default none. */
  resources?: string[];
  /** Extra authorization parameters, e.g. `{ prompt: 'consent' }`. */
  authorizationParams?: Record<string, string>;
  /** The app's public origin. Required for sessions; verification-only hosts omit it. */
  appOrigin?: string;
  /** Other origins allowed to send cookie-authenticated unsafe requests. Default none. */
  allowedOrigins?: string[];
  /** Where the edge endpoints live. Default `/__tessera`. */
  endpointPrefix?: string;
  /** Where to go after sign-out without an end-session endpoint. Default `/`. */
  afterSignOutPath?: string;
  /** The revocation endpoint (RFC 7009). Default (or `null`): the discovery document's, or its RFC 8414 metadata's. */
  revocationEndpoint?: string | null;
  /** Access-token checks. */
  verification?: VerificationConfig;
  /**
   * Other issuers whose bearer tokens are accepted, each verified by its own
   * verifier (profile, policy, key set); a token goes to the one its `iss`
   * names, and a token naming none is refused before any fetch. Sessions are
   * always `issuer`'s. Default none.
   */
  trustedIssuers?: TrustedIssuer[];
  /** What sessions are built on. */
  session?: SessionConfig;
  /**
   * Opaque bearer tokens, asked about at an introspection endpoint (RFC 7662)
   * with the client's credentials; answers are reused by the token's SHA-256.
   * Default (or `null`): bearer tokens must be JWT access tokens.
   */
  introspection?: IntrospectionConfig | null;
  /** DPoP proofs (RFC 9449) for tokens bound with `cnf.jkt`; always on, these tune it. */
  dpop?: DpopConfig;
  /** Cookie settings. */
  cookies?: CookieConfig;
  /** Sealing keyring `id:base64url,…` (32-byte keys; the first seals). Enables sessions. */
  cookieKeys?: string;
  /** Route rules. */
  routes?: RouteRule[];
  /** Access for unmatched paths. Default `page`: a forgotten rule must not expose a route. */
  defaultAccess?: 'public' | 'page' | 'api';
  /**
   * Letter case in rules. Default `protective`: `page` and `api` rules match a
   * path in any case (Express routes `/ADMIN` to `/admin`), `public` rules
   * only their own spelling. `case-insensitive`: public rules ignore case too.
   */
  routeMatching?: 'protective' | 'case-insensitive';
  /** Refresh this many seconds before expiry. Default 10. */
  refreshAhead?: number;
  /** Seconds a rotated-out refresh token is answered with its successor's result. Default 30. */
  replayWindow?: number;
  /**
   * Secret (32 bytes or more) that signs forwarded identity headers for the
   * request they go with (`x-tessera-signature`, v2; `verifyForwardedIdentity`
   * checks them). Default none.
   */
  forwardSigningSecret?: string;
  /**
   * Secret (32 bytes or more) of `POST /__tessera/revoke`: a back office with
   * it revokes a user's sessions on every instance. Default none (no such
   * endpoint; Node apps call `tessera.revoke()`).
   */
  revokeSecret?: string;
  /** Key-set cache settings (seconds unless named otherwise). */
  jwks?: {
    defaultMaxAge?: number;
    minMaxAge?: number;
    maxMaxAge?: number;
    staleIfError?: number;
    cooldown?: number;
    fetchTimeoutMs?: number;
  };
  /** Verified-token memo: `capacity` entries (default 1024), reused at most `maxAge` s (default 300). */
  memo?: { capacity?: number; maxAge?: number };
}

/** A persistence hook for the key set and discovery document (serverless cold starts). */
export interface JwksCacheStore {
  get(key: string): Promise<string | undefined | null> | string | undefined | null;
  set(key: string, value: string): Promise<void> | void;
}

/** Runtime options: the I/O around the core. */
export interface TesseraOptions {
  /** The `fetch` used for discovery, key sets and the token endpoint. Default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Restores the key set at start and saves it when it changes. Default none. */
  jwksCache?: JwksCacheStore;
  /**
   * Where signatures are checked: `native` (node:crypto under Node, WebCrypto
   * elsewhere, for the algorithms where it is faster), or `wasm` (the pure-Rust
   * check in WebAssembly, for runtimes without WebCrypto). Default `native`.
   */
  signatures?: 'native' | 'wasm';
  /** The clock, in milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
  /**
   * Called once per warning about the configuration at creation (see
   * `tessera.warnings`). Default: `console.warn`.
   */
  onWarning?: (warning: ConfigWarning) => void;
  /**
   * Where revocations, refresh single-flight and the replay window live
   * when the app runs as several processes: `createRedisStore` from
   * `tessera-edge/redis`. Default: none, the engine's own memory, which is
   * all one process needs. See docs/revocation.md for what each
   * store guarantees.
   */
  store?: TesseraStore;
}

/**
 * The shared store behind revocations, refresh single-flight and the replay
 * window: the operations Tessera needs, which a backend (Redis, or your own)
 * implements once. Keys and channels are Tessera's own names (a backend may
 * prefix them); values are strings; TTLs are whole seconds. Every method
 * rejects when the store cannot be reached: Tessera then never signs anyone
 * out, and answers 503 where it cannot decide without the store.
 */
export interface TesseraStore {
  /** The value of `key`, or `undefined`. */
  get(key: string): Promise<string | undefined>;
  /** Sets `key` to `value` for `ttlSeconds`. */
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  /** Sets `key` for `ttlSeconds` unless it exists: `true` if it was absent (one-time ids, locks). */
  setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean>;
  /**
   * One caller runs `work` for `key` at a time, across processes: the first
   * takes a lock for `holdSeconds` and publishes what `work` returns to every
   * caller waiting on the same key (kept `keepSeconds` for late ones when
   * `keep`); the others wait up to `waitMs` for it. `role` says which one
   * this caller was (`hit`: a kept result, `lead`, `join`); `value` is
   * `undefined` when the holder did not publish in time.
   */
  lock(
    key: string,
    options: { holdSeconds: number; keepSeconds: number; waitMs: number },
    work: () => Promise<{ value: string; keep: boolean }>,
  ): Promise<{ value: string | undefined; role: 'hit' | 'lead' | 'join' }>;
  /** Sends `message` to every subscriber of `channel`, in every process. */
  publish(channel: string, message: string): Promise<void>;
  /**
   * Calls `listener` with every message published on `channel` from now on.
   * `onResync` is called each time the subscription is re-established after
   * a loss (messages in between may be missed: Tessera reloads).
   */
  subscribe(channel: string, listener: (message: string) => void, onResync: () => void): Promise<void>;
  /** The values of every live key that starts with `prefix` (the bulk load of revocations). */
  scan(prefix: string): Promise<string[]>;
}

/** What `revoke` ends: a provider session, every session and token of a subject, or a Tessera session. */
export type RevokeTarget = { sid: string } | { sub: string } | { session: string };

/** Counts of what the shared store did, since the process started (`tessera.storeStats`). */
export interface StoreStats {
  /** Refreshes answered from a result another process published (kept, or waited for). */
  hit: number;
  /** Refreshes this process led at the provider. */
  miss: number;
  /** Requests refused because what they carried was revoked. */
  revoked: number;
  /** Store operations that failed (each one answered without the store: never a sign-out). */
  storeError: number;
  /** Whether this process holds every revocation (false while it cannot load them). */
  revocationsLoaded: boolean;
  /** Revocation records this process holds. */
  revocations: number;
  /** Live records dropped because the set was full (100,000): each may let a revoked session through. */
  revocationsDropped: number;
}

/** Organisation membership from the token (Clerk v1/v2, `org_id`). */
export interface Organization {
  id: string;
  slug: string | null;
  role: string | null;
  permissions: string[];
}

/** The verified identity. `claims` holds every claim of the token. Frozen: requests with the same token share it. */
export interface Identity {
  sub: string;
  sid: string | null;
  iss: string;
  aud: string[];
  azp: string | null;
  exp: number;
  iat: number | null;
  nbf: number | null;
  jti: string | null;
  scopes: string[];
  org: Organization | null;
  /** `machine` for a client-credentials token (the client is the subject), else `user`. */
  kind: 'user' | 'machine';
  /** Roles, where the profile says (and the organisation's role). */
  roles: string[];
  /** Permissions, where the profile says (and the organisation's permissions). */
  permissions: string[];
  kid: string | null;
  /** The algorithm the token was verified with; `null` for an opaque token the provider vouched for (introspection). */
  alg: Algorithm | null;
  claims: Record<string, unknown>;
}

/** The result of `verify(token)`. */
export type VerifyResult =
  | { valid: true; identity: Identity; claims: Record<string, unknown> }
  | { valid: false; reason: TesseraReason; message: string; retryable: boolean };

/** One observability event per request (no secrets). */
export interface TesseraEvent {
  status: TesseraStatus;
  reason: TesseraReason | null;
  route: string;
  source: 'cookie' | 'bearer' | null;
  memoHit: boolean;
  keys: string;
  refresh: string | null;
  proactiveRefresh: boolean;
  revoked: boolean;
  expiresIn: number | null;
  fetches: number;
  /** What revocations and the shared store did: refused the request (`revoked`), could not tell (`unknown`), or failed (`error`). */
  store: 'revoked' | 'unknown' | 'error' | null;
  /** The route requirement the caller did not meet (with `insufficient-scope`, or `issuer-invalid` for a bearer token from an issuer the route does not accept). */
  requirement: 'issuer' | 'kind' | 'scope' | 'role' | 'permission' | 'org' | 'claim' | null;
  now: number;
}

/** The result of `authenticateRequest(request)`. */
export interface AuthResult {
  status: TesseraStatus;
  reason: TesseraReason | null;
  message: string | null;
  retryable: boolean;
  /** Who the request is from, when known. */
  identity: Identity | null;
  /**
   * Headers to set on the request forwarded to your handler or origin
   * (`authorization`, `x-tessera-user`, …) after removing incoming `x-tessera-*`
   * and `forwardRemove`; `null` when Tessera answers the request itself
   * (`response`). `forwardHeaders(request, result)` applies all of it.
   */
  forwardHeaders: Headers | null;
  /**
   * Incoming headers to remove before passing the request on: `authorization`
   * when no identity was verified (unless the route sets
   * `passAuthorization`), `authorization` and `cookie` for a CORS preflight.
   */
  forwardRemove: readonly string[];
  /** Whether the request body goes on (false for a CORS preflight). */
  forwardBody: boolean;
  /** Headers for whatever response goes back: `Set-Cookie`, `x-tessera-status`, `x-tessera-reason`. */
  headers: Headers;
  /** Tessera's own answer (a redirect to sign-in, a 401, an endpoint's response), ready to return. */
  response: Response | null;
  event: TesseraEvent;
}

/**
 * Options of `authenticateRequest` for adapters whose framework routes on
 * something other than `request.url`.
 */
export interface AuthenticateOptions {
  /**
   * The request target exactly as the framework routes it: the raw origin
   * form a Node server received (`req.originalUrl` in Express), never a URL
   * built from the `Host` header. Default: `request.url`, which is what a
   * Fetch API handler routes on.
   */
  target?: string;
  /**
   * Reads the request body, at most `limit` bytes (more is refused): called
   * only for Tessera's back-channel logout endpoint. Default: reads
   * `request.body`. For servers whose body is not in the Fetch Request
   * (the Express adapter passes one).
   */
  body?: (limit: number) => Promise<Uint8Array>;
}

/** A valid configuration that deserves a second look (`tessera.warnings`). */
export interface ConfigWarning {
  /** The field, e.g. `defaultAccess`. */
  field: string;
  /** What could go wrong, and what to set instead. */
  message: string;
}

/** Thrown by `createTessera` for an invalid configuration; `field` names the setting. */
export class TesseraConfigError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`tessera config: ${field}: ${message}`);
    this.name = 'TesseraConfigError';
    this.field = field;
  }
}
