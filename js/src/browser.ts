// The `browser` and `default` conditions (Deno, Bun, browsers, anything with
// fetch and WebAssembly): the WebAssembly fetched next to this file,
// signatures through WebCrypto where the runtime has it.
import init, { Core } from './wasm/tessera.js';
import { create, type Tessera, type WasmCoreClass } from './core.js';
import { webCrypto } from './webcrypto.js';
import type { TesseraConfig, TesseraOptions } from './types.js';

let loading: Promise<unknown> | undefined;

/** Creates Tessera for one app (see the README for the configuration). */
export async function createTessera(config: TesseraConfig, options?: TesseraOptions): Promise<Tessera> {
  loading ??= init({ module_or_path: new URL('./wasm/tessera_bg.wasm', import.meta.url) });
  await loading;
  return create(Core as unknown as WasmCoreClass, config, options, webCrypto());
}

export { Tessera, type TesseraSource } from './core.js';
export { verifyForwardedIdentity, type ForwardCheck, type ForwardedIdentity } from './forward.js';
export * from './types.js';
