import { PutCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { applyStripeEvent, type StripeEvent } from '../../lambdas/domain/stripe-events';
import type { SubscriptionRecord } from '../../lambdas/domain/subscription';
import { DynamoDbOrderStore } from '../../lambdas/shared/order-store';
import { StripeBillingGateway } from '../../lambdas/shared/stripe-billing-gateway';
import { DynamoDbSubscriptionStore, keys } from '../../lambdas/shared/subscription-store';
import { createSubscriptionsHandler } from '../../lambdas/subscriptions/create-subscriptions-handler';
import { createEventProcessor } from '../../lambdas/events/create-event-processor';
import { lambdaContext } from '../../local/lambda-context';
import type { StripeObject } from '../../local/stripe-emulator/stripe-objects';
import { sqsEvent } from '../support/orders';
import { reconcileSubscriptions, type SubscriptionDrift } from '../../bin/reconcile-subscriptions';
import { call, claimsOf, countItems, newKey, overriding, startHarness, TABLES, type Harness } from '../support/harness';
import { ensureCustomer } from '../../lambdas/domain/subscription-steps';

/**
 * Subscriptions end to end below HTTP: the real handler (Powertools idempotency, dynalite), the
 * real SDK against the emulator, and Stripe's own events applied in every order.
 */
let h: Harness;
let billing: StripeBillingGateway;
let store: DynamoDbSubscriptionStore;
let handler: ReturnType<typeof createSubscriptionsHandler>;
let priceId: string;

beforeAll(async () => {
  // Every Stripe POST takes 30 ms, so concurrent requests really overlap at Stripe (409 idempotency_key_in_use).
  h = await startHarness({ executionDelayMs: 30 });
  billing = new StripeBillingGateway(async () => h.stripe);
  store = new DynamoDbSubscriptionStore(h.db.client, TABLES.subscriptions);
  handler = createSubscriptionsHandler({ dynamoDb: h.db.client, subscriptionsTableName: TABLES.subscriptions, idempotencyTableName: TABLES.idempotency, billing });
  priceId = (await h.stripe.prices.create({ currency: 'eur', unit_amount: 900, recurring: { interval: 'month' }, product_data: { name: 'Pro' } })).id;
});
afterAll(() => h.close());

const body = { price: '', successUrl: 'https://shop.example/ok', cancelUrl: 'https://shop.example/cancel' };
const subscribe = (claims = claimsOf('acme', 'alice'), key = newKey(), price = priceId) =>
  call(handler, { path: '/v1/subscriptions', resource: '/v1/subscriptions', claims, headers: { 'Idempotency-Key': key }, body: { ...body, price } });
const cancel = (subscriptionId: string, claims = claimsOf('acme', 'alice'), key = newKey()) =>
  call(handler, {
    path: `/v1/subscriptions/${subscriptionId}/cancel`, resource: '/v1/subscriptions/{subscriptionId}/cancel', pathParameters: { subscriptionId }, claims, headers: { 'Idempotency-Key': key },
  });
const list = (claims = claimsOf('acme', 'alice')) => call(handler, { method: 'GET', path: '/v1/subscriptions', resource: '/v1/subscriptions', claims });

/** Events emitted by whatever `action` did at Stripe (not delivered anywhere: the test applies them). */
const events = {
  async of(action: () => Promise<unknown>): Promise<StripeObject[]> {
    const before = h.emulator.state.events.length;
    await action();
    return h.emulator.state.events.slice(before);
  },
};
const helper = (path: string, params: Record<string, unknown> = {}) => h.stripe.rawRequest('POST', `/v1/test_helpers/${path}`, params);
const deps = () => ({ orders: new DynamoDbOrderStore(h.db.client, TABLES.orders), stripe: h.gateway, subscriptions: { subscriptions: store, billing } });
const apply = (event: StripeObject) => applyStripeEvent(event as unknown as StripeEvent, deps());
const record = async (subscriptionId: string) => (await store.getSubscription(subscriptionId))!;
const subscriptionSessions = () => [...h.emulator.state.sessions.values()].filter((s) => s.mode === 'subscription');
const permutations = <T>(items: T[]): T[][] =>
  items.length <= 1 ? [items] : items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
const documents = () => DynamoDBDocumentClient.from(h.db.client, { marshallOptions: { removeUndefinedValues: true } });
/** Puts a record back as it was (for replaying another permutation from the same start). */
const restore = async (saved: SubscriptionRecord) => {
  const current = await record(saved.subscriptionId);
  await documents().send(new PutCommand({
    TableName: TABLES.subscriptions,
    Item: { ...saved, pk: keys.subscription(saved.subscriptionId), ownerKey: keys.owner(saved.tenantId, saved.userId), stripeSubscriptionId: saved.stripeSubscriptionId ?? undefined, version: current.version + 1 },
  }));
};

/** Opens and pays a subscription for `userId`; returns our id, the Stripe subscription and the completion's events (undelivered). */
async function paidSubscription(userId: string) {
  const opened = await subscribe(claimsOf('acme', userId));
  expect(opened.status).toBe(201);
  const completion = await events.of(() => helper(`checkout/sessions/${opened.body.checkoutSessionId}/complete`));
  const stripeSubscriptionId = (h.emulator.state.sessions.get(opened.body.checkoutSessionId)!.subscription as string);
  return { subscriptionId: opened.body.subscriptionId as string, stripeSubscriptionId, completion };
}

describe('POST /v1/subscriptions', () => {
  it('20 concurrent requests by one user with 20 keys: one customer, one open session, every answer that session or 409 in progress', async () => {
    const customersBefore = h.emulator.state.billing.customers.size;
    const sessionsBefore = subscriptionSessions().length;
    const itemsBefore = await countItems(h.db.client, TABLES.subscriptions);
    const answers = await Promise.all(Array.from({ length: 20 }, () => subscribe(claimsOf('acme', 'racer'))));
    const statuses = answers.map((a) => a.status);
    expect(statuses.every((s) => s === 201 || s === 200 || s === 409)).toBe(true);
    expect(statuses.filter((s) => s === 201).length).toBeLessThanOrEqual(1);
    const sessionIds = new Set(answers.filter((a) => a.status < 300).map((a) => a.body.checkoutSessionId));
    expect(sessionIds.size).toBe(1);
    for (const conflict of answers.filter((a) => a.status === 409)) {
      expect(conflict.body.type).toBe('urn:payments:problem:subscription-checkout-in-progress');
      expect(conflict.headers['retry-after']).toBe('1');
    }
    // Stragglers retry (another key each) and land on the same session.
    const retried = await subscribe(claimsOf('acme', 'racer'));
    expect(retried.status).toBe(200);
    expect(sessionIds.has(retried.body.checkoutSessionId)).toBe(true);
    expect(h.emulator.state.billing.customers.size).toBe(customersBefore + 1);
    expect(subscriptionSessions().length).toBe(sessionsBefore + 1);
    // One customer link, one guard, one subscription record.
    expect(await countItems(h.db.client, TABLES.subscriptions)).toBe(itemsBefore + 3);
  });

  it('a second tab with another key continues the open session; the same key replays; the same key with another body is refused', async () => {
    const key = newKey();
    const first = await subscribe(claimsOf('acme', 'tabs'), key);
    expect(first).toMatchObject({ status: 201, body: { status: 'checkout_open', subscriptionId: expect.stringMatching(/^sbr_/) } });
    const otherTab = await subscribe(claimsOf('acme', 'tabs'));
    expect(otherTab).toMatchObject({ status: 200, body: first.body });
    const replay = await subscribe(claimsOf('acme', 'tabs'), key);
    expect(replay).toMatchObject({ status: 201, body: first.body, headers: { 'idempotent-replayed': 'true' } });
    const otherBody = await call(handler, { path: '/v1/subscriptions', resource: '/v1/subscriptions', claims: claimsOf('acme', 'tabs'), headers: { 'Idempotency-Key': key }, body: { ...body, price: priceId, quantity: 2 } });
    expect(otherBody.status).toBe(422);
    // Another user of the same tenant gets their own checkout.
    expect((await subscribe(claimsOf('acme', 'tabs-2'))).body.checkoutSessionId).not.toBe(first.body.checkoutSessionId);
  });

  it('refuses a one-time or unknown price with 422 and opens nothing', async () => {
    const oneTime = (await h.stripe.prices.create({ currency: 'eur', unit_amount: 500, product_data: { name: 'Mug' } })).id;
    const sessionsBefore = h.emulator.state.sessions.size;
    expect((await subscribe(claimsOf('acme', 'mug'), newKey(), oneTime)).body.type).toBe('urn:payments:problem:price-not-recurring');
    expect((await subscribe(claimsOf('acme', 'mug'), newKey(), 'price_doesnotexist')).status).toBe(422);
    expect(h.emulator.state.sessions.size).toBe(sessionsBefore);
  });

  it('finds the customer whose mapping write was lost by its metadata instead of creating another', async () => {
    const lost = await h.stripe.customers.create({ metadata: { tenantId: 'acme', userId: 'amnesia' } });
    // Long enough after its creation for Stripe's search index (the emulator lags by default).
    await helper('clock', { advance_seconds: 3600 });
    const before = h.emulator.state.billing.customers.size;
    expect((await subscribe(claimsOf('acme', 'amnesia'))).status).toBe(201);
    expect(h.emulator.state.billing.customers.size).toBe(before);
    expect(await store.customerOf('acme', 'amnesia')).toBe(lost.id);
    expect(subscriptionSessions().at(-1)!.customer).toBe(lost.id);
  });

  it('a crash between creating the customer and linking it: the retry gets the same customer, even while search has not indexed it yet', async () => {
    await helper('search/lag', { seconds: 60 });
    try {
      const before = h.emulator.state.billing.customers.size;
      const crashing = overriding(store, { linkCustomer: async () => { throw new Error('crashed before the mapping write'); } });
      await expect(ensureCustomer('acme', 'crash', { billing, subscriptions: crashing, now: () => new Date() })).rejects.toThrow('crashed');
      expect(h.emulator.state.billing.customers.size).toBe(before + 1);
      // Search lags, so the retry creates again with the same Stripe key: Stripe replays the same customer.
      const customerId = await ensureCustomer('acme', 'crash', { billing, subscriptions: store, now: () => new Date() });
      expect(h.emulator.state.billing.customers.size).toBe(before + 1);
      expect(await store.customerOf('acme', 'crash')).toBe(customerId);
    } finally {
      await helper('search/lag', { seconds: 60 });
    }
  });

  it('after the session expires (checkout.session.expired) the next request opens a new one; an abandoned one we expire ourselves', async () => {
    const first = await subscribe(claimsOf('acme', 'late'));
    const expired = await events.of(() => h.stripe.checkout.sessions.expire(first.body.checkoutSessionId));
    expect((await apply(expired.find((e) => e.type === 'checkout.session.expired')!)).outcome).toBe('applied');
    expect((await record(first.body.subscriptionId)).status).toBe('checkout_expired');
    const second = await subscribe(claimsOf('acme', 'late'));
    expect(second.status).toBe(201);
    expect(second.body.checkoutSessionId).not.toBe(first.body.checkoutSessionId);
    expect(second.body.subscriptionId).not.toBe(first.body.subscriptionId);

    // Two hours later nobody has paid: the next request expires that session at Stripe and opens a fresh one.
    const later = createSubscriptionsHandler({
      dynamoDb: h.db.client, subscriptionsTableName: TABLES.subscriptions, idempotencyTableName: TABLES.idempotency, billing,
      now: () => new Date(Date.now() + 2 * 3600_000),
    });
    const third = await call(later, { path: '/v1/subscriptions', resource: '/v1/subscriptions', claims: claimsOf('acme', 'late'), headers: { 'Idempotency-Key': newKey() }, body: { ...body, price: priceId } });
    expect(third.status).toBe(201);
    expect(h.emulator.state.sessions.get(second.body.checkoutSessionId)!.status).toBe('expired');
    expect((await record(second.body.subscriptionId)).status).toBe('checkout_expired');
    expect(third.body.checkoutSessionId).not.toBe(second.body.checkoutSessionId);
  });
});

describe('subscription events', () => {
  it('paid → active whatever the order of the completion\'s same-second events; then 409 already-subscribed', async () => {
    const { subscriptionId, stripeSubscriptionId, completion } = await paidSubscription('payer');
    const start = await record(subscriptionId);
    const handled = completion.filter((e) => ['checkout.session.completed', 'customer.subscription.created', 'customer.subscription.updated', 'invoice.paid'].includes(e.type as string));
    expect(handled).toHaveLength(4);
    for (const order of permutations(handled)) {
      await restore(start);
      for (const event of order) await apply(event);
      expect(await record(subscriptionId)).toMatchObject({ status: 'active', stripeSubscriptionId, cancelAtPeriodEnd: false });
    }
    const stripeSide = await h.stripe.subscriptions.retrieve(stripeSubscriptionId);
    expect((await record(subscriptionId)).currentPeriodEnd).toBe(stripeSide.items.data[0].current_period_end);
    const again = await subscribe(claimsOf('acme', 'payer'));
    expect(again).toMatchObject({ status: 409, body: { type: 'urn:payments:problem:already-subscribed', subscriptionId } });
    const listed = await list(claimsOf('acme', 'payer'));
    expect(listed.body.data).toEqual([expect.objectContaining({ subscriptionId, status: 'active', price: priceId, quantity: 1, cancelAtPeriodEnd: false })]);
    expect((await list(claimsOf('acme', 'someone-else'))).body.data).toEqual([]);
  }, 30_000);

  it('renewal then failed renewal, every permutation of their events (and all at once): our state equals Stripe\'s', async () => {
    const { subscriptionId, stripeSubscriptionId, completion } = await paidSubscription('renewer');
    for (const event of completion) await apply(event);
    const start = await record(subscriptionId);
    const renewal = await events.of(() => helper(`subscriptions/${stripeSubscriptionId}/renew`));
    const failure = await events.of(() => helper(`subscriptions/${stripeSubscriptionId}/renew`, { outcome: 'failed' }));
    const handled = [...renewal, ...failure].filter((e) => ['invoice.paid', 'invoice.payment_failed', 'customer.subscription.updated'].includes(e.type as string));
    expect(handled.map((e) => e.type).sort()).toEqual(['customer.subscription.updated', 'customer.subscription.updated', 'invoice.paid', 'invoice.payment_failed']);
    const stripeSide = await h.stripe.subscriptions.retrieve(stripeSubscriptionId);
    expect(stripeSide.status).toBe('past_due');
    const expected = { status: 'past_due', currentPeriodEnd: stripeSide.items.data[0].current_period_end, cancelAtPeriodEnd: false };
    let runs = 0;
    for (const order of permutations(handled)) {
      await restore(start);
      for (const event of order) await apply(event);
      expect(await record(subscriptionId)).toMatchObject(expected);
      runs++;
    }
    expect(runs).toBe(24);
    await restore(start);
    await Promise.all(handled.map(apply));
    expect(await record(subscriptionId)).toMatchObject(expected);
  }, 30_000);

  it('cancel at period end: 200, idempotent, 404 for another tenant, and an older event resent afterwards changes nothing', async () => {
    const { subscriptionId, stripeSubscriptionId, completion } = await paidSubscription('leaver');
    for (const event of completion) await apply(event);
    const olderUpdate = completion.find((e) => e.type === 'customer.subscription.updated')!;
    const key = newKey();
    const canceled = await cancel(subscriptionId, claimsOf('acme', 'leaver'), key);
    expect(canceled).toMatchObject({ status: 200, body: { subscriptionId, cancelAtPeriodEnd: true, status: 'active' } });
    expect((await cancel(subscriptionId, claimsOf('acme', 'leaver'), key)).headers['idempotent-replayed']).toBe('true');
    expect(await cancel(subscriptionId, claimsOf('acme', 'leaver'))).toMatchObject({ status: 200, body: { cancelAtPeriodEnd: true } });
    expect((await h.stripe.subscriptions.retrieve(stripeSubscriptionId)).cancel_at_period_end).toBe(true);
    const foreignTenant = await cancel(subscriptionId, claimsOf('globex', 'leaver'));
    const missing = await cancel('sbr_00000000000000000000000000000000', claimsOf('globex', 'leaver'));
    expect(foreignTenant.status).toBe(404);
    expect(foreignTenant.body).toEqual(missing.body);

    await helper(`events/${olderUpdate.id}/resend`);
    expect((await apply(olderUpdate)).outcome).toBe('stale');
    expect(await record(subscriptionId)).toMatchObject({ cancelAtPeriodEnd: true, status: 'active' });

    // The period ends: Stripe cancels; the guard is freed and the user may subscribe again.
    const ended = await events.of(() => helper(`subscriptions/${stripeSubscriptionId}/renew`));
    for (const event of ended) await apply(event);
    expect((await record(subscriptionId)).status).toBe('canceled');
    expect((await subscribe(claimsOf('acme', 'leaver'))).status).toBe(201);
  });

  it('only our customer\'s subscriptions apply: another customer\'s is foreign, one made outside our API for ours is an anomaly', async () => {
    const { subscriptionId, completion } = await paidSubscription('watched');
    for (const event of completion) await apply(event);
    const before = await record(subscriptionId);
    const stranger = await h.stripe.customers.create({});
    const foreignSession = await h.stripe.checkout.sessions.create({
      mode: 'subscription', customer: stranger.id, line_items: [{ price: priceId }], success_url: 'https://x.example/ok',
      subscription_data: { metadata: { subscriptionId, tenantId: 'acme' } }, metadata: { subscriptionId, tenantId: 'acme' },
    });
    const foreign = await events.of(() => helper(`checkout/sessions/${foreignSession.id}/complete`));
    for (const event of foreign.filter((e) => String(e.type).startsWith('customer.subscription.'))) expect((await apply(event)).outcome).toBe('foreign');
    // The same product bought again for our customer, outside our API (e.g. the Dashboard).
    const outside = await h.stripe.checkout.sessions.create({ mode: 'subscription', customer: before.stripeCustomerId, line_items: [{ price: priceId }], success_url: 'https://x.example/ok' });
    const outsideEvents = await events.of(() => helper(`checkout/sessions/${outside.id}/complete`));
    const created = outsideEvents.find((e) => e.type === 'customer.subscription.created')!;
    expect(await apply(created)).toMatchObject({ outcome: 'anomaly', reason: 'subscription_outside_api' });
    expect(await record(subscriptionId)).toMatchObject({ stripeSubscriptionId: before.stripeSubscriptionId, status: 'active' });
    const anomalies = (await store.scanAll()).filter((item) => String(item.pk).startsWith('anomaly#'));
    expect(anomalies.map((a) => a.stripeSubscriptionId)).toEqual([(created.data as { object: { id: string } }).object.id]);
  });

  it('through the event processor (SQS batches, Powertools per event id): duplicates and reversed order settle to Stripe\'s state, redelivery writes nothing', async () => {
    const processor = createEventProcessor({
      dynamoDb: h.db.client, ordersTableName: TABLES.orders, idempotencyTableName: TABLES.idempotency, stripe: h.gateway,
      subscriptions: { tableName: TABLES.subscriptions, billing },
    });
    const { subscriptionId, completion } = await paidSubscription('queued');
    // Like SQS: the records a batch reports failed (a duplicate still in progress) come back in the next one.
    let pending = [...completion, ...completion].reverse().map((e) => JSON.stringify(e));
    for (let round = 0; round < 6 && pending.length > 0; round++) {
      const batch = sqsEvent(pending);
      const failed = new Set((await processor(batch, lambdaContext('events'))).batchItemFailures.map((f) => f.itemIdentifier));
      pending = batch.Records.filter((r) => failed.has(r.messageId)).map((r) => r.body);
    }
    expect(pending).toEqual([]);
    const settled = await record(subscriptionId);
    expect(settled).toMatchObject({ status: 'active' });
    expect((await processor(sqsEvent(completion.map((e) => JSON.stringify(e))), lambdaContext('events'))).batchItemFailures).toEqual([]);
    expect((await record(subscriptionId)).version).toBe(settled.version);
  });
});

describe('POST /v1/billing-portal-sessions', () => {
  it('opens the portal for the caller\'s customer; 404 before they have one', async () => {
    const portal = (claims: Record<string, string>) =>
      call(handler, { path: '/v1/billing-portal-sessions', resource: '/v1/billing-portal-sessions', claims, headers: { 'Idempotency-Key': newKey() }, body: { returnUrl: 'https://shop.example/account' } });
    expect((await portal(claimsOf('acme', 'nobody'))).status).toBe(404);
    await subscribe(claimsOf('acme', 'portal'));
    const opened = await portal(claimsOf('acme', 'portal'));
    expect(opened.status).toBe(201);
    expect(opened.body.url).toMatch(/^http/);
    const customerId = await store.customerOf('acme', 'portal');
    expect([...h.emulator.state.billing.portalSessions.values()].at(-1)!.customer).toBe(customerId);
  });
});

describe('reconcile', () => {
  it('compares subscriptions with Stripe: unapplied renewals, subscriptions outside the API, two live for one product, recorded anomalies', async () => {
    const { subscriptionId, stripeSubscriptionId, completion } = await paidSubscription('audited');
    for (const event of completion) await apply(event);
    const clean = async () => (await reconcileSubscriptions({ stripe: h.stripe, dynamoDb: h.db.client, subscriptionsTableName: TABLES.subscriptions })).drift;
    const about = (drift: SubscriptionDrift[], ids: string[]) => drift.filter((d) => Object.values(d).some((v) => ids.some((id) => String(v).includes(id))));
    const customerId = (await record(subscriptionId)).stripeCustomerId;
    expect(about(await clean(), [subscriptionId, stripeSubscriptionId, customerId])).toEqual([]);

    // A renewal whose events never arrived.
    await helper(`subscriptions/${stripeSubscriptionId}/renew`, { outcome: 'failed' });
    // The same product again for the same customer, outside our API.
    const outside = await h.stripe.checkout.sessions.create({ mode: 'subscription', customer: customerId, line_items: [{ price: priceId }], success_url: 'https://x.example/ok' });
    const outsideEvents = await events.of(() => helper(`checkout/sessions/${outside.id}/complete`));
    const outsideId = (h.emulator.state.sessions.get(outside.id)!.subscription as string);
    for (const event of outsideEvents) await apply(event);

    const drift = about(await clean(), [subscriptionId, stripeSubscriptionId, customerId]);
    expect(drift.map((d) => `${d.kind}${'field' in d ? `:${d.field}` : ''}`).sort()).toEqual([
      'duplicate_live_subscriptions', 'stripe_subscription_anomaly', 'stripe_subscription_without_record', 'subscription_mismatch:currentPeriodEnd', 'subscription_mismatch:status',
    ]);
    expect(drift).toContainEqual(expect.objectContaining({ kind: 'duplicate_live_subscriptions', stripeSubscriptionIds: expect.stringContaining(outsideId) }));
    // The processor's anomaly items are what the on-call engineer reads next.
    expect((await store.scanAll()).some((i) => i.pk === `anomaly#${outsideId}`)).toBe(true);
  });
});
