import { OrderNotFoundError, PoisonMessageError } from './errors';
import type { RefundStatus } from './order';

/**
 * What the processor does with each Stripe event type. Every change is one conditional write
 * in the store, so applying an event twice, or an older event after a newer one, changes
 * nothing; an event that arrives before the state it needs throws and is retried by SQS.
 */
export interface StripeEvent {
  id: string;
  type: string;
  created: number;
  data: { object: Record<string, unknown> };
}

export type EventOutcome = 'applied' | 'stale' | 'ignored';

/** The store operations the processor needs (lambdas/shared/order-store.ts implements them). */
export interface OrderEventStore {
  findOrderIdByPaymentIntent(paymentIntentId: string): Promise<string | undefined>;
  recordCheckoutCompleted(
    orderId: string,
    facts: { paymentIntentId: string | null; amountTotal: number; currency: string; paid: boolean },
  ): Promise<'applied' | 'stale'>;
  settlePending(orderId: string, next: 'failed' | 'expired'): Promise<'applied' | 'stale'>;
  raiseRefundedTotal(orderId: string, stripeAmountRefunded: number, eventCreated: number): Promise<'applied' | 'stale'>;
  recordRefundOutcome(
    orderId: string,
    refundId: string,
    outcome: { status: RefundStatus; stripeRefundId: string | null; eventCreated?: number },
  ): Promise<'applied' | 'stale'>;
  flagDisputed(orderId: string): Promise<'applied' | 'stale'>;
}

export const HANDLED_EVENT_TYPES = [
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
  'checkout.session.async_payment_failed',
  'checkout.session.expired',
  'charge.refunded',
  'refund.created',
  'refund.updated',
  'refund.failed',
  'charge.dispute.created',
] as const;

/** Parses an SQS message body into a Stripe event envelope, or throws a poison error. */
export function parseStripeEvent(body: string): StripeEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new PoisonMessageError('message body is not JSON');
  }
  const event = parsed as Partial<StripeEvent> | null;
  if (
    !event ||
    typeof event.id !== 'string' ||
    !event.id.startsWith('evt_') ||
    typeof event.type !== 'string' ||
    typeof event.created !== 'number' ||
    typeof event.data?.object !== 'object' ||
    event.data.object === null
  ) {
    throw new PoisonMessageError('message body is not a Stripe event');
  }
  return event as StripeEvent;
}

const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
const idOf = (value: unknown): string | undefined =>
  text(value) ?? (typeof value === 'object' && value !== null ? text((value as { id?: unknown }).id) : undefined);
const metadataOf = (object: Record<string, unknown>) => (object.metadata ?? {}) as Record<string, unknown>;

export async function applyStripeEvent(event: StripeEvent, store: OrderEventStore): Promise<{ outcome: EventOutcome; orderId?: string }> {
  const object = event.data.object;

  const orderOfPaymentIntent = async (paymentIntentId: string | undefined) => {
    const orderId = text(metadataOf(object).orderId) ?? (paymentIntentId ? await store.findOrderIdByPaymentIntent(paymentIntentId) : undefined);
    // Possibly a race with checkout.session.completed: retry, and dead-letter if it never resolves.
    if (!orderId) throw new OrderNotFoundError(`payment intent ${paymentIntentId ?? '(none)'}`);
    return orderId;
  };

  switch (event.type) {
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded':
    case 'checkout.session.async_payment_failed':
    case 'checkout.session.expired': {
      const orderId = text(metadataOf(object).orderId) ?? text(object.client_reference_id);
      if (!orderId) return { outcome: 'ignored' }; // a session this backend did not create
      if (event.type === 'checkout.session.expired') return { outcome: await store.settlePending(orderId, 'expired'), orderId };
      if (event.type === 'checkout.session.async_payment_failed') return { outcome: await store.settlePending(orderId, 'failed'), orderId };
      const paymentStatus = object.payment_status;
      const outcome = await store.recordCheckoutCompleted(orderId, {
        paymentIntentId: idOf(object.payment_intent) ?? null,
        amountTotal: Number(object.amount_total ?? 0),
        currency: String(object.currency ?? ''),
        paid: paymentStatus === 'paid' || paymentStatus === 'no_payment_required',
      });
      return { outcome, orderId };
    }
    case 'charge.refunded': {
      const orderId = await orderOfPaymentIntent(idOf(object.payment_intent));
      return { outcome: await store.raiseRefundedTotal(orderId, Number(object.amount_refunded ?? 0), event.created), orderId };
    }
    case 'refund.created':
    case 'refund.updated':
    case 'refund.failed': {
      const refundId = text(metadataOf(object).refundId);
      // Refunds made outside this API (the Dashboard) reach the order through charge.refunded.
      if (!refundId) return { outcome: 'ignored' };
      const orderId = await orderOfPaymentIntent(idOf(object.payment_intent));
      const status = (event.type === 'refund.failed' ? 'failed' : object.status) as RefundStatus;
      const outcome = await store.recordRefundOutcome(orderId, refundId, { status, stripeRefundId: text(object.id) ?? null, eventCreated: event.created });
      return { outcome, orderId };
    }
    case 'charge.dispute.created': {
      const orderId = await orderOfPaymentIntent(idOf(object.payment_intent));
      return { outcome: await store.flagDisputed(orderId), orderId };
    }
    default:
      return { outcome: 'ignored' };
  }
}
