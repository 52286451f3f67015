import { JsonSchemaType, JsonSchemaVersion, type JsonSchema } from 'aws-cdk-lib/aws-apigateway';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';

/**
 * API Gateway request models, taken from the OpenAPI file (the one contract), translated to the
 * JSON Schema draft 4 subset API Gateway validates. Annotations (`description`, `format`,
 * `examples`) are dropped; everything that constrains is kept.
 */
const CONSTRAINTS = ['required', 'additionalProperties', 'minItems', 'maxItems', 'pattern', 'minimum', 'maximum', 'minLength', 'maxLength', 'enum'] as const;

function toDraft4(schema: Record<string, any>): JsonSchema {
  const converted: Record<string, unknown> = {};
  if (schema.type) converted.type = schema.type as JsonSchemaType;
  for (const key of CONSTRAINTS) if (schema[key] !== undefined) converted[key] = schema[key];
  if (schema.properties) {
    converted.properties = Object.fromEntries(Object.entries(schema.properties).map(([name, child]) => [name, toDraft4(child as Record<string, any>)]));
  }
  if (schema.items) converted.items = toDraft4(schema.items);
  return converted as JsonSchema;
}

export function requestModelSchema(name: string): JsonSchema {
  const spec = parse(readFileSync(path.join(__dirname, '..', 'docs', 'openapi.yaml'), 'utf8'));
  const schema = spec.components.schemas[name];
  if (!schema) throw new Error(`docs/openapi.yaml has no schema ${name}`);
  return { schema: JsonSchemaVersion.DRAFT4, title: name, ...toDraft4(schema) };
}
