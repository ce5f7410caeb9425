// The `workerd`/`worker` export conditions (Cloudflare Workers, and bundlers
// targeting them): the WebAssembly imported as a module, as Workers require
// (no runtime compilation from bytes), signatures through WebCrypto (EdDSA
// included: workerd's Ed25519 is BoringSSL's, see webcrypto.ts).
import wasm from './wasm/tessera_bg.wasm';
import { Core, initSync } from './wasm/tessera.js';
import { create, type Tessera, type WasmCoreClass } from './core.js';
import { webCrypto } from './webcrypto.js';
import type { TesseraConfig, TesseraOptions } from './types.js';

let loaded = false;

/** Creates Tessera for one app (see the README for the configuration). */
export async function createTessera(config: TesseraConfig, options?: TesseraOptions): Promise<Tessera> {
  if (!loaded) {
    initSync({ module: wasm });
    loaded = true;
  }
  return create(Core as unknown as WasmCoreClass, config, options, webCrypto(undefined, { ed25519: true }));
}

export { Tessera, type TesseraSource } from './core.js';
export { verifyForwardedIdentity, type ForwardCheck, type ForwardedIdentity } from './forward.js';
export * from './types.js';
