// The configuration's JSON Schema (js/schema.json, shipped as
// tessera-edge/schema.json) kept true three ways: against the Rust parser
// (here compiled to WebAssembly in the package) on the shared cases and on
// every example configuration in the docs; against the TypeScript type
// `TesseraConfig`, property by property; and against the worker, whose
// TESSERA_CONFIG refuses exactly the fields the schema marks as secrets
// (tests/e2e/worker.test.mjs reads the same list).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Ajv from 'ajv';
import ts from 'typescript';
import { createTessera, TesseraConfigError } from 'tessera-edge';
import { docConfigs } from './docs.mjs';

const root = new URL('../../', import.meta.url);
const schema = JSON.parse(readFileSync(new URL('js/schema.json', root), 'utf8'));
const cases = JSON.parse(readFileSync(new URL('tests/fixtures/config/cases.json', root), 'utf8'));
const validate = new Ajv({ allErrors: true, strict: true, strictRequired: false, strictTypes: false }).compile(schema);

const noFetch = () => { throw new Error('a configuration check must not fetch'); };

/** The Rust parser's verdict: null when it accepts, else the field it names. */
async function parserVerdict(config) {
  try {
    await createTessera(config, { fetch: noFetch, onWarning() {} });
    return null;
  } catch (e) {
    if (e instanceof TesseraConfigError) return e.field;
    throw e;
  }
}

const schemaErrors = () => JSON.stringify(validate.errors?.map((e) => `${e.instancePath} ${e.message}`));

describe('the JSON Schema and the Rust parser agree', () => {
  test('on the configurations both accept', async () => {
    for (const { why, config } of cases.accepted) {
      assert.ok(validate(config), `${why}: the schema refuses it: ${schemaErrors()}`);
      assert.equal(await parserVerdict(config), null, `${why}: the parser refuses it`);
    }
  });

  test('on the configurations both refuse, the parser naming the field', async () => {
    for (const { why, config, field } of cases.refused) {
      assert.equal(await parserVerdict(config), field, `${why}: the parser's verdict`);
      assert.ok(!validate(config), `${why}: the schema accepts it`);
    }
  });

  test('on what only the parser can refuse (kept honest: the schema does accept these)', async () => {
    for (const { why, config, field } of cases.parserOnly) {
      assert.equal(await parserVerdict(config), field, `${why}: the parser's verdict`);
      assert.ok(validate(config), `${why}: the schema refuses it now: move it to "refused"`);
    }
  });

  test('on every example configuration in the docs', async () => {
    const examples = docConfigs();
    assert.ok(examples.length >= 10, `only ${examples.length} example configurations found in the docs`);
    for (const { where, config } of examples) {
      assert.ok(validate(config), `${where}: the schema refuses it: ${schemaErrors()}`);
      assert.equal(await parserVerdict(config), null, `${where}: the parser refuses it`);
    }
  });

  test('the package ships the schema as tessera-edge/schema.json', async () => {
    const pkg = JSON.parse(readFileSync(new URL('js/package.json', root), 'utf8'));
    assert.equal(pkg.exports['./schema.json'], './schema.json');
    assert.ok(pkg.files.includes('schema.json'));
  });
});

// ---- the TypeScript type against the schema ----

/**
 * A value's shape, comparable across the schema and the type: the JSON kinds
 * it may be, the literals when it is an enumeration, and the shapes inside.
 */
function shape(kinds, extra = {}) {
  return { kinds: new Set(kinds), ...extra };
}

function merge(a, b) {
  const out = shape([...a.kinds, ...b.kinds]);
  for (const k of ['items', 'props', 'map']) if (a[k] || b[k]) out[k] = a[k] ?? b[k];
  if (a.literals || b.literals) out.literals = new Set([...(a.literals ?? []), ...(b.literals ?? [])]);
  return out;
}

function fromSchema(s) {
  if (s.$ref) return fromSchema(s.$ref.split('/').slice(1).reduce((o, k) => o[k], schema));
  if (s.enum) {
    const literals = s.enum.filter((v) => v !== null);
    return shape([...new Set(s.enum.map((v) => (v === null ? 'null' : typeof v)))], { literals: new Set(literals) });
  }
  if (s.anyOf) return s.anyOf.map(fromSchema).reduce(merge);
  const types = [s.type ?? 'any'].flat().map((t) => (t === 'integer' ? 'number' : t));
  const out = shape(types);
  if (types.includes('array')) out.items = fromSchema(s.items ?? {});
  if (types.includes('object')) {
    if (s.properties) {
      out.props = {};
      for (const [name, sub] of Object.entries(s.properties)) {
        out.props[name] = { required: (s.required ?? []).includes(name), shape: fromSchema(sub) };
      }
    } else {
      out.map = typeof s.additionalProperties === 'object' ? fromSchema(s.additionalProperties) : shape(['any']);
    }
  }
  return out;
}

function fromType(checker, t) {
  if (t.isUnion()) {
    const members = t.types.filter((m) => !(m.flags & ts.TypeFlags.Undefined));
    return members.map((m) => fromType(checker, m)).reduce(merge);
  }
  const f = t.flags;
  if (f & (ts.TypeFlags.Unknown | ts.TypeFlags.Any)) return shape(['any']);
  if (f & ts.TypeFlags.StringLiteral) return shape(['string'], { literals: new Set([t.value]) });
  if (f & ts.TypeFlags.String) return shape(['string']);
  if (f & ts.TypeFlags.Number) return shape(['number']);
  if (f & (ts.TypeFlags.Boolean | ts.TypeFlags.BooleanLiteral)) return shape(['boolean']);
  if (f & ts.TypeFlags.Null) return shape(['null']);
  if (checker.isArrayType(t)) return shape(['array'], { items: fromType(checker, checker.getTypeArguments(t)[0]) });
  const index = checker.getIndexInfosOfType(t).find((i) => i.keyType.flags & ts.TypeFlags.String);
  if (index) return shape(['object'], { map: fromType(checker, index.type) });
  const props = {};
  for (const p of checker.getPropertiesOfType(t)) {
    const decl = p.valueDeclaration ?? p.declarations[0];
    props[p.name] = {
      required: !(p.flags & ts.SymbolFlags.Optional),
      shape: fromType(checker, checker.getTypeOfSymbolAtLocation(p, decl)),
    };
  }
  return shape(['object'], { props });
}

/** The differences between two shapes, each named by its path. */
function differences(a, b, path = '(config)') {
  const out = [];
  const kinds = (s) => [...s.kinds].sort().join('|');
  if (kinds(a) !== kinds(b)) return [`${path}: schema ${kinds(a)}, type ${kinds(b)}`];
  const lits = (s) => [...(s.literals ?? [])].sort().join('|');
  if ((a.literals || b.literals) && lits(a) !== lits(b)) out.push(`${path}: schema ${lits(a) || '(any)'}, type ${lits(b) || '(any)'}`);
  if (a.items || b.items) out.push(...differences(a.items ?? shape(['any']), b.items ?? shape(['any']), `${path}[]`));
  if (a.map || b.map) out.push(...differences(a.map ?? shape(['any']), b.map ?? shape(['any']), `${path}{}`));
  if (a.props || b.props) {
    const names = new Set([...Object.keys(a.props ?? {}), ...Object.keys(b.props ?? {})]);
    for (const name of names) {
      const [x, y] = [a.props?.[name], b.props?.[name]];
      const at = `${path}.${name}`;
      if (!x || !y) out.push(`${at}: only in the ${x ? 'schema' : 'type'}`);
      else if (x.required !== y.required) out.push(`${at}: required in the ${x.required ? 'schema' : 'type'} only`);
      else out.push(...differences(x.shape, y.shape, at));
    }
  }
  return out;
}

test('the TypeScript type TesseraConfig and the schema describe the same fields', () => {
  const file = fileURLToPath(new URL('js/src/types.ts', root));
  const program = ts.createProgram([file], { strict: true, target: ts.ScriptTarget.ES2022, noEmit: true });
  const checker = program.getTypeChecker();
  const module = checker.getSymbolAtLocation(program.getSourceFile(file));
  const symbol = checker.getExportsOfModule(module).find((s) => s.name === 'TesseraConfig');
  const type = checker.getDeclaredTypeOfSymbol(symbol);
  const found = differences(fromSchema(schema), fromType(checker, type));
  assert.deepEqual(found, []);
  // The comparison itself can fail: a field missing from one side is found.
  const trimmed = { ...fromSchema(schema), props: { ...fromSchema(schema).props } };
  delete trimmed.props.replayWindow;
  assert.deepEqual(differences(trimmed, fromType(checker, type)), ['(config).replayWindow: only in the type']);
});

test('the secret fields are the ones the worker refuses in TESSERA_CONFIG', () => {
  const secrets = Object.entries(schema.properties).filter(([, s]) => s.writeOnly).map(([k]) => k).sort();
  assert.deepEqual(secrets, ['clientSecret', 'cookieKeys', 'forwardSigningSecret', 'revokeSecret']);
  const worker = readFileSync(new URL('crates/worker/src/config.rs', root), 'utf8');
  for (const field of secrets) assert.match(worker, new RegExp(`"${field}"`), `the worker does not read ${field} from a secret`);
});
