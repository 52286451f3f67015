/**
 * RFC 9457 problem details. Every error the API answers is one of these types; the `type`
 * URI is the stable identifier clients switch on (the title is for humans and may change).
 */
export const problemTypes = {
  validation: { status: 400, title: 'The request is not valid' },
  malformedJson: { status: 400, title: 'The request body is not valid JSON' },
  idempotencyKeyMissing: { status: 400, title: 'The Idempotency-Key header is required' },
  idempotencyKeyMalformed: { status: 400, title: 'The Idempotency-Key header must be a UUID' },
  unauthorized: { status: 401, title: 'The caller is not authenticated' },
  forbidden: { status: 403, title: 'The request was refused' },
  notFound: { status: 404, title: 'The resource does not exist' },
  routeNotFound: { status: 404, title: 'No such route' },
  methodNotAllowed: { status: 405, title: 'Method not allowed on this route' },
  idempotencyRequestInProgress: {
    status: 409,
    title: 'A request with this Idempotency-Key is still being processed',
  },
  orderNotRefundable: { status: 409, title: 'The order is not in a refundable state' },
  orderDisputed: { status: 409, title: 'The payment is disputed; refunds are refused until the dispute closes' },
  alreadySubscribed: { status: 409, title: 'The user already holds a live subscription to this product' },
  subscriptionCheckoutInProgress: { status: 409, title: 'Another request is opening this subscription checkout; retry shortly' },
  subscriptionNotActive: { status: 409, title: 'The subscription is not active, so it cannot be canceled' },
  priceNotRecurring: { status: 422, title: 'The price is not an active recurring Stripe Price' },
  payloadTooLarge: { status: 413, title: 'The request body is too large' },
  unsupportedMediaType: { status: 415, title: 'The request body must be application/json' },
  throttled: { status: 429, title: 'Too many requests; retry later' },
  requestRejected: { status: 400, title: 'API Gateway rejected the request' },
  gatewayError: { status: 502, title: 'API Gateway could not complete the request; retry later' },
  idempotencyKeyReused: {
    status: 422,
    title: 'This Idempotency-Key was already used with a different request body',
  },
  paymentRequestRejected: { status: 422, title: 'Stripe rejected the payment request' },
  refundAmountInvalid: { status: 422, title: 'The refund amount must be greater than zero' },
  refundExceedsBalance: {
    status: 422,
    title: 'The refund amount exceeds the refundable balance of the order',
  },
  invalidWebhookSignature: { status: 400, title: 'The Stripe-Signature header is missing or invalid' },
  internalError: { status: 500, title: 'An unexpected error occurred; retry with the same Idempotency-Key' },
  paymentProviderUnavailable: { status: 503, title: 'Stripe is unavailable; retry later' },
  storageUnavailable: { status: 503, title: 'The data store is unavailable; retry later' },
  queueUnavailable: { status: 503, title: 'The event queue is unavailable; retry later' },
} as const;

export type ProblemKind = keyof typeof problemTypes;

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail?: string;
  [extension: string]: unknown;
}

const kebab = (kind: string) => kind.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export const problemTypeUri = (kind: ProblemKind) => `urn:payments:problem:${kebab(kind)}`;

export function problemBody(
  kind: ProblemKind,
  detail?: string,
  extensions: Record<string, unknown> = {},
): ProblemBody {
  const { status, title } = problemTypes[kind];
  return { type: problemTypeUri(kind), title, status, ...(detail ? { detail } : {}), ...extensions };
}

/** A failure whose answer we know: thrown anywhere, turned into a response in one place. */
export class ProblemError extends Error {
  readonly body: ProblemBody;
  constructor(
    readonly kind: ProblemKind,
    detail?: string,
    extensions: Record<string, unknown> = {},
    readonly retryAfterSeconds?: number,
  ) {
    super(detail ?? problemTypes[kind].title);
    this.name = 'ProblemError';
    this.body = problemBody(kind, detail, extensions);
  }
}
