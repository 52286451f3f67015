import type { FormValue } from './form-encoding';
import type { Metadata, StripeObject } from './stripe-objects';
import type { EmulatorClock } from './clock';
import type { EmulatorState } from './server';

/** The request/response vocabulary shared by the emulator's route modules. */
export interface ApiRequest {
  method: string;
  path: string;
  params: Record<string, FormValue>;
  query: URLSearchParams;
  requestId: string;
  idempotencyKey: string | null;
  /** The emulator clock when the request arrived: every object and event of one action shares it. */
  now: number;
}

export type Route = {
  method: string;
  pattern: RegExp;
  handle: (request: ApiRequest, match: RegExpExecArray) => StripeObject | Record<string, unknown>;
};

export class StripeApiError extends Error {
  constructor(
    readonly status: number,
    readonly error: { type: string; code?: string; message: string; param?: string },
  ) {
    super(error.message);
  }
}

/**
 * Codes Stripe raises while validating a request, before it starts executing: such a response
 * is not saved under the Idempotency-Key, so a retry with the same key after fixing the cause runs.
 */
const VALIDATION_CODES = new Set(['parameter_missing', 'parameter_invalid', 'parameter_invalid_integer', 'parameter_invalid_empty', 'parameter_unknown', 'resource_missing']);
export const raisedBeforeExecution = (error: StripeApiError) => error.error.code !== undefined && VALIDATION_CODES.has(error.error.code);

export const missing = (kind: string, id: string, param?: string) =>
  new StripeApiError(404, { type: 'invalid_request_error', code: 'resource_missing', message: `No such ${kind}: '${id}'`, ...(param ? { param } : {}) });
export const invalid = (message: string, param?: string, code = 'parameter_invalid') =>
  new StripeApiError(400, { type: 'invalid_request_error', code, message, ...(param ? { param } : {}) });
export const parameterMissing = (name: string) =>
  new StripeApiError(400, { type: 'invalid_request_error', code: 'parameter_missing', message: `Missing required param: ${name}.`, param: name });

export const str = (value: FormValue | undefined): string | undefined => (typeof value === 'string' ? value : undefined);
export const required = (params: Record<string, FormValue>, name: string): string => {
  const value = str(params[name]);
  if (value === undefined || value === '') throw parameterMissing(name);
  return value;
};
export const integer = (value: string, param: string, min: number): number => {
  const parsed = Number(value);
  if (!/^-?\d+$/.test(value) || parsed < min) throw invalid(`Invalid integer: ${value}`, param, 'parameter_invalid_integer');
  return parsed;
};
export const oneOf = <T extends string>(params: Record<string, FormValue>, name: string, allowed: readonly T[]): T => {
  const value = required(params, name);
  if (!allowed.includes(value as T)) throw invalid(`Invalid ${name}: must be one of ${allowed.join(', ')}`, name);
  return value as T;
};
export const metadataOf = (value: FormValue | undefined): Metadata => {
  if (value === undefined || value === '') return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid('Invalid metadata', 'metadata');
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
};
export const objectParam = (value: FormValue | undefined): Record<string, FormValue> | undefined =>
  typeof value === 'object' && !Array.isArray(value) ? value : undefined;

export type ListPage = {
  object: 'list';
  data: StripeObject[];
  has_more: boolean;
  url: string;
};

/** What a route module (disputes, payment links, …) needs from the emulator that mounts it. */
export interface EmulatorContext {
  readonly state: EmulatorState;
  readonly clock: EmulatorClock;
  baseUrl(): string;
  /** Records an event (created = the request's clock) and hands it to webhook delivery. */
  emit(type: string, object: StripeObject, request: ApiRequest): void;
  get(map: Map<string, StripeObject>, kind: string, id: string): StripeObject;
  /** Stripe's list envelope: newest first, `limit`, `created[...]`, `starting_after`/`ending_before`. */
  list(objects: StripeObject[], request: ApiRequest, filter?: (o: StripeObject) => boolean): ListPage;
  /** The succeeded charge of a payment intent, or Stripe's refusal. */
  chargeOfIntent(paymentIntentId: string, param: string): StripeObject;
  /** Validates `line_items[i][price|quantity]` against active prices of one currency. */
  priceLineItems(value: FormValue | undefined): PricedLineItems;
  /** Opens a Checkout Session (mode=payment) whose payment intent will carry `intentMetadata`. */
  openSession(input: OpenSessionInput, request: ApiRequest): StripeObject;
}

export interface PricedLineItems {
  currency: string;
  amountTotal: number;
  items: { price: string; quantity: number }[];
}

export interface OpenSessionInput {
  lineItems: PricedLineItems;
  successUrl: string | null;
  cancelUrl: string | null;
  clientReferenceId: string | null;
  customerEmail: string | null;
  metadata: Metadata;
  intentMetadata: Metadata;
  paymentLinkId?: string;
}
