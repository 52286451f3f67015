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
}

export type Operation = 'checkout' | 'refund';

const digest = (operation: Operation, { tenantId, userId, key }: IdempotencyScope) =>
  // NUL separators: claims cannot contain them, so distinct tuples never collide by concatenation.
  createHash('sha256').update([operation, tenantId, userId, key].join('\0')).digest('hex');

/** Key sent to Stripe (Stripe allows 255 characters; this is 76). Versioned so a format change never reuses old keys. */
export const stripeIdempotencyKey = (operation: Operation, scope: IdempotencyScope) =>
  `${operation}-v1-${digest(operation, scope)}`;

/** Our own id for what the request creates: `ord_…` for checkouts, `rfd_…` for refunds. */
export const derivedId = (operation: Operation, scope: IdempotencyScope) =>
  `${operation === 'checkout' ? 'ord' : 'rfd'}_${digest(operation, scope).slice(0, 32)}`;
