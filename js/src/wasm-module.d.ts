// `import wasm from './x.wasm'` in workerd (and Wrangler, esbuild with the
// `wasm` loader set to compiled modules) gives a compiled WebAssembly.Module.
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}
