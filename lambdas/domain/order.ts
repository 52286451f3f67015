/**
 * The order aggregate. `paymentStatus` is the stored, monotonic lifecycle
 * (pending → paid | expired | failed). Money is never stored as a running total: the refund
 * ledger (one entry per Stripe refund, keyed by Stripe's id, whoever created it), the
 * reservations our API holds while Stripe's answer is unknown, and the disputes are the facts,
 * and every figure the API shows is derived from them by `orderTotals` (lambdas/domain/ledger.ts).
 */
export type PaymentStatus = 'pending' | 'paid' | 'expired' | 'failed';
export type OrderStatus = PaymentStatus | 'partially_refunded' | 'refunded';

/** Stripe's refund statuses. */
export type StripeRefundStatus = 'pending' | 'requires_action' | 'succeeded' | 'failed' | 'canceled';
export type RefundReason = 'duplicate' | 'fraudulent' | 'requested_by_customer';

/** One Stripe refund of this order's payment intent, as Stripe last reported it. */
export interface LedgerRefund {
  stripeRefundId: string;
  amount: number;
  status: StripeRefundStatus;
  /** Our refund id when the refund came from POST /v1/refunds; null for refunds made elsewhere (Dashboard). */
  refundId: string | null;
  /** Stripe `created`, epoch seconds. */
  created: number;
}

/**
 * A refund our API asked for: the balance is held from the moment we decide to call Stripe
 * until Stripe's refund id is known (then the ledger entry counts) or we know none was made.
 */
export interface RefundReservation {
  refundId: string;
  amount: number;
  reason: RefundReason | null;
  stripeIdempotencyKey: string;
  /** Fingerprint of the request that created it: the same key with another body is refused. */
  requestFingerprint: string;
  /** Set once Stripe told us which refund it made. */
  stripeRefundId: string | null;
  /** Set when we know Stripe made no refund (a definitive refusal, or a lookup found none). */
  releasedAt: string | null;
  releaseReason: string | null;
  /** When we last sent (or were about to send) the create request: an unknown outcome from then on. */
  lastAttemptAt: string | null;
  attempts: number;
  createdAt: string;
  updatedAt: string;
}

export type DisputeStatus =
  | 'warning_needs_response'
  | 'warning_under_review'
  | 'warning_closed'
  | 'needs_response'
  | 'under_review'
  | 'won'
  | 'lost';

export interface OrderDispute {
  disputeId: string;
  amount: number;
  status: DisputeStatus;
  created: number;
}

/** Something Stripe told us that does not fit this order: recorded, never applied. */
export interface OrderAnomaly {
  kind: string;
  stripeEventId: string | null;
  detail: string;
  at: string;
}

export interface Order {
  orderId: string;
  tenantId: string;
  userId: string;
  /** Incremented by every write; each write is conditional on the version it read. */
  version: number;
  paymentStatus: PaymentStatus;
  currency: string;
  /** Minor units, as Stripe computed them from its Prices when the session was created. */
  amountTotal: number;
  checkoutSessionId: string;
  checkoutUrl: string | null;
  /** Absent until our own session reports it (an index key cannot be null). */
  paymentIntentId?: string;
  /** The Stripe idempotency key the session was created with. */
  stripeIdempotencyKey: string;
  /** Fingerprint of the checkout request: the same key with another body is refused, even after our record expired. */
  requestFingerprint: string;
  /** Stripe refunds of this payment, keyed by Stripe refund id. */
  refunds: Record<string, LedgerRefund>;
  /** Our refund requests, keyed by our refund id. */
  reservations: Record<string, RefundReservation>;
  disputes: Record<string, OrderDispute>;
  anomalies: OrderAnomaly[];
  /**
   * Present (with the same value as the id) while the order has something only Stripe can settle:
   * an unpaid session or a reservation with an unknown outcome. A sparse index on it is the
   * recovery function's work list.
   */
  recoveryDue?: string;
  createdAt: string;
  updatedAt: string;
}
