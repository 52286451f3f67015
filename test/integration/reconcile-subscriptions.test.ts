import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { formatReport, reconcile } from '../../bin/reconcile';
import { CHECKOUT_GRACE_MS, reconcileSubscriptions, SUBSCRIPTION_DRIFT_MEANING } from '../../bin/reconcile-subscriptions';
import { applyStripeEvent, type StripeEvent } from '../../lambdas/domain/stripe-events';
import { DynamoDbOrderStore } from '../../lambdas/shared/order-store';
import { StripeBillingGateway } from '../../lambdas/shared/stripe-billing-gateway';
import { DynamoDbSubscriptionStore, keys } from '../../lambdas/shared/subscription-store';
import { createSubscriptionsHandler } from '../../lambdas/subscriptions/create-subscriptions-handler';
import type { StripeObject } from '../../local/stripe-emulator/stripe-objects';
import { call, claimsOf, newKey, startHarness, TABLES, type Harness } from '../support/harness';

/**
 * Reconcile's subscription half where it used to look away: records still without a Stripe
 * subscription (compared with their Checkout Session) and the processor's `anomaly#` items for
 * subscriptions of our customer that no record holds. This file's own database and emulator, so
 * the drift lists are exact.
 */
let h: Harness;
let billing: StripeBillingGateway;
let store: DynamoDbSubscriptionStore;
let handler: ReturnType<typeof createSubscriptionsHandler>;
let priceId: string;

beforeAll(async () => {
  h = await startHarness();
  billing = new StripeBillingGateway(async () => h.stripe);
  store = new DynamoDbSubscriptionStore(h.db.client, TABLES.subscriptions);
  handler = createSubscriptionsHandler({ dynamoDb: h.db.client, subscriptionsTableName: TABLES.subscriptions, idempotencyTableName: TABLES.idempotency, billing });
  priceId = (await h.stripe.prices.create({ currency: 'eur', unit_amount: 900, recurring: { interval: 'month' }, product_data: { name: 'Pro' } })).id;
});
afterAll(() => h.close());

const subscribe = async (userId: string) => {
  const answer = await call(handler, {
    path: '/v1/subscriptions', resource: '/v1/subscriptions', claims: claimsOf('acme', userId), headers: { 'Idempotency-Key': newKey() },
    body: { price: priceId, successUrl: 'https://shop.example/ok', cancelUrl: 'https://shop.example/cancel' },
  });
  expect(answer.status).toBe(201);
  return { subscriptionId: answer.body.subscriptionId as string, checkoutSessionId: answer.body.checkoutSessionId as string };
};
const helper = (path: string) => h.stripe.rawRequest('POST', `/v1/test_helpers/${path}`, {});
async function eventsOf(action: () => Promise<unknown>): Promise<StripeObject[]> {
  const before = h.emulator.state.events.length;
  await action();
  return h.emulator.state.events.slice(before);
}
const deps = () => ({ orders: new DynamoDbOrderStore(h.db.client, TABLES.orders), stripe: h.gateway, subscriptions: { subscriptions: store, billing } });
const apply = (event: StripeObject) => applyStripeEvent(event as unknown as StripeEvent, deps());
const drift = async (now: Date) => (await reconcileSubscriptions({ stripe: h.stripe, dynamoDb: h.db.client, subscriptionsTableName: TABLES.subscriptions, now })).drift;
const byKind = (a: { kind: string }, b: { kind: string }) => JSON.stringify(a).localeCompare(JSON.stringify(b));

describe('reconcile: subscriptions without a Stripe subscription yet, against their Checkout Session', () => {
  it('completed or expired at Stripe while ours is open: drift after the grace period; expired here but open there, or missing there: drift at once', async () => {
    const untouched = await subscribe('still-open');
    const paidUnseen = await subscribe('paid-unseen');
    const expiredUnseen = await subscribe('expired-unseen');
    const expiredHere = await subscribe('expired-here');
    const vanished = await subscribe('vanished');
    const applied = await subscribe('expired-applied');

    // Stripe moves on; the webhooks never arrive.
    await helper(`checkout/sessions/${paidUnseen.checkoutSessionId}/complete`);
    const paidSubscription = h.emulator.state.sessions.get(paidUnseen.checkoutSessionId)!.subscription as string;
    await h.stripe.checkout.sessions.expire(expiredUnseen.checkoutSessionId);
    // A record that says expired while its session still takes payment (a bad restore, a hand edit).
    const current = (await store.getSubscription(expiredHere.subscriptionId))!;
    await DynamoDBDocumentClient.from(h.db.client).send(new PutCommand({
      TableName: TABLES.subscriptions,
      Item: { ...current, status: 'checkout_expired', checkoutUrl: null, version: current.version + 1, pk: keys.subscription(current.subscriptionId), ownerKey: keys.owner('acme', 'expired-here'), stripeSubscriptionId: undefined },
    }));
    h.emulator.state.sessions.delete(vanished.checkoutSessionId);
    // Expired at Stripe and applied here: in agreement.
    for (const event of await eventsOf(() => h.stripe.checkout.sessions.expire(applied.checkoutSessionId))) await apply(event);
    expect((await store.getSubscription(applied.subscriptionId))!.status).toBe('checkout_expired');

    const paidCustomer = (await store.customerOf('acme', 'paid-unseen'))!;
    const atOnce = [
      { kind: 'checkout_mismatch', subscriptionId: expiredHere.subscriptionId, checkoutSessionId: expiredHere.checkoutSessionId, stripe: 'open', ours: 'checkout_expired' },
      { kind: 'checkout_missing_at_stripe', subscriptionId: vanished.subscriptionId, checkoutSessionId: vanished.checkoutSessionId },
      // The completed session's subscription exists at Stripe and no record names it yet.
      { kind: 'stripe_subscription_without_record', stripeSubscriptionId: paidSubscription, customerId: paidCustomer, product: expect.stringMatching(/^prod_/), status: 'active' },
    ];
    // Within the grace period: the two events may still be on their way.
    expect((await drift(new Date())).sort(byKind)).toEqual(atOnce.sort(byKind));

    const afterGrace = new Date(Date.now() + CHECKOUT_GRACE_MS + 60_000);
    expect((await drift(afterGrace)).sort(byKind)).toEqual([
      ...atOnce,
      { kind: 'checkout_mismatch', subscriptionId: paidUnseen.subscriptionId, checkoutSessionId: paidUnseen.checkoutSessionId, stripe: 'complete', ours: 'checkout_open' },
      { kind: 'checkout_mismatch', subscriptionId: expiredUnseen.subscriptionId, checkoutSessionId: expiredUnseen.checkoutSessionId, stripe: 'expired', ours: 'checkout_open' },
    ].sort(byKind));
    expect(JSON.stringify(await drift(afterGrace))).not.toContain(untouched.subscriptionId);

    // The report the on-call engineer reads names them, with their meaning documented.
    const report = await reconcile({
      stripe: h.stripe, dynamoDb: h.db.client, ordersTableName: TABLES.orders, subscriptionsTableName: TABLES.subscriptions,
      since: new Date(Date.now() - 3_600_000), until: new Date(), now: afterGrace,
    });
    expect(formatReport(report)).toContain(`checkout_mismatch subscriptionId=${paidUnseen.subscriptionId} checkoutSessionId=${paidUnseen.checkoutSessionId} stripe=complete ours=checkout_open`);
    expect(formatReport(report)).toContain(`checkout_missing_at_stripe subscriptionId=${vanished.subscriptionId}`);
    expect(SUBSCRIPTION_DRIFT_MEANING.checkout_mismatch).toMatch(/grace/);

    // Once the late events are applied (as the processor would), that drift goes away.
    for (const event of h.emulator.state.events.filter((e) => JSON.stringify(e).includes(paidUnseen.checkoutSessionId) || JSON.stringify(e).includes(expiredUnseen.checkoutSessionId) || JSON.stringify(e).includes(paidSubscription))) {
      await apply(event);
    }
    expect((await drift(afterGrace)).sort(byKind)).toEqual(atOnce.filter((d) => d.kind !== 'stripe_subscription_without_record').sort(byKind));
  });
});

describe('reconcile: the processor\'s anomaly items', () => {
  it('a subscription of our customer made outside the API is listed from its anomaly# item, with the event that revealed it', async () => {
    const ours = await subscribe('outsider');
    for (const event of await eventsOf(() => helper(`checkout/sessions/${ours.checkoutSessionId}/complete`))) await apply(event);
    const customerId = (await store.customerOf('acme', 'outsider'))!;
    const before = (await drift(new Date())).filter((d) => JSON.stringify(d).includes(customerId) || JSON.stringify(d).includes('outsider'));
    expect(before).toEqual([]);

    const outside = await h.stripe.checkout.sessions.create({ mode: 'subscription', customer: customerId, line_items: [{ price: priceId }], success_url: 'https://x.example/ok' });
    const outsideEvents = await eventsOf(() => helper(`checkout/sessions/${outside.id}/complete`));
    const created = outsideEvents.find((e) => e.type === 'customer.subscription.created')!;
    expect(await apply(created)).toMatchObject({ outcome: 'anomaly', reason: 'subscription_outside_api' });
    const outsideId = h.emulator.state.sessions.get(outside.id)!.subscription as string;

    const found = (await drift(new Date())).filter((d) => JSON.stringify(d).includes(customerId) || JSON.stringify(d).includes('outsider'));
    expect(found.find((d) => d.kind === 'stripe_subscription_anomaly')).toEqual({
      kind: 'stripe_subscription_anomaly', stripeSubscriptionId: outsideId, tenantId: 'acme', userId: 'outsider', anomaly: 'subscription_outside_api', stripeEventId: created.id,
      detail: expect.stringContaining(outsideId),
    });
    expect(found.map((d) => d.kind).sort()).toEqual(['duplicate_live_subscriptions', 'stripe_subscription_anomaly', 'stripe_subscription_without_record']);
  });
});
