import { PoisonMessageError } from './errors';
import {
  applyDisputeFact,
  applyRefundFact,
  applySessionFact,
  isDisputeStatus,
  isStripeRefundStatus,
  type Change,
  type DisputeFact,
  type RefundFact,
  type SessionFact,
} from './ledger';
import type { PaymentStatus } from './order';
import type { OrderLedgerStore, StripeReader } from './ports';
import { applySubscriptionEvent, isSubscriptionEvent, SUBSCRIPTION_EVENT_TYPES, type SubscriptionEventDeps } from './subscription-events';

/**
 * What the processor does with each Stripe event. The rules live in ledger.ts; this module
 * turns an event into a fact, finds the order the fact is really about (never trusting an id
 * the object carries until our own record confirms it), and hands both to the store.
 */
export interface StripeEvent {
  id: string;
  type: string;
  created: number;
  api_version?: string | null;
  data: { object: Record<string, unknown> };
}

/** What the webhook enqueues instead of an event too large for the queue: fetched by id. */
export interface StripeEventPointer {
  object: 'event_pointer';
  id: string;
  type: string;
  created: number;
}

/**
 * applied: the order changed. stale: already reflected. foreign: not about anything this
 * backend created (acknowledged and counted, never retried). anomaly: about our order but
 * contradicting it (recorded on the order, acknowledged). ignored: a type we do not handle.
 */
export type EventOutcome = 'applied' | 'stale' | 'foreign' | 'anomaly' | 'ignored';

export const HANDLED_EVENT_TYPES = [
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
  'checkout.session.async_payment_failed',
  'checkout.session.expired',
  'refund.created',
  'refund.updated',
  'refund.failed',
  'charge.dispute.created',
  'charge.dispute.updated',
  'charge.dispute.closed',
  'charge.dispute.funds_withdrawn',
  'charge.dispute.funds_reinstated',
] as const;

/** Everything the webhook endpoint should be subscribed to: order events and subscription events (subscription-events.ts). */
export const SUBSCRIBED_EVENT_TYPES = [...HANDLED_EVENT_TYPES, ...SUBSCRIPTION_EVENT_TYPES] as const;

/** Parses an SQS message body into a Stripe event or a pointer to one, or throws a poison error. */
export function parseQueuedEvent(body: string): StripeEvent | StripeEventPointer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new PoisonMessageError('message body is not JSON');
  }
  const candidate = parsed as Partial<StripeEventPointer> | null;
  if (candidate?.object === 'event_pointer') {
    if (typeof candidate.id !== 'string' || !candidate.id.startsWith('evt_')) throw new PoisonMessageError('event pointer without an event id');
    return candidate as StripeEventPointer;
  }
  return checkStripeEvent(parsed);
}

export function checkStripeEvent(parsed: unknown): StripeEvent {
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
const amountOf = (value: unknown) => (typeof value === 'number' && Number.isInteger(value) ? value : NaN);

/** A Checkout Session object (event snapshot or fetched) as a fact. */
export function sessionFactOf(session: Record<string, unknown>, eventType?: string): SessionFact {
  const paid = session.payment_status === 'paid' || session.payment_status === 'no_payment_required';
  let outcome: PaymentStatus = 'pending';
  if (paid) outcome = 'paid';
  else if (eventType === 'checkout.session.async_payment_failed') outcome = 'failed';
  else if (session.status === 'expired') outcome = 'expired';
  return {
    checkoutSessionId: String(session.id),
    tenantId: text(metadataOf(session).tenantId) ?? null,
    paymentIntentId: idOf(session.payment_intent) ?? null,
    amountTotal: amountOf(session.amount_total),
    currency: String(session.currency ?? ''),
    outcome,
  };
}

/** A Refund object as a fact, or undefined when its status is one we do not know. */
export function refundFactOf(refund: Record<string, unknown>): RefundFact | undefined {
  if (!isStripeRefundStatus(refund.status) || !Number.isSafeInteger(refund.amount)) return undefined;
  return {
    stripeRefundId: String(refund.id),
    paymentIntentId: idOf(refund.payment_intent) ?? null,
    amount: amountOf(refund.amount),
    currency: String(refund.currency ?? ''),
    status: refund.status,
    refundId: text(metadataOf(refund).refundId) ?? null,
    created: typeof refund.created === 'number' ? refund.created : 0,
  };
}

function disputeFactOf(dispute: Record<string, unknown>): DisputeFact | undefined {
  if (!isDisputeStatus(dispute.status) || !Number.isSafeInteger(dispute.amount)) return undefined;
  return {
    disputeId: String(dispute.id),
    paymentIntentId: idOf(dispute.payment_intent) ?? null,
    amount: amountOf(dispute.amount),
    currency: String(dispute.currency ?? ''),
    status: dispute.status,
    created: typeof dispute.created === 'number' ? dispute.created : 0,
  };
}

export interface AppliedEventResult {
  outcome: EventOutcome;
  orderId?: string;
  /** Why: the rule's reason for stale/anomaly/foreign, for the log and the journal. */
  reason?: string;
}

export interface EventDeps {
  orders: OrderLedgerStore;
  stripe: StripeReader;
  /** Subscription events (subscription-events.ts); without it they are ignored. */
  subscriptions?: SubscriptionEventDeps;
}

const unknownStatus = (kind: string, object: Record<string, unknown>): Change => ({
  kind: 'anomaly',
  anomaly: { kind: `unknown_${kind}_status`, detail: `${kind} ${String(object.id)} has status ${JSON.stringify(object.status)}` },
});

export async function applyStripeEvent(event: StripeEvent, deps: EventDeps): Promise<AppliedEventResult> {
  const object = event.data.object;
  if (isSubscriptionEvent(event)) return deps.subscriptions ? applySubscriptionEvent(event, deps.subscriptions) : { outcome: 'ignored' };
  if (event.type.startsWith('checkout.session.')) {
    if (!(HANDLED_EVENT_TYPES as readonly string[]).includes(event.type)) return { outcome: 'ignored' };
    // Both names are only hints: client_reference_id is customer-controlled on Payment Links.
    // applySessionFact accepts the session only if it is the one we created for the order.
    const ourOrderId = text(metadataOf(object).orderId);
    const orderId = ourOrderId ?? text(object.client_reference_id);
    const order = orderId ? await deps.orders.getOrder(orderId) : undefined;
    if (!order) return { outcome: 'foreign', reason: 'session names no order of ours' };
    // A session without our metadata that merely names the order (a Payment Link's
    // ?client_reference_id=) is not ours: counted as foreign, nothing written, nobody paged.
    if (!ourOrderId && object.id !== order.checkoutSessionId) return { outcome: 'foreign', orderId: order.orderId, reason: 'a session we did not create names this order' };
    return settle(await deps.orders.mutate(order.orderId, (o) => applySessionFact(o, sessionFactOf(object, event.type)), event.id), order.orderId);
  }
  let decide: ((order: Parameters<typeof applyRefundFact>[0]) => Change) | undefined;
  if (event.type.startsWith('refund.') && (HANDLED_EVENT_TYPES as readonly string[]).includes(event.type)) {
    const fact = refundFactOf(object);
    decide = fact ? (o) => applyRefundFact(o, fact) : () => unknownStatus('refund', object);
  } else if (event.type.startsWith('charge.dispute.') && (HANDLED_EVENT_TYPES as readonly string[]).includes(event.type)) {
    const fact = disputeFactOf(object);
    decide = fact ? (o) => applyDisputeFact(o, fact) : () => unknownStatus('dispute', object);
  }
  if (!decide) return { outcome: 'ignored' };
  const paymentIntentId = idOf(object.payment_intent);
  if (!paymentIntentId) return { outcome: 'foreign', reason: 'no payment intent' };
  const orderId = await orderOfPaymentIntent(paymentIntentId, deps);
  if (!orderId) return { outcome: 'foreign', reason: `payment intent ${paymentIntentId} is not one of our orders'` };
  return settle(await deps.orders.mutate(orderId, decide, event.id), orderId);
}

/**
 * The order whose own session paid with this payment intent. Our index knows it once the
 * session's completion was applied; a refund or dispute can arrive before that (no ordering),
 * so on a miss we ask Stripe which order the payment intent was created for, and bring that
 * order's session up to date from Stripe itself. Only then does the payment intent count as ours.
 */
async function orderOfPaymentIntent(paymentIntentId: string, deps: EventDeps): Promise<string | undefined> {
  const indexed = await deps.orders.findOrderIdByPaymentIntent(paymentIntentId);
  if (indexed) return indexed;
  const intent = await deps.stripe.retrievePaymentIntent(paymentIntentId);
  const hintedOrderId = intent ? text(intent.metadata.orderId) : undefined;
  const order = hintedOrderId ? await deps.orders.getOrder(hintedOrderId) : undefined;
  if (!order || order.tenantId !== intent?.metadata.tenantId) return undefined;
  if (!order.paymentIntentId) {
    const session = await deps.stripe.retrieveCheckoutSession(order.checkoutSessionId);
    if (session) await deps.orders.mutate(order.orderId, (o) => applySessionFact(o, sessionFactOf(session)), null);
    const synced = await deps.orders.getOrder(order.orderId);
    return synced?.paymentIntentId === paymentIntentId ? order.orderId : undefined;
  }
  return order.paymentIntentId === paymentIntentId ? order.orderId : undefined;
}

function settle(change: Change, orderId: string): AppliedEventResult {
  switch (change.kind) {
    case 'applied':
      return { outcome: change.anomaly ? 'anomaly' : 'applied', orderId, ...(change.anomaly ? { reason: change.anomaly.kind } : {}) };
    case 'stale':
      return { outcome: 'stale', orderId, reason: change.reason };
    case 'anomaly':
      return { outcome: 'anomaly', orderId, reason: change.anomaly.kind };
    case 'notReady':
      // mutate() throws for notReady; unreachable, kept for the exhaustive switch.
      throw new Error(change.reason);
  }
}
