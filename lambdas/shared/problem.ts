/** What a problem type's documentation page says (docs/problems.md and GET /problems are built from it). */
export interface ProblemDefinition {
  readonly status: number;
  readonly title: string;
  /** When the API answers it. */
  readonly when: string;
  /** What the client should do about it. */
  readonly clientAction: string;
}

/**
 * RFC 9457 problem details. Every error the API answers is one of these types; the `type`
 * URI is the stable identifier clients switch on (the title is for humans and may change).
 * Each type is documented by a page at `/problems/{slug}`, which every problem response names in
 * `Link: <…>; rel="describedby"` (problem-links.ts).
 */
export const problemTypes = {
  validation: {
    status: 400,
    title: 'The request is not valid',
    when: 'The JSON body does not satisfy the schema of the route in docs/openapi.yaml (a missing or unknown field, a wrong type, a value out of range). `errors` lists a JSON Pointer and a message per failing field. Nothing was stored.',
    clientAction: 'Fix the fields named in `errors` and send again. You may reuse the same Idempotency-Key: a refused body is not remembered.',
  },
  malformedJson: {
    status: 400,
    title: 'The request body is not valid JSON',
    when: 'The body is empty or cannot be parsed as JSON. Nothing was stored.',
    clientAction: 'Send a JSON object as the body; the same Idempotency-Key may be reused.',
  },
  idempotencyKeyMissing: {
    status: 400,
    title: 'The Idempotency-Key header is required',
    when: 'A POST that creates something (a checkout, a refund) came without an `Idempotency-Key` header. Nothing was stored and Stripe was not called.',
    clientAction: 'Generate a UUID v4 or v7 once per logical operation, send it as `Idempotency-Key`, and reuse it on every retry of that operation.',
  },
  idempotencyKeyMalformed: {
    status: 400,
    title: 'The Idempotency-Key header must be a UUID',
    when: 'The `Idempotency-Key` header is not a UUID v4 or v7 (bare or as a quoted structured-field string), or the header was sent more than once. Nothing was stored.',
    clientAction: 'Send exactly one `Idempotency-Key` holding a UUID v4 or v7.',
  },
  unauthorized: {
    status: 401,
    title: 'The caller is not authenticated',
    when: 'No valid Cognito ID token (missing, expired, badly signed), or a token from an app client this API does not accept, or one without a tenant or user claim.',
    clientAction: 'Obtain a fresh Cognito ID token for this API\'s app client and send it as `Authorization: Bearer <token>`. Retrying with the same token will not help.',
  },
  forbidden: {
    status: 403,
    title: 'The request was refused',
    when: 'AWS WAF blocked the request (rate limit per IP, oversized body, known bad input), when WAF is enabled on the stage.',
    clientAction: 'Slow down or fix the request; contact the API operator if you believe the block is wrong.',
  },
  notFound: {
    status: 404,
    title: 'The resource does not exist',
    when: 'No such order (or problem type page), or the order belongs to another tenant: both answers are identical, so one tenant cannot learn about another\'s orders.',
    clientAction: 'Check the identifier. Do not retry with the same one.',
  },
  routeNotFound: {
    status: 404,
    title: 'No such route',
    when: 'API Gateway\'s answer to a path or method this API does not have.',
    clientAction: 'Check the method and path against docs/openapi.yaml.',
  },
  idempotencyRequestInProgress: {
    status: 409,
    title: 'A request with this Idempotency-Key is still being processed',
    when: 'A request with the same key and body from the same user is still running (a double click), or one that crashed still holds its lock until its deadline. Stripe is not called again.',
    clientAction: 'Wait the seconds in `Retry-After` (the lock\'s remaining life, 1 to 10 s) and retry with the same key and the same body.',
  },
  orderNotRefundable: {
    status: 409,
    title: 'The order is not in a refundable state',
    when: 'The order is not paid (pending, expired or failed), so there is nothing to refund. Stored and replayed for this key.',
    clientAction: 'Read the order (`GET /v1/orders/{orderId}`); refund only a paid order, with a new Idempotency-Key.',
  },
  orderDisputed: {
    status: 409,
    title: 'The payment is disputed; refunds are refused until the dispute closes',
    when: 'A chargeback is open on the order\'s payment: Stripe would refuse a refund, and the money is already held by the dispute. Stored and replayed for this key.',
    clientAction: 'Wait until the dispute closes (the order\'s `disputes[]`), then refund with a new Idempotency-Key.',
  },
  payloadTooLarge: {
    status: 413,
    title: 'The request body is too large',
    when: 'A JSON body over 64 KiB (the handler), or any body over 10 MB (API Gateway). Nothing was stored.',
    clientAction: 'Send a smaller body.',
  },
  unsupportedMediaType: {
    status: 415,
    title: 'The request body must be application/json',
    when: 'The `Content-Type` is not JSON. Nothing was stored.',
    clientAction: 'Send `Content-Type: application/json`.',
  },
  throttled: {
    status: 429,
    title: 'Too many requests; retry later',
    when: 'API Gateway\'s stage throttling (or the webhook route\'s own) refused the request before any handler ran.',
    clientAction: 'Wait `Retry-After` seconds and retry with the same Idempotency-Key; back off exponentially if it persists.',
  },
  requestRejected: {
    status: 400,
    title: 'API Gateway rejected the request',
    when: 'Another refusal by API Gateway itself (its catch-all 4xx answer); `detail` carries API Gateway\'s message. The status is the one API Gateway chose.',
    clientAction: 'Read `detail` and fix the request.',
  },
  gatewayError: {
    status: 502,
    title: 'API Gateway could not complete the request; retry later',
    when: 'The function crashed, answered malformed (502) or did not answer in time (504). The outcome is unknown; the idempotency key is released or expires with the function\'s deadline.',
    clientAction: 'Retry after `Retry-After` seconds with the same Idempotency-Key and the same body: the retry either finishes the first attempt or replays its result.',
  },
  alreadySubscribed: {
    status: 409,
    title: 'The user already holds a live subscription to this product',
    when: 'POST /v1/subscriptions by a user whose subscription to this product is active, trialing, past_due or unpaid; `subscriptionId` names it. Stored and replayed for this key.',
    clientAction: 'Show the existing subscription (`GET /v1/subscriptions`) or send the customer to the billing portal; do not retry.',
  },
  subscriptionCheckoutInProgress: {
    status: 409,
    title: 'Another request is opening this subscription checkout; retry shortly',
    when: 'Another tab or device of the same user is opening the checkout for this product right now (whatever its Idempotency-Key).',
    clientAction: 'Wait `Retry-After` seconds and retry: the answer will be that same checkout (200).',
  },
  subscriptionEnded: {
    status: 409,
    title: 'The subscription this Idempotency-Key started has ended',
    when: 'POST /v1/subscriptions retried with the key of an earlier request whose checkout expired unpaid (`checkout_expired`) or whose subscription ended (`canceled`, `incomplete_expired`), e.g. after the stored answer expired (24 h). A key names one request: no second checkout is opened for it. `subscriptionId` and `subscriptionStatus` name the record. Stored and replayed for this key.',
    clientAction: 'To subscribe again, send the request with a new Idempotency-Key.',
  },
  subscriptionNotActive: {
    status: 409,
    title: 'The subscription is not active, so it cannot be canceled',
    when: 'Cancel of a subscription whose checkout is still open (no subscription exists yet: an unpaid checkout expires by itself), whose first payment is still being set up (`incomplete`), or that is `paused`. `subscriptionStatus` says which. A subscription that has ended is not refused: cancel answers it as it stands (200).',
    clientAction: 'Read the subscription (`GET /v1/subscriptions`); nothing to cancel yet. Retry once it is active.',
  },
  priceNotRecurring: {
    status: 422,
    title: 'The price is not an active recurring Stripe Price',
    when: 'POST /v1/subscriptions with a Price that is one-time, inactive or unknown at Stripe. Stored and replayed for this key.',
    clientAction: 'Use a recurring Price id (and a new Idempotency-Key).',
  },
  idempotencyKeyReused: {
    status: 422,
    title: 'This Idempotency-Key was already used with a different request body',
    when: 'The same user sent this key before with another body (another amount, another quantity, another order), whether that first request finished, failed and was released, or expired. Checked before any Stripe call; this answer is not stored.',
    clientAction: 'Use a new Idempotency-Key for a new operation. To finish the first operation, retry it with its original body and the same key.',
  },
  paymentRequestRejected: {
    status: 422,
    title: 'Stripe rejected the payment request',
    when: 'Stripe refused the request as a business error (e.g. an unknown or inactive price); `stripeCode` carries Stripe\'s code. Stored and replayed for this key.',
    clientAction: 'Fix the request (e.g. the price) and send it with a new Idempotency-Key.',
  },
  refundAmountInvalid: {
    status: 422,
    title: 'The refund amount must be greater than zero',
    when: 'The refund amount is zero, or the order has nothing left to refund when no amount was given. Stored and replayed for this key.',
    clientAction: 'Send a positive `amount` (minor units) no larger than the order\'s `amountRefundable`, with a new Idempotency-Key.',
  },
  refundExceedsBalance: {
    status: 422,
    title: 'The refund amount exceeds the refundable balance of the order',
    when: 'The amount is more than `amountTotal` minus what is refunded, pending and lost in disputes; `refundable` says how much is left. Stored and replayed for this key.',
    clientAction: 'Refund at most `refundable`, with a new Idempotency-Key.',
  },
  invalidWebhookSignature: {
    status: 400,
    title: 'The Stripe-Signature header is missing or invalid',
    when: 'A webhook without a `Stripe-Signature` that verifies against the raw body with the endpoint\'s signing secret within the tolerance. The event was not accepted.',
    clientAction: 'If you are Stripe: nothing; the endpoint\'s signing secret is wrong and the operator must fix it. Anyone else: this route only accepts Stripe.',
  },
  internalError: {
    status: 500,
    title: 'An unexpected error occurred; retry with the same Idempotency-Key',
    when: 'A bug in the handler. Nothing internal is shown; the idempotency key was released.',
    clientAction: 'Retry after `Retry-After` seconds with the same key and body; report it to the operator if it persists.',
  },
  paymentProviderUnavailable: {
    status: 503,
    title: 'Stripe is unavailable; retry later',
    when: 'Stripe answered 429 or 5xx, or did not answer in time. What Stripe did is resolved later from Stripe itself; the key was released (a refund may keep its amount reserved until then).',
    clientAction: 'Retry after `Retry-After` seconds with the same Idempotency-Key and body: Stripe receives the same derived key, so nothing is created twice.',
  },
  storageUnavailable: {
    status: 503,
    title: 'The data store is unavailable; retry later',
    when: 'DynamoDB could not be read or written. The key was released.',
    clientAction: 'Retry after `Retry-After` seconds with the same Idempotency-Key and body.',
  },
  queueUnavailable: {
    status: 503,
    title: 'The event queue is unavailable; retry later',
    when: 'A verified Stripe webhook could not be enqueued, so it is not acknowledged.',
    clientAction: 'If you are Stripe: retry (Stripe does, for up to three days).',
  },
} as const satisfies Record<string, ProblemDefinition>;

export type ProblemKind = keyof typeof problemTypes;

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail?: string;
  [extension: string]: unknown;
}

const kebab = (kind: string) => kind.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The last segment of the type URN and of the documentation page's path. */
export const problemSlug = (kind: ProblemKind) => kebab(kind);

export const problemTypeUri = (kind: ProblemKind) => `urn:payments:problem:${problemSlug(kind)}`;

export const problemKindOfSlug = (slug: string): ProblemKind | undefined =>
  (Object.keys(problemTypes) as ProblemKind[]).find((kind) => problemSlug(kind) === slug);

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
