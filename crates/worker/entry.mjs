// The worker's entry: the workers-rs module (built by worker-build into build/),
// with one addition: an exception that escapes it (a Rust panic traps the Wasm
// instance, which workers-rs then re-initialises) becomes a 500 that says so
// and a log line, instead of the runtime's bare error page.
import Worker, { RefreshSession, RevocationStore } from './build/index.js';

export { RefreshSession, RevocationStore };

export default class Tessera extends Worker {
  async fetch(request) {
    try {
      return await super.fetch(request);
    } catch (error) {
      console.error('tessera: internal error', error);
      return new Response(`Tessera failed inside the worker: ${error?.message ?? error}\n`, {
        status: 500,
        headers: { 'content-type': 'text/plain; charset=utf-8', 'x-tessera-status': 'error', 'cache-control': 'no-store' },
      });
    }
  }
}
