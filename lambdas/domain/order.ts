/**
 * The order aggregate. `paymentStatus` is the stored, monotonic lifecycle
 * (pending → paid | expired | failed); the refund part of the public status is derived from the
 * amounts, so a refund that fails later can never leave a stale "refunded" behind.
 */
export type PaymentStatus = 'pending' | 'paid' | 'expired' | 'failed';
export type OrderStatus = PaymentStatus | 'partially_refunded' | 'refunded';

/** `reserved`: balance taken, Stripe not yet confirmed. The rest are Stripe's refund statuses. */
export type RefundStatus = 'reserved' | 'pending' | 'requires_action' | 'succeeded' | 'failed' | 'canceled';

export interface RefundRecord {
  refundId: string;
  amount: number;
  reason: RefundReason | null;
  status: RefundStatus;
  stripeRefundId: string | null;
  stripeIdempotencyKey: string;
  createdAt: string;
  updatedAt: string;
}

export type RefundReason = 'duplicate' | 'fraudulent' | 'requested_by_customer';

export interface Order {
  orderId: string;
  tenantId: string;
  userId: string;
  paymentStatus: PaymentStatus;
  currency: string;
  /** Minor units, as Stripe computed them from its Prices. */
  amountTotal: number;
  /** Minor units given back or reserved for refunds that have not failed. */
  amountRefunded: number;
  /** Minor units still refundable; 0 until paid. Kept stored so a conditional write can guard it. */
  amountRefundable: number;
  checkoutSessionId: string;
  checkoutUrl: string | null;
  /** Absent until Stripe reports it (an index key cannot be null). */
  paymentIntentId?: string;
  /** The Stripe idempotency key the session was created with: our ledger of what we sent. */
  stripeIdempotencyKey: string;
  disputed: boolean;
  /** Stripe `created` (epoch seconds) of the last refund failure; older charge.refunded events are ignored. */
  refundReleasedAt?: number;
  refunds: Record<string, RefundRecord>;
  createdAt: string;
  updatedAt: string;
}

/** Refund statuses in the order Stripe moves through them; a write never goes down this list. */
export const refundStatusRank: Record<RefundStatus, number> = {
  reserved: 0,
  pending: 1,
  requires_action: 1,
  succeeded: 2,
  failed: 3,
  canceled: 3,
};

/** A refund in one of these statuses gave nothing back: its amount returns to the balance. */
export const isReleasedRefund = (status: RefundStatus) => status === 'failed' || status === 'canceled';

export function orderStatus(order: Pick<Order, 'paymentStatus' | 'amountRefunded' | 'amountTotal'>): OrderStatus {
  if (order.paymentStatus !== 'paid' || order.amountRefunded <= 0) return order.paymentStatus;
  return order.amountRefunded >= order.amountTotal ? 'refunded' : 'partially_refunded';
}

export function refundView(refund: RefundRecord, currency: string) {
  return {
    refundId: refund.refundId,
    amount: refund.amount,
    currency,
    status: refund.status,
    reason: refund.reason,
    stripeRefundId: refund.stripeRefundId,
    createdAt: refund.createdAt,
    updatedAt: refund.updatedAt,
  };
}

/** The public representation (GET /v1/orders/{id}); internal bookkeeping stays internal. */
export function orderView(order: Order) {
  return {
    orderId: order.orderId,
    status: orderStatus(order),
    currency: order.currency,
    amountTotal: order.amountTotal,
    amountRefunded: order.amountRefunded,
    checkoutSessionId: order.checkoutSessionId,
    paymentIntentId: order.paymentIntentId ?? null,
    disputed: order.disputed,
    refunds: Object.values(order.refunds)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
      .map((refund) => refundView(refund, order.currency)),
    createdAt: order.createdAt,
    updatedAt: order.updatedAt,
  };
}
