import { applyCheckoutSnapshot, applySubscriptionSnapshot, type SubscriptionChange } from './subscription';
import type { BillingReader, SubscriptionStore } from './subscription-ports';
import type { AppliedEventResult, StripeEvent } from './stripe-events';

/**
 * Subscription events as notifications (see subscription.ts): each names a Stripe object, the
 * processor fetches it and applies Stripe's current state to the record it belongs to.
 */
export const SUBSCRIPTION_EVENT_TYPES = [
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'invoice.paid',
  'invoice.payment_failed',
] as const;

export interface SubscriptionEventDeps {
  subscriptions: SubscriptionStore;
  billing: BillingReader;
}

/** Whether this module handles the event: subscription and invoice types, and subscription-mode Checkout Sessions. */
export const isSubscriptionEvent = (event: StripeEvent) =>
  (SUBSCRIPTION_EVENT_TYPES as readonly string[]).includes(event.type)
  || (event.type.startsWith('checkout.session.') && event.data.object.mode === 'subscription');

const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
const idOf = (value: unknown) => text(value) ?? (typeof value === 'object' && value !== null ? text((value as { id?: unknown }).id) : undefined);

/** Fetch, write, fetch again: the write stands only once Stripe still says the same after it. */
export const MAX_SYNC_ROUNDS = 4;

/**
 * Stripe changed the subscription after each of our writes, MAX_SYNC_ROUNDS times: the record may
 * be behind Stripe, so the event is not done. Thrown, the message goes back to SQS and is
 * retried (a later attempt reads Stripe again); never acknowledged with a possibly stale record.
 */
export class SubscriptionStillChangingError extends Error {
  constructor(readonly stripeSubscriptionId: string) {
    super(`Stripe subscription ${stripeSubscriptionId} changed after each of ${MAX_SYNC_ROUNDS} writes; retry`);
    this.name = 'SubscriptionStillChangingError';
  }
}

export async function applySubscriptionEvent(event: StripeEvent, deps: SubscriptionEventDeps): Promise<AppliedEventResult> {
  const object = event.data.object;
  if (event.type.startsWith('checkout.session.')) return applyCheckoutEvent(String(object.id), event.id, deps);
  const stripeSubscriptionId = event.type.startsWith('invoice.')
    // API ≥ 2025-03-31 names it under parent.subscription_details; older versions at the top level.
    ? idOf((object.parent as { subscription_details?: { subscription?: unknown } } | null)?.subscription_details?.subscription) ?? idOf(object.subscription)
    : idOf(object.id);
  if (!stripeSubscriptionId) return { outcome: 'foreign', reason: 'invoice of no subscription' };
  return syncSubscription(stripeSubscriptionId, event.id, deps);
}

async function applyCheckoutEvent(checkoutSessionId: string, eventId: string, deps: SubscriptionEventDeps): Promise<AppliedEventResult> {
  const session = await deps.billing.retrieveSubscriptionCheckout(checkoutSessionId);
  const subscriptionId = text(session?.metadata.subscriptionId);
  const record = subscriptionId ? await deps.subscriptions.getSubscription(subscriptionId) : undefined;
  if (!session || !record || record.tenantId !== session.metadata.tenantId) return { outcome: 'foreign', reason: 'session names no subscription of ours' };
  const result = outcomeOf(await deps.subscriptions.mutate(record.subscriptionId, (r) => applyCheckoutSnapshot(r, session), eventId), record.subscriptionId);
  // The session's completion may be the first news of the subscription: bring it in now.
  if (session.subscriptionId && result.outcome !== 'foreign') {
    const synced = await syncSubscription(session.subscriptionId, eventId, deps);
    if (synced.outcome === 'applied' || synced.outcome === 'anomaly') return synced;
  }
  return result;
}

async function syncSubscription(stripeSubscriptionId: string, eventId: string, deps: SubscriptionEventDeps): Promise<AppliedEventResult> {
  let result: AppliedEventResult | undefined;
  for (let round = 1; round <= MAX_SYNC_ROUNDS; round++) {
    const snapshot = await deps.billing.retrieveSubscription(stripeSubscriptionId);
    if (!snapshot) return result ?? { outcome: 'foreign', reason: `no subscription ${stripeSubscriptionId} at Stripe` };
    const subscriptionId = (await deps.subscriptions.findByStripeSubscription(stripeSubscriptionId)) ?? text(snapshot.metadata.subscriptionId);
    const record = subscriptionId ? await deps.subscriptions.getSubscription(subscriptionId) : undefined;
    if (!record) return foreignOrOutside(snapshot.id, snapshot.customerId, snapshot.product, eventId, deps);
    const change = await deps.subscriptions.mutate(record.subscriptionId, (r) => applySubscriptionSnapshot(r, snapshot), eventId);
    if (change.kind === 'foreign') return foreignOrOutside(snapshot.id, snapshot.customerId, snapshot.product, eventId, deps);
    if (change.kind === 'applied') result = outcomeOf(change, record.subscriptionId);
    else return result ?? outcomeOf(change, record.subscriptionId);
    // applied: go round again; the next read either matches (stale: done) or is newer.
  }
  throw new SubscriptionStillChangingError(stripeSubscriptionId);
}

/**
 * A subscription no record of ours claims. If its customer is ours (the Customer we linked to
 * that tenant and user), someone made it outside our API: an anomaly kept for reconcile.
 * Otherwise it is none of our business.
 */
async function foreignOrOutside(stripeSubscriptionId: string, customerId: string, product: string, eventId: string, deps: SubscriptionEventDeps): Promise<AppliedEventResult> {
  const customer = await deps.billing.retrieveCustomer(customerId);
  const tenantId = text(customer?.metadata.tenantId);
  const userId = text(customer?.metadata.userId);
  if (!tenantId || !userId || (await deps.subscriptions.customerOf(tenantId, userId)) !== customerId) {
    return { outcome: 'foreign', reason: `subscription ${stripeSubscriptionId} is not our customer's` };
  }
  await deps.subscriptions.recordForeignSubscription({
    stripeSubscriptionId, tenantId, userId, stripeEventId: eventId,
    anomaly: { kind: 'subscription_outside_api', detail: `subscription ${stripeSubscriptionId} of ${customerId} for ${product} was not created through this API` },
  });
  return { outcome: 'anomaly', reason: 'subscription_outside_api' };
}

function outcomeOf(change: SubscriptionChange, subscriptionId: string): AppliedEventResult {
  switch (change.kind) {
    case 'applied':
      return { outcome: 'applied', orderId: subscriptionId };
    case 'stale':
      return { outcome: 'stale', orderId: subscriptionId, reason: change.reason };
    case 'foreign':
      return { outcome: 'foreign', reason: change.reason };
    case 'anomaly':
      return { outcome: 'anomaly', orderId: subscriptionId, reason: change.anomaly.kind };
  }
}
