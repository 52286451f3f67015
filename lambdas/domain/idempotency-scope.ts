import { createHash } from 'node:crypto';

/**
 * Scope of an Idempotency-Key: the same key from another user or tenant is another request.
 * Everything we derive from a request (our ids, the key we send to Stripe) is a pure function
 * of (operation, scope), so a retry after a crash re-derives exactly the same values.
 */
export interface IdempotencyScope {
  tenantId: string;
  userId: string;
  key: string;
}

export interface IdempotentRequest<Payload> {
  scope: IdempotencyScope;
  payload: Payload;
  /**
   * requestFingerprint(payload). Stored on the record the request creates (order, refund
   * reservation), so the same key with another body is refused even when our idempotency
   * record was deleted after an error or has expired.
   */
  fingerprint: string;
}

/** JSON with object keys sorted: equal payloads give equal text whatever their key order. */
const canonicalJson = (value: unknown): string =>
  typeof value === 'object' && value !== null
    ? Array.isArray(value)
      ? `[${value.map(canonicalJson).join(',')}]`
      : `{${Object.keys(value)
          .sort()
          .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
          .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
          .join(',')}}`
    : JSON.stringify(value);

export const requestFingerprint = (payload: unknown) => createHash('sha256').update(canonicalJson(payload)).digest('hex');

export type Operation = 'checkout' | 'refund' | 'subscription' | 'subscription-cancel' | 'billing-portal';

const digest = (operation: Operation, { tenantId, userId, key }: IdempotencyScope) =>
  // NUL separators: claims cannot contain them, so distinct tuples never collide by concatenation.
  createHash('sha256').update([operation, tenantId, userId, key].join('\0')).digest('hex');

/** Key sent to Stripe (Stripe allows 255 characters; this is 76). Versioned so a format change never reuses old keys. */
export const stripeIdempotencyKey = (operation: Operation, scope: IdempotencyScope) =>
  `${operation}-v1-${digest(operation, scope)}`;

const ID_PREFIX: Record<Operation, string> = { checkout: 'ord', refund: 'rfd', subscription: 'sbr', 'subscription-cancel': 'sbc', 'billing-portal': 'bps' };

/** Our own id for what the request creates: `ord_…` for checkouts, `rfd_…` for refunds, `sbr_…` for subscriptions. */
export const derivedId = (operation: Operation, scope: IdempotencyScope) =>
  `${ID_PREFIX[operation]}_${digest(operation, scope).slice(0, 32)}`;
