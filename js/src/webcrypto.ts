// Signature checks through WebCrypto (`crypto.subtle`): native and direct in
// workerd and browsers. EdDSA only where the runtime's Ed25519 is known
// (`ed25519: true`, the workerd entry): the core refuses what the strict rules
// refuse before any check (`s` not canonical, `R` of small order or not
// canonical; keys of small order when loaded), and what is left must pass RFC
// 8032's cofactorless equation, which is what workerd's BoringSSL checks. A
// browser's Ed25519 may be cofactored, so there EdDSA stays in WebAssembly.
import type { Algorithm } from './types.js';
import type { SignatureBackend, SignatureCheck } from './core.js';

type Params = { importParams: RsaHashedImportParams | EcKeyImportParams | Algorithm25519; verifyParams: AlgorithmIdentifier | RsaPssParams | EcdsaParams };
type Algorithm25519 = { name: 'Ed25519' };

const rsa = (hash: string): Params => ({ importParams: { name: 'RSASSA-PKCS1-v1_5', hash }, verifyParams: 'RSASSA-PKCS1-v1_5' });
const pss = (hash: string, saltLength: number): Params => ({ importParams: { name: 'RSA-PSS', hash }, verifyParams: { name: 'RSA-PSS', saltLength } });

const PARAMS: Partial<Record<Algorithm, Params>> = {
  ES256: { importParams: { name: 'ECDSA', namedCurve: 'P-256' }, verifyParams: { name: 'ECDSA', hash: 'SHA-256' } },
  RS256: rsa('SHA-256'),
  RS384: rsa('SHA-384'),
  RS512: rsa('SHA-512'),
  PS256: pss('SHA-256', 32),
  PS384: pss('SHA-384', 48),
  PS512: pss('SHA-512', 64),
};

/** Imported keys kept (a provider publishes a handful). */
const KEY_CACHE = 64;

const ED25519: Params = { importParams: { name: 'Ed25519' }, verifyParams: { name: 'Ed25519' } };

/** Which algorithms go to WebCrypto beyond ECDSA and RSA. */
export interface WebCryptoOptions {
  /**
   * EdDSA through the runtime's Ed25519. Default `false`: only where that
   * check is known to be RFC 8032's cofactorless one (workerd), so that with
   * the core's strict rules it decides exactly as the WebAssembly check does.
   */
  ed25519?: boolean;
}

/** A WebCrypto backend over `subtle` (default: `globalThis.crypto.subtle`). */
export function webCrypto(subtle: SubtleCrypto | undefined = globalThis.crypto?.subtle, options: WebCryptoOptions = {}): SignatureBackend | null {
  if (!subtle) return null;
  // Imported keys, and the imports in flight (concurrent first uses share one).
  const keys = new Map<string, CryptoKey>();
  const importing = new Map<string, Promise<CryptoKey>>();
  const table: Partial<Record<Algorithm, Params>> = options.ed25519 ? { ...PARAMS, EdDSA: ED25519 } : PARAMS;
  const imported = async (id: string, check: SignatureCheck, params: Params): Promise<CryptoKey> => {
    let key = importing.get(id);
    if (!key) {
      key = subtle.importKey('spki', check.spki, params.importParams, false, ['verify']);
      importing.set(id, key);
    }
    try {
      const ready = await key;
      if (keys.size >= KEY_CACHE) keys.delete(keys.keys().next().value as string);
      keys.set(id, ready);
      return ready;
    } finally {
      importing.delete(id);
    }
  };
  return {
    algorithms: Object.keys(table) as Algorithm[],
    sync: false,
    // Not `async`: with the key imported, the check is WebCrypto's own promise,
    // with no extra turns of the microtask queue (it runs for every new token).
    // `undefined` when this runtime's WebCrypto does not know the algorithm
    // (NotSupportedError on import, e.g. a workerd without `Ed25519`): the
    // engine checks it in WebAssembly instead of refusing every such token.
    verify(check: SignatureCheck): Promise<boolean | undefined> {
      const params = table[check.alg];
      if (!params) return Promise.resolve(undefined);
      const id = `${check.alg}:${check.keyId}`;
      const key = keys.get(id);
      if (key) return subtle.verify(params.verifyParams, key, check.signature, check.signingInput);
      return imported(id, check, params).then(
        (k) => subtle.verify(params.verifyParams, k, check.signature, check.signingInput),
        (e: unknown) => {
          if ((e as { name?: unknown } | null)?.name === 'NotSupportedError') return undefined;
          throw e;
        },
      );
    },
  };
}
