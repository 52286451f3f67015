import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type Stripe from 'stripe';
import { isLive, type SubscriptionRecord } from '../lambdas/domain/subscription';
import { subscriptionSnapshotOf } from '../lambdas/shared/stripe-billing-gateway';
import { DynamoDbSubscriptionStore } from '../lambdas/shared/subscription-store';

/**
 * Subscriptions against Stripe, for bin/reconcile.ts: every record with a Stripe subscription
 * compared field by field, every record still without one compared with its Checkout Session,
 * every linked customer's subscriptions at Stripe (two live ones for one product is the incident
 * this design exists to prevent), duplicate Customers for one user, and every anomaly the
 * processor recorded, on a record or as an `anomaly#` item of a subscription no record holds.
 */
export type SubscriptionDrift =
  | { kind: 'subscription_mismatch'; subscriptionId: string; stripeSubscriptionId: string; field: string; stripe: string; ours: string }
  | { kind: 'subscription_missing_at_stripe'; subscriptionId: string; stripeSubscriptionId: string }
  | { kind: 'checkout_mismatch'; subscriptionId: string; checkoutSessionId: string; stripe: string; ours: string }
  | { kind: 'checkout_missing_at_stripe'; subscriptionId: string; checkoutSessionId: string }
  | { kind: 'stripe_subscription_without_record'; stripeSubscriptionId: string; customerId: string; product: string; status: string }
  | { kind: 'duplicate_live_subscriptions'; customerId: string; product: string; stripeSubscriptionIds: string }
  | { kind: 'duplicate_customers'; tenantId: string; userId: string; customerIds: string }
  | { kind: 'subscription_anomaly'; subscriptionId: string; anomaly: string; stripeEventId: string; detail: string }
  | { kind: 'stripe_subscription_anomaly'; stripeSubscriptionId: string; tenantId: string; userId: string; anomaly: string; stripeEventId: string; detail: string };

export const SUBSCRIPTION_DRIFT_MEANING: Record<SubscriptionDrift['kind'], string> = {
  subscription_mismatch: 'a subscription differs from Stripe\'s: an event not applied yet (or lost)',
  subscription_missing_at_stripe: 'our record names a Stripe subscription Stripe does not have: investigate at once',
  checkout_mismatch: 'a record without a Stripe subscription disagrees with its Checkout Session: completed or expired at Stripe but open here for longer than the grace period (an event lost), or expired here while Stripe still takes payment',
  checkout_missing_at_stripe: 'a record names a Checkout Session Stripe does not have: investigate at once',
  stripe_subscription_without_record: 'our customer has a subscription at Stripe that no record of ours holds (made outside the API, or a record write lost)',
  duplicate_live_subscriptions: 'one customer holds two live subscriptions to one product at Stripe: the customer is billed twice',
  duplicate_customers: 'Stripe has more than one Customer for one of our users',
  subscription_anomaly: 'an event about our subscription showed something to look at (a second subscription, two live for one product, several items): recorded on the record (its own Stripe subscription still sets its state)',
  stripe_subscription_anomaly: 'the processor recorded an anomaly for a Stripe subscription of our customer that no record holds (anomaly# item; e.g. made outside the API)',
};

/**
 * How long a record may stay behind its Checkout Session before that is drift: the session's
 * webhook is normally applied within seconds, and Stripe's session carries no completion time,
 * so the record's own last write is the clock. @default 30 minutes
 */
export const CHECKOUT_GRACE_MS = 30 * 60_000;

/** Our status for a record without a Stripe subscription, as its session's status says it should be. */
const CHECKOUT_STATUS_OF_SESSION: Record<string, string> = { open: 'checkout_open', expired: 'checkout_expired', complete: 'incomplete' };

export async function reconcileSubscriptions(deps: {
  stripe: Stripe; dynamoDb: DynamoDBClient; subscriptionsTableName: string; now?: Date; checkoutGraceMs?: number;
}): Promise<{ drift: SubscriptionDrift[]; checked: number }> {
  const items = await new DynamoDbSubscriptionStore(deps.dynamoDb, deps.subscriptionsTableName).scanAll();
  const records = items.filter((i) => String(i.pk).startsWith('subscription#')) as unknown as SubscriptionRecord[];
  const links = items.filter((i) => String(i.pk).startsWith('customer#')) as { tenantId: string; userId: string; stripeCustomerId: string }[];
  const anomalyItems = items.filter((i) => String(i.pk).startsWith('anomaly#')) as unknown as ForeignSubscriptionAnomaly[];
  const settledBefore = (deps.now ?? new Date()).getTime() - (deps.checkoutGraceMs ?? CHECKOUT_GRACE_MS);
  const drift: SubscriptionDrift[] = [];
  const recorded = new Set<string>();

  for (const item of anomalyItems) {
    drift.push({
      kind: 'stripe_subscription_anomaly', stripeSubscriptionId: item.stripeSubscriptionId, tenantId: item.tenantId, userId: item.userId,
      anomaly: item.anomaly.kind, stripeEventId: item.stripeEventId ?? '-', detail: item.anomaly.detail,
    });
  }

  for (const record of records) {
    for (const a of record.anomalies ?? []) {
      drift.push({ kind: 'subscription_anomaly', subscriptionId: record.subscriptionId, anomaly: a.kind, stripeEventId: a.stripeEventId ?? '-', detail: a.detail });
    }
    if (!record.stripeSubscriptionId) {
      const checkoutDrift = await compareCheckout(deps.stripe, record, settledBefore);
      if (checkoutDrift) drift.push(checkoutDrift);
      continue;
    }
    recorded.add(record.stripeSubscriptionId);
    let stripeSide: Stripe.Subscription;
    try {
      stripeSide = await deps.stripe.subscriptions.retrieve(record.stripeSubscriptionId);
    } catch (error) {
      if ((error as { code?: string }).code !== 'resource_missing') throw error;
      drift.push({ kind: 'subscription_missing_at_stripe', subscriptionId: record.subscriptionId, stripeSubscriptionId: record.stripeSubscriptionId });
      continue;
    }
    const snapshot = subscriptionSnapshotOf(stripeSide);
    const compared: [string, unknown, unknown][] = [
      ['status', snapshot.status, record.status],
      ['cancelAtPeriodEnd', snapshot.cancelAtPeriodEnd, record.cancelAtPeriodEnd],
      ['currentPeriodEnd', snapshot.currentPeriodEnd, record.currentPeriodEnd],
      ['product', snapshot.product, record.product],
      ['price', snapshot.price, record.price],
      ['quantity', snapshot.quantity, record.quantity],
    ];
    for (const [field, stripe, ours] of compared) {
      if (stripe !== ours) drift.push({ kind: 'subscription_mismatch', subscriptionId: record.subscriptionId, stripeSubscriptionId: snapshot.id, field, stripe: String(stripe), ours: String(ours) });
    }
  }

  for (const link of links) {
    const found = await deps.stripe.customers.search({ query: `metadata['tenantId']:'${link.tenantId}' AND metadata['userId']:'${link.userId}'`, limit: 100 });
    if (found.data.length > 1) drift.push({ kind: 'duplicate_customers', tenantId: link.tenantId, userId: link.userId, customerIds: found.data.map((c) => c.id).join(',') });
    const liveByProduct = new Map<string, string[]>();
    for await (const subscription of deps.stripe.subscriptions.list({ customer: link.stripeCustomerId, status: 'all', limit: 100 })) {
      const snapshot = subscriptionSnapshotOf(subscription);
      if (!recorded.has(snapshot.id)) {
        drift.push({ kind: 'stripe_subscription_without_record', stripeSubscriptionId: snapshot.id, customerId: link.stripeCustomerId, product: snapshot.product, status: snapshot.status });
      }
      if (isLive(snapshot.status)) liveByProduct.set(snapshot.product, [...(liveByProduct.get(snapshot.product) ?? []), snapshot.id]);
    }
    for (const [product, ids] of liveByProduct) {
      if (ids.length > 1) drift.push({ kind: 'duplicate_live_subscriptions', customerId: link.stripeCustomerId, product, stripeSubscriptionIds: ids.join(',') });
    }
  }
  return { drift, checked: records.length };
}

type ForeignSubscriptionAnomaly = { stripeSubscriptionId: string; tenantId: string; userId: string; stripeEventId: string | null; anomaly: { kind: string; detail: string } };

/**
 * A record Stripe has no subscription for yet, against its Checkout Session. Ours behind Stripe
 * (completed or expired there, open here) is drift once the record has been quiet for the grace
 * period; ours ahead of Stripe (expired here, payable there: the guard is free while the session
 * can still create a subscription) is drift at once.
 */
async function compareCheckout(stripe: Stripe, record: SubscriptionRecord, settledBefore: number): Promise<SubscriptionDrift | undefined> {
  let session: Stripe.Checkout.Session;
  try {
    session = await stripe.checkout.sessions.retrieve(record.checkoutSessionId);
  } catch (error) {
    if ((error as { code?: string }).code !== 'resource_missing') throw error;
    return { kind: 'checkout_missing_at_stripe', subscriptionId: record.subscriptionId, checkoutSessionId: record.checkoutSessionId };
  }
  const stripeStatus = session.status ?? 'open';
  if (CHECKOUT_STATUS_OF_SESSION[stripeStatus] === record.status) return undefined;
  const oursAhead = record.status === 'checkout_expired' && stripeStatus === 'open';
  if (!oursAhead && Date.parse(record.updatedAt) > settledBefore) return undefined;
  return { kind: 'checkout_mismatch', subscriptionId: record.subscriptionId, checkoutSessionId: record.checkoutSessionId, stripe: stripeStatus, ours: record.status };
}
