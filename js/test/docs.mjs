// The examples in the docs, read out of the Markdown so tests can run them:
// the configurations (JSON code blocks, and TESSERA_CONFIG in TOML blocks and
// wrangler.toml) and the TypeScript snippets.
import { readFileSync, readdirSync } from 'node:fs';

const root = new URL('../../', import.meta.url);

/** The Markdown pages readers see: the README, js/README.md, docs/. */
export function pages() {
  const docs = readdirSync(new URL('docs/', root)).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`);
  return ['README.md', 'js/README.md', ...docs].map((path) => ({ path, text: readFileSync(new URL(path, root), 'utf8') }));
}

/** Every fenced code block of `lang`, with where it starts (`docs/x.md:12`). */
export function codeBlocks(lang) {
  const out = [];
  for (const { path, text } of pages()) {
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (lines[i].trim() !== '```' + lang) continue;
      const start = i + 1;
      while (i + 1 < lines.length && lines[i + 1].trim() !== '```') i++;
      out.push({ where: `${path}:${start}`, text: lines.slice(start, i + 1).join('\n') });
      i++;
    }
  }
  return out;
}

/** The TESSERA_CONFIG values in a TOML text (`'''…'''` or `'…'`). */
function tomlConfigs(text) {
  return [...text.matchAll(/^TESSERA_CONFIG\s*=\s*(?:'''([\s\S]*?)'''|'([^'\n]*)')/gm)].map((m) => m[1] ?? m[2]);
}

/**
 * Every example configuration: each JSON block that is an object with an
 * `issuer` (a whole configuration; blocks without one are fragments), and
 * each TESSERA_CONFIG in the docs' TOML blocks and in wrangler.toml.
 */
export function docConfigs() {
  const out = [];
  for (const { where, text } of codeBlocks('json')) {
    const value = JSON.parse(text);
    if (value && typeof value === 'object' && 'issuer' in value) out.push({ where, config: value });
  }
  for (const { where, text } of codeBlocks('toml')) {
    for (const config of tomlConfigs(text)) out.push({ where, config: JSON.parse(config) });
  }
  for (const config of tomlConfigs(readFileSync(new URL('wrangler.toml', root), 'utf8'))) {
    out.push({ where: 'wrangler.toml', config: JSON.parse(config) });
  }
  return out;
}

/**
 * The TypeScript snippets, each cut into the files it shows: a line
 * `// some/file.ts …` starts a new file (the Next.js example is three).
 */
export function tsSnippets() {
  const out = [];
  for (const { where, text } of codeBlocks('ts')) {
    let file = { where, name: null, lines: [] };
    const files = [file];
    for (const line of text.split('\n')) {
      const m = /^\/\/ ([\w@./-]+\.tsx?)\b/.exec(line);
      if (m) files.push((file = { where, name: m[1], lines: [] }));
      file.lines.push(line);
    }
    out.push(...files.filter((f) => f.lines.some((l) => l.trim() && !l.startsWith('//'))).map((f) => ({ ...f, text: f.lines.join('\n') })));
  }
  return out;
}
