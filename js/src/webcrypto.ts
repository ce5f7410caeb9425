// Signature checks through WebCrypto (`crypto.subtle`): native and direct in
// workerd and browsers. EdDSA stays in WebAssembly: the core checks Ed25519
// strictly (`verify_strict`: no small-order keys, canonical S), which
// WebCrypto implementations do not all promise.
import type { Algorithm } from './types.js';
import type { SignatureBackend, SignatureCheck } from './core.js';

type Params = { importParams: RsaHashedImportParams | EcKeyImportParams; verifyParams: AlgorithmIdentifier | RsaPssParams | EcdsaParams };

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

/** A WebCrypto backend over `subtle` (default: `globalThis.crypto.subtle`). */
export function webCrypto(subtle: SubtleCrypto | undefined = globalThis.crypto?.subtle): SignatureBackend | null {
  if (!subtle) return null;
  const keys = new Map<string, Promise<CryptoKey>>();
  return {
    algorithms: Object.keys(PARAMS) as Algorithm[],
    sync: false,
    async verify(check: SignatureCheck): Promise<boolean> {
      const params = PARAMS[check.alg];
      if (!params) return false;
      const id = `${check.alg}:${check.keyId}`;
      let key = keys.get(id);
      if (!key) {
        if (keys.size >= KEY_CACHE) keys.delete(keys.keys().next().value as string);
        key = subtle.importKey('spki', check.spki, params.importParams, false, ['verify']);
        keys.set(id, key);
        key.catch(() => keys.delete(id));
      }
      return subtle.verify(params.verifyParams, await key, check.signature, check.signingInput);
    },
  };
}
