// Every TypeScript snippet in the docs compiles, strict, against the built
// package's shipped types (and Next's and Hono's own): a renamed export, a
// wrong option or a changed result shape in the package fails here, not in a
// reader's editor. The snippets' configurations are checked against the
// schema and the Rust parser by schema.test.mjs.
//
// A snippet may use these names without declaring them (the values a reader
// supplies); everything else it uses, it imports or declares.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { tsSnippets } from './docs.mjs';

const GIVEN = {
  issuer: 'string',
  clientId: 'string',
  clientSecret: 'string',
  appOrigin: 'string',
  cookieKeys: 'string',
  secret: 'string',
  token: 'string',
  routes: "import('tessera-edge').RouteRule[]",
  config: "import('tessera-edge').TesseraConfig",
  request: 'Request',
};

const EXPRESS_TYPES = `declare module 'express' {
  import type { ServerResponse } from 'node:http';
  import type { TesseraIncomingMessage } from 'tessera-edge/express';
  type Res = ServerResponse & { json(body: unknown): void };
  type Next = (error?: unknown) => void;
  interface App {
    use(handler: (req: TesseraIncomingMessage, res: ServerResponse, next: Next) => void): App;
    get(path: string, handler: (req: TesseraIncomingMessage, res: Res) => void): App;
  }
  export default function express(): App;
}
`;

const dir = fileURLToPath(new URL('../.snippets/', import.meta.url));

test('every TypeScript snippet in the docs compiles against the package', () => {
  const snippets = tsSnippets();
  assert.ok(snippets.length >= 10, `only ${snippets.length} snippets found`);
  rmSync(dir, { recursive: true, force: true });
  const files = new Map();
  const blocks = [...new Set(snippets.map((s) => s.where))];
  for (const s of snippets) {
    // The files of one block share a folder, so they import one another.
    const base = path.join(dir, String(blocks.indexOf(s.where)));
    const file = path.join(base, s.name ?? 'main.ts');
    const declared = (name) => new RegExp(`\\b(const|let|var|function|class)\\s+${name}\\b|import[^;]*\\b${name}\\b`).test(s.text);
    const prelude = Object.entries(GIVEN)
      .filter(([name]) => new RegExp(`\\b${name}\\b`).test(s.text) && !declared(name))
      .map(([name, type]) => `declare const ${name}: ${type};`);
    // Next's `@/` alias: the snippet's own root.
    const body = s.text.replace(/from '@\/([^']+)'/g, (_, p) => `from '${path.relative(path.dirname(file), path.join(base, p)).replace(/^(?!\.)/, './')}'`);
    mkdirSync(path.dirname(file), { recursive: true });
    const header = ['export {};', ...prelude];
    writeFileSync(file, `${header.join('\n')}\n${body}\n`);
    files.set(file, { where: s.where, header: header.length });
  }
  // Express ships no types (and @types/express is not a dependency): the
  // little of it the snippets use, typed as Express 5 behaves.
  const shim = path.join(dir, 'express.d.ts');
  writeFileSync(shim, EXPRESS_TYPES);
  const program = ts.createProgram([shim, ...files.keys()], {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
    types: ['node'],
    skipLibCheck: true,
    typeRoots: [fileURLToPath(new URL('../../node_modules/@types/', import.meta.url))],
  });
  const problems = ts.getPreEmitDiagnostics(program).map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (!d.file) return text;
    const at = files.get(path.normalize(d.file.fileName));
    const { line } = d.file.getLineAndCharacterOfPosition(d.start ?? 0);
    return at ? `${at.where} (snippet line ${line + 1 - at.header}): ${text}` : `${d.file.fileName}: ${text}`;
  });
  assert.deepEqual(problems, []);
  rmSync(dir, { recursive: true, force: true });
});
