/**
 * Request bodies are checked against the schemas of docs/openapi.yaml, compiled at build time
 * (`npm run request-validators`) into request-validators.generated.ts: the spec is the only
 * definition of a valid body. A 400 lists each failing field as a JSON Pointer (RFC 6901), so
 * it says exactly what to fix; unknown fields are refused, so a client can never send an amount.
 */
import * as generated from './request-validators.generated';

export interface FieldError {
  pointer: string;
  detail: string;
}

export class RequestValidationError extends Error {
  constructor(readonly errors: FieldError[]) {
    super(errors.map((e) => `${e.pointer || '(body)'}: ${e.detail}`).join('; '));
    this.name = 'RequestValidationError';
  }
}

/** The subset of ajv's error object the generated code fills in. */
interface SchemaError {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}
type GeneratedValidator = ((data: unknown) => boolean) & { errors?: SchemaError[] | null };

export type RequestSchemaName = 'CheckoutRequest' | 'RefundRequest' | 'SubscriptionRequest' | 'BillingPortalRequest';
const validators = generated as unknown as Record<RequestSchemaName, GeneratedValidator>;

/** A body of 64 KiB can fail thousands of times; the first fields are enough to fix it. */
const MAX_FIELD_ERRORS = 50;

/** Patterns that stand for a rule are reported as the rule, not as a regular expression. */
const PATTERN_RULES: Record<string, string> = {
  WebUrl: 'must be an absolute http(s) URL made of RFC 3986 characters (no spaces, no user info)',
  SuccessUrl: 'must be an absolute http(s) URL made of RFC 3986 characters (no spaces, no user info); {CHECKOUT_SESSION_ID} may appear in it',
  EmailAddress: 'must be an e-mail address such as alice@shop.example',
};

const escapePointerToken = (token: string) => token.replace(/~/g, '~0').replace(/\//g, '~1');

function toFieldError(error: SchemaError): FieldError {
  switch (error.keyword) {
    case 'required':
      return { pointer: `${error.instancePath}/${escapePointerToken(String(error.params.missingProperty))}`, detail: 'is required' };
    case 'additionalProperties':
      return { pointer: `${error.instancePath}/${escapePointerToken(String(error.params.additionalProperty))}`, detail: 'is not a known field' };
    case 'pattern': {
      const rule = /\/schemas\/(\w+)\/pattern$/.exec(error.schemaPath)?.[1];
      if (rule && PATTERN_RULES[rule]) return { pointer: error.instancePath, detail: PATTERN_RULES[rule] };
      return { pointer: error.instancePath, detail: error.message ?? 'is not valid' };
    }
    default:
      return { pointer: error.instancePath, detail: error.message ?? 'is not valid' };
  }
}

/** One entry per field (its failures joined), in the order the schema found them. */
function fieldErrors(errors: readonly SchemaError[]): FieldError[] {
  const byPointer = new Map<string, string[]>();
  for (const error of errors) {
    const { pointer, detail } = toFieldError(error);
    const details = byPointer.get(pointer) ?? (byPointer.size < MAX_FIELD_ERRORS ? byPointer.set(pointer, []).get(pointer)! : undefined);
    if (details && !details.includes(detail)) details.push(detail);
  }
  return [...byPointer].map(([pointer, details]) => ({ pointer, detail: details.join('; ') }));
}

/** Returns the body typed as `T` when it satisfies the named schema; throws every field error otherwise. */
export function validateRequestBody<T>(schema: RequestSchemaName, body: unknown): T {
  const validate = validators[schema];
  if (validate(body)) return body as T;
  throw new RequestValidationError(fieldErrors(validate.errors ?? []));
}
