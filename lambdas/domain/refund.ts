import { PaymentRejectedError } from './errors';
import { derivedId, stripeIdempotencyKey, type IdempotentRequest } from './idempotency-scope';
import { isReleasedRefund, orderStatus, type Order, type RefundReason, type RefundRecord } from './order';
import type { OrderStore, PaymentGateway } from './ports';
import { validateRequestBody } from './validation';

export interface RefundRequest {
  orderId: string;
  /** Minor units; absent means the whole refundable balance. */
  amount?: number;
  reason?: RefundReason;
}

/** Schema check of POST /v1/refunds (docs/openapi.yaml). A non-positive amount is a business outcome, not a schema error. */
export function parseRefundRequest(body: unknown): RefundRequest {
  return validateRequestBody<RefundRequest>('RefundRequest', body);
}

export type RefundOutcome =
  | { kind: 'created'; order: Order; refund: RefundRecord }
  | { kind: 'orderNotFound' }
  | { kind: 'notRefundable'; status: string }
  | { kind: 'amountInvalid' }
  | { kind: 'exceedsBalance'; refundable: number }
  | { kind: 'rejected'; message: string; code: string | undefined };

/**
 * Refunds part or all of a paid order, exactly once per idempotency scope:
 * 1. reserve the amount on the order with one conditional write (balance, tenant, status and
 *    "no refund with this id yet" in the same condition), so concurrent refunds with different
 *    keys can never together exceed what was paid;
 * 2. ask Stripe, with a key derived from the scope;
 * 3. record Stripe's answer. A definitive "no" releases the reservation; an unknown outcome
 *    (timeout, 5xx) keeps it, and the retry resumes at step 2 with the same Stripe key.
 */
export async function createRefund(
  { scope, payload }: IdempotentRequest<RefundRequest>,
  deps: { gateway: PaymentGateway; orders: OrderStore; now: () => Date },
): Promise<RefundOutcome> {
  let order = await deps.orders.getOrder(payload.orderId);
  if (!order || order.tenantId !== scope.tenantId) return { kind: 'orderNotFound' };
  const refundId = derivedId('refund', scope);
  const stripeKey = stripeIdempotencyKey('refund', scope);

  let refund = order.refunds[refundId];
  if (refund?.stripeRefundId) return { kind: 'created', order, refund }; // done before; our record outlived the lock
  if (refund && isReleasedRefund(refund.status)) return { kind: 'rejected', message: 'This refund was rejected earlier', code: undefined };

  if (!refund) {
    if (payload.amount !== undefined && payload.amount <= 0) return { kind: 'amountInvalid' };
    if (order.paymentStatus !== 'paid' || order.amountRefundable <= 0) return { kind: 'notRefundable', status: orderStatus(order) };
    const amount = payload.amount ?? order.amountRefundable;
    if (amount > order.amountRefundable) return { kind: 'exceedsBalance', refundable: order.amountRefundable };
    const now = deps.now().toISOString();
    refund = { refundId, amount, reason: payload.reason ?? null, status: 'reserved', stripeRefundId: null, stripeIdempotencyKey: stripeKey, createdAt: now, updatedAt: now };
    if ((await deps.orders.reserveRefund(order.orderId, scope.tenantId, refund)) === 'rejected') {
      // Someone else changed the order between our read and our write: say why, from fresh data.
      order = (await deps.orders.getOrder(order.orderId))!;
      if (order.paymentStatus !== 'paid' || order.amountRefundable <= 0) return { kind: 'notRefundable', status: orderStatus(order) };
      return { kind: 'exceedsBalance', refundable: order.amountRefundable };
    }
  }

  let created;
  try {
    created = await deps.gateway.createRefund(
      {
        paymentIntentId: order.paymentIntentId!,
        amount: refund.amount,
        reason: refund.reason,
        metadata: { orderId: order.orderId, tenantId: order.tenantId, refundId },
      },
      stripeKey,
    );
  } catch (error) {
    if (!(error instanceof PaymentRejectedError)) throw error; // unknown outcome: keep the reservation
    await deps.orders.recordRefundOutcome(order.orderId, refundId, { status: 'failed', stripeRefundId: null });
    return { kind: 'rejected', message: error.message, code: error.code };
  }
  await deps.orders.recordRefundOutcome(order.orderId, refundId, { status: created.status, stripeRefundId: created.id });
  const updatedAt = deps.now().toISOString();
  return { kind: 'created', order, refund: { ...refund, status: created.status, stripeRefundId: created.id, updatedAt } };
}
