import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import { openApiSpec } from './contract';

/**
 * Request bodies generated from docs/openapi.yaml, and an oracle that says whether a body is
 * valid that owes nothing to the handlers' code: ajv over the raw spec, `format` included
 * (ajv-formats, full mode). Used by the property tests of test/integration/request-bodies.test.ts.
 */
type Schema = Record<string, any>;

const spec = openApiSpec();
const schemas: Record<string, Schema> = spec.components.schemas;

const oracleAjv = new Ajv2020({ allErrors: true, strict: false });
addFormats(oracleAjv, { mode: 'full' });
oracleAjv.addSchema({ $id: 'openapi', components: { schemas } });

/** The spec's verdict on a body, independent of lambdas/. */
export const specAccepts = (schemaName: string, body: unknown) => oracleAjv.validate(`openapi#/components/schemas/${schemaName}`, body) as boolean;

const resolve = (schema: Schema): Schema => (schema.$ref ? resolve(schemas[schema.$ref.replace('#/components/schemas/', '')]) : schema);

/** Keywords this generator understands; a schema using another one fails loudly instead of being half-generated. */
const KNOWN = new Set(['type', 'properties', 'required', 'additionalProperties', 'items', 'minItems', 'maxItems', 'pattern', 'maxLength', 'minimum', 'maximum', 'enum', 'format', 'description', 'examples']);

/** Values the schema accepts. `overrides` replaces the generator of a named property (e.g. real price ids). */
export function validValue(schemaOrRef: Schema, overrides: Record<string, fc.Arbitrary<unknown>> = {}): fc.Arbitrary<unknown> {
  const schema = resolve(schemaOrRef);
  const unknown = Object.keys(schema).filter((k) => !KNOWN.has(k));
  if (unknown.length > 0) throw new Error(`spec-arbitraries cannot generate from keyword(s) ${unknown.join(', ')}: teach it`);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  switch (schema.type) {
    case 'object': {
      const record = Object.fromEntries(Object.entries(schema.properties as Record<string, Schema>).map(([name, child]) => [name, overrides[name] ?? validValue(child, overrides)]));
      return fc.record(record, { requiredKeys: schema.required ?? [] });
    }
    case 'array':
      return fc.array(validValue(schema.items, overrides), { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 10, 10) });
    case 'string': {
      const text = schema.pattern ? fc.stringMatching(new RegExp(schema.pattern)) : fc.string({ minLength: 1 });
      return schema.maxLength ? text.filter((s) => s.length <= schema.maxLength) : text;
    }
    case 'integer': {
      const min = schema.minimum ?? -1e9;
      const max = schema.maximum ?? 1e9;
      // The edges are where validators disagree: always try them.
      return fc.oneof(fc.integer({ min, max }), fc.constantFrom(min, max));
    }
    default:
      throw new Error(`spec-arbitraries cannot generate type ${schema.type}`);
  }
}

/** Values of the wrong JSON type, for any slot. */
const anyJson = fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string({ maxLength: 20 }), fc.constant([]), fc.constant({}));

/** A value that breaks one rule of the schema (the oracle decides whether it really does). */
function brokenValue(schemaOrRef: Schema): fc.Arbitrary<unknown> {
  const schema = resolve(schemaOrRef);
  const breakers: fc.Arbitrary<unknown>[] = [anyJson];
  if (schema.enum) breakers.push(fc.string({ maxLength: 30 }));
  if (schema.type === 'string') {
    breakers.push(fc.string({ maxLength: 60 }), fc.string({ unit: 'binary', maxLength: 30 }));
    if (schema.maxLength) breakers.push(fc.constant('a'.repeat(schema.maxLength + 1)));
    // Too long yet still matching the pattern (repeating the last character usually keeps the match).
    if (schema.maxLength && schema.pattern) breakers.push(fc.stringMatching(new RegExp(schema.pattern)).map((valid) => valid + valid.slice(-1).repeat(schema.maxLength)));
    if (schema.pattern) breakers.push(fc.stringMatching(new RegExp(schema.pattern)).chain((valid) => fc.constantFrom(` ${valid}`, `${valid} `, `${valid}\u00e9`, valid.slice(1), `${valid}<>`, `${valid}%zz`, `${valid}"`)));
  }
  if (schema.type === 'integer') {
    breakers.push(fc.constantFrom(1.5, -0.5, '1', 1e21));
    if (schema.maximum !== undefined) breakers.push(fc.integer({ min: schema.maximum + 1, max: schema.maximum + 1_000_000 }));
    if (schema.minimum !== undefined) breakers.push(fc.integer({ min: schema.minimum - 1_000_000, max: schema.minimum - 1 }));
  }
  if (schema.type === 'array') {
    if (schema.minItems) breakers.push(fc.constant([]));
    if (schema.maxItems) breakers.push(fc.array(validValue(schema.items), { minLength: schema.maxItems + 1, maxLength: schema.maxItems + 3 }));
    breakers.push(fc.array(brokenValue(schema.items), { minLength: 1, maxLength: 3 }));
  }
  return fc.oneof(...breakers);
}

/**
 * A valid body with one thing broken: a required field dropped, an unknown field added, or one
 * field (at any depth) replaced by a value that breaks its rule. Or not an object at all.
 */
export function invalidValue(schemaOrRef: Schema, overrides: Record<string, fc.Arbitrary<unknown>> = {}): fc.Arbitrary<unknown> {
  const schema = resolve(schemaOrRef);
  if (schema.type !== 'object') return brokenValue(schema);
  const properties = Object.entries(schema.properties as Record<string, Schema>);
  const base = validValue(schema, overrides) as fc.Arbitrary<Record<string, unknown>>;
  const mutations: fc.Arbitrary<unknown>[] = [
    anyJson.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)),
    fc.tuple(base, fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !(k in schema.properties)), anyJson).map(([body, key, value]) => ({ ...body, [key]: value })),
    ...properties.map(([name, child]) => fc.tuple(base, resolve(child).type === 'object' || resolve(child).type === 'array' ? invalidValue(child) : brokenValue(child)).map(([body, value]) => ({ ...body, [name]: value }))),
  ];
  if (schema.required?.length) mutations.push(fc.tuple(base, fc.constantFrom(...(schema.required as string[]))).map(([body, name]) => Object.fromEntries(Object.entries(body).filter(([k]) => k !== name))));
  return fc.oneof(...mutations);
}

export const requestSchema = (name: string): Schema => schemas[name];
