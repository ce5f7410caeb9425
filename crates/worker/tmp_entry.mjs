import Worker, { RefreshSession } from './build/index.js';
export { RefreshSession };
const loaded = performance.now();
export default class Tessera extends Worker {
  async fetch(request) {
    console.log("=== request start"); const t = performance.now();
    const res = await super.fetch(request);
    const d = performance.now() - t; console.log("=== request end");
    const out = new Response(res.body, res);
    out.headers.set('x-t', `${d} ${t - loaded}`);
    return out;
  }
}
