// Signature checks through `node:crypto` (OpenSSL), synchronously: WebCrypto
// in Node hops to a thread pool (~60 µs per call), `crypto.verify` does not.
// Used by the `node` export condition only. EdDSA stays in WebAssembly (the
// core's strict Ed25519 check).
import { constants, createPublicKey, verify, type VerifyKeyObjectInput } from 'node:crypto';
import type { Algorithm } from './types.js';
import type { SignatureBackend, SignatureCheck } from './core.js';

type Params = { hash: string; options: { dsaEncoding?: 'ieee-p1363'; padding?: number; saltLength?: number } };

const PARAMS: Partial<Record<Algorithm, Params>> = {
  ES256: { hash: 'sha256', options: { dsaEncoding: 'ieee-p1363' } },
  RS256: { hash: 'sha256', options: {} },
  RS384: { hash: 'sha384', options: {} },
  RS512: { hash: 'sha512', options: {} },
  PS256: { hash: 'sha256', options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } },
  PS384: { hash: 'sha384', options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 } },
  PS512: { hash: 'sha512', options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 } },
};

const KEY_CACHE = 64;

/** The node:crypto backend, called synchronously from inside the engine. */
export function nodeCrypto(): SignatureBackend {
  // Per algorithm and key: the imported key with its verify options, built once.
  const prepared = new Map<string, VerifyKeyObjectInput>();
  return {
    algorithms: Object.keys(PARAMS) as Algorithm[],
    sync: true,
    verify(check: SignatureCheck): boolean {
      const params = PARAMS[check.alg];
      if (!params) return false;
      const id = `${check.alg}:${check.keyId}`;
      let key = prepared.get(id);
      if (!key) {
        if (prepared.size >= KEY_CACHE) prepared.delete(prepared.keys().next().value as string);
        key = { key: createPublicKey({ key: Buffer.from(check.spki), format: 'der', type: 'spki' }), ...params.options };
        prepared.set(id, key);
      }
      return verify(params.hash, check.signingInput, key, check.signature);
    },
  };
}
