// The `node` export condition: the WebAssembly read from the package directory,
// signatures through node:crypto.
import { readFileSync } from 'node:fs';
import { Core, initSync } from './wasm/tessera.js';
import { create, type Tessera, type WasmCoreClass } from './core.js';
import { nodeCrypto } from './node-crypto.js';
import type { TesseraConfig, TesseraOptions } from './types.js';

let loaded = false;

/** Creates Tessera for one app (see the README for the configuration). */
export async function createTessera(config: TesseraConfig, options?: TesseraOptions): Promise<Tessera> {
  if (!loaded) {
    initSync({ module: readFileSync(new URL('./wasm/tessera_bg.wasm', import.meta.url)) });
    loaded = true;
  }
  return create(Core as unknown as WasmCoreClass, config, options, nodeCrypto());
}

export { Tessera, type TesseraSource } from './core.js';
export { verifyForwardedIdentity, type ForwardCheck, type ForwardedIdentity } from './forward.js';
export * from './types.js';
