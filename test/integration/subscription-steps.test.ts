import { DeleteCommand, DynamoDBDocumentClient, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { applyStripeEvent, type StripeEvent } from '../../lambdas/domain/stripe-events';
import type { SubscriptionRecord, SubscriptionStatus } from '../../lambdas/domain/subscription';
import { DynamoDbOrderStore } from '../../lambdas/shared/order-store';
import { StripeBillingGateway } from '../../lambdas/shared/stripe-billing-gateway';
import { DynamoDbSubscriptionStore, keys } from '../../lambdas/shared/subscription-store';
import { createSubscriptionsHandler } from '../../lambdas/subscriptions/create-subscriptions-handler';
import { startSubscription } from '../../lambdas/domain/subscription-steps';
import type { StripeObject } from '../../local/stripe-emulator/stripe-objects';
import { call, claimsOf, countItems, newKey, overriding, startHarness, TABLES, type Harness } from '../support/harness';

/**
 * The paths of POST /v1/subscriptions and its cancel that the first tests did not walk: a key
 * retried after its own checkout ended (also once its stored answer expired), a cancel of what
 * is already canceled or ending, guards held by records in every status, an archived price, and
 * twenty tabs racing our own expiry of an abandoned checkout. Real handler, DynamoDB Local (or
 * dynalite), the real SDK against the emulator; Stripe calls are counted on the emulator.
 */
let h: Harness;
let billing: StripeBillingGateway;
let store: DynamoDbSubscriptionStore;
let handler: ReturnType<typeof createSubscriptionsHandler>;
let priceId: string;
let productId: string;

beforeAll(async () => {
  // Every Stripe POST takes 30 ms, so concurrent requests really overlap at Stripe (409 idempotency_key_in_use).
  h = await startHarness({ executionDelayMs: 30 });
  billing = new StripeBillingGateway(async () => h.stripe);
  store = new DynamoDbSubscriptionStore(h.db.client, TABLES.subscriptions);
  handler = handlerAt(() => new Date());
  const price = await h.stripe.prices.create({ currency: 'eur', unit_amount: 900, recurring: { interval: 'month' }, product_data: { name: 'Pro' } });
  priceId = price.id;
  productId = price.product as string;
});
afterAll(() => h.close());

function handlerAt(now: () => Date, overrides: Partial<Parameters<typeof createSubscriptionsHandler>[0]> = {}) {
  return createSubscriptionsHandler({ dynamoDb: h.db.client, subscriptionsTableName: TABLES.subscriptions, idempotencyTableName: TABLES.idempotency, billing, now, ...overrides });
}
const twoHoursLater = () => new Date(Date.now() + 2 * 3600_000);

const body = { successUrl: 'https://shop.example/ok', cancelUrl: 'https://shop.example/cancel' };
const subscribe = (userId: string, key = newKey(), price = priceId, via = handler) =>
  call(via, { path: '/v1/subscriptions', resource: '/v1/subscriptions', claims: claimsOf('acme', userId), headers: { 'Idempotency-Key': key }, body: { ...body, price } });
const cancel = (subscriptionId: string, userId: string, key = newKey(), tenantId = 'acme') =>
  call(handler, {
    path: `/v1/subscriptions/${subscriptionId}/cancel`, resource: '/v1/subscriptions/{subscriptionId}/cancel', pathParameters: { subscriptionId },
    claims: claimsOf(tenantId, userId), headers: { 'Idempotency-Key': key },
  });

const documents = () => DynamoDBDocumentClient.from(h.db.client, { marshallOptions: { removeUndefinedValues: true } });
/** What 24 h do to Powertools' stored answers: every idempotency record of this file's database is gone. */
async function forgetStoredAnswers() {
  const { Items } = await documents().send(new ScanCommand({ TableName: TABLES.idempotency, ConsistentRead: true }));
  for (const item of Items ?? []) await documents().send(new DeleteCommand({ TableName: TABLES.idempotency, Key: { id: item.id } }));
  expect(await countItems(h.db.client, TABLES.idempotency)).toBe(0);
}
const helper = (path: string, params: Record<string, unknown> = {}) => h.stripe.rawRequest('POST', `/v1/test_helpers/${path}`, params);
async function eventsOf(action: () => Promise<unknown>): Promise<StripeObject[]> {
  const before = h.emulator.state.events.length;
  await action();
  return h.emulator.state.events.slice(before);
}
const deps = () => ({ orders: new DynamoDbOrderStore(h.db.client, TABLES.orders), stripe: h.gateway, subscriptions: { subscriptions: store, billing } });
const applyAll = async (events: StripeObject[]) => { for (const event of events) await applyStripeEvent(event as unknown as StripeEvent, deps()); };
const record = async (subscriptionId: string) => (await store.getSubscription(subscriptionId))!;
const subscriptionSessions = () => [...h.emulator.state.sessions.values()].filter((s) => s.mode === 'subscription');
const openSessionsOf = (customerId: string) => subscriptionSessions().filter((s) => s.customer === customerId && s.status === 'open');
/** Stripe requests since `mark` (emulator's log), e.g. updates of one subscription. */
const stripeRequestsSince = (mark: number, method: string, path: string) => h.emulator.state.requests.slice(mark).filter((r) => r.method === method && r.path === path).length;
const guardOf = async (userId: string, product = productId) =>
  (await documents().send(new ScanCommand({ TableName: TABLES.subscriptions, ConsistentRead: true }))).Items!.find((i) => i.pk === keys.guard('acme', userId, product));

/** Opens a checkout with `key`, pays it at Stripe and applies Stripe's events. */
async function activeSubscription(userId: string, key = newKey()) {
  const opened = await subscribe(userId, key);
  expect(opened.status).toBe(201);
  await applyAll(await eventsOf(() => helper(`checkout/sessions/${opened.body.checkoutSessionId}/complete`)));
  const subscriptionId = opened.body.subscriptionId as string;
  const settled = await record(subscriptionId);
  expect(settled.status).toBe('active');
  return { subscriptionId, stripeSubscriptionId: settled.stripeSubscriptionId!, key };
}

describe('POST /v1/subscriptions: a key whose own checkout has ended', () => {
  it('after checkout.session.expired and its stored answer gone: 409 subscription-ended, no second checkout, also for 6 concurrent retries; a new key starts anew', async () => {
    const key = newKey();
    const first = await subscribe('expired-key', key);
    expect(first.status).toBe(201);
    await applyAll(await eventsOf(() => h.stripe.checkout.sessions.expire(first.body.checkoutSessionId)));
    expect((await record(first.body.subscriptionId)).status).toBe('checkout_expired');
    await forgetStoredAnswers();

    const sessionsBefore = subscriptionSessions().length;
    const customersBefore = h.emulator.state.billing.customers.size;
    const itemsBefore = await countItems(h.db.client, TABLES.subscriptions);
    const retried = await subscribe('expired-key', key);
    expect(retried).toMatchObject({
      status: 409, body: { type: 'urn:payments:problem:subscription-ended', subscriptionId: first.body.subscriptionId, subscriptionStatus: 'checkout_expired' },
    });
    // Stored: the same key replays it.
    expect((await subscribe('expired-key', key)).headers['idempotent-replayed']).toBe('true');

    await forgetStoredAnswers();
    const concurrent = await Promise.all(Array.from({ length: 6 }, () => subscribe('expired-key', key)));
    for (const answer of concurrent) {
      expect(answer.status).toBe(409);
      expect(['urn:payments:problem:subscription-ended', 'urn:payments:problem:idempotency-request-in-progress']).toContain(answer.body.type);
    }
    expect(concurrent.some((a) => a.body.type === 'urn:payments:problem:subscription-ended')).toBe(true);
    expect(subscriptionSessions().length).toBe(sessionsBefore);
    expect(h.emulator.state.billing.customers.size).toBe(customersBefore);
    // No guard taken, no record added: the customer link and the expired record only.
    expect(await countItems(h.db.client, TABLES.subscriptions)).toBe(itemsBefore);
    expect(await guardOf('expired-key')).toBeUndefined();

    const anew = await subscribe('expired-key');
    expect(anew.status).toBe(201);
    expect(anew.body.checkoutSessionId).not.toBe(first.body.checkoutSessionId);
    expect(subscriptionSessions().length).toBe(sessionsBefore + 1);
  });

  it('retried after we expired it as abandoned (2 h later): the key\'s session is expired at Stripe and no other opened', async () => {
    const key = newKey();
    const first = await subscribe('abandoned-key', key);
    await forgetStoredAnswers();
    const sessionsBefore = subscriptionSessions().length;
    const later = handlerAt(twoHoursLater);
    const retried = await subscribe('abandoned-key', key, priceId, later);
    expect(retried).toMatchObject({ status: 409, body: { type: 'urn:payments:problem:subscription-ended', subscriptionId: first.body.subscriptionId, subscriptionStatus: 'checkout_expired' } });
    expect(h.emulator.state.sessions.get(first.body.checkoutSessionId)!.status).toBe('expired');
    expect(subscriptionSessions().length).toBe(sessionsBefore);
    expect(await guardOf('abandoned-key')).toBeUndefined();
  });

  it('retried after its subscription was canceled: 409 subscription-ended (canceled); the guard stays free for a new key', async () => {
    const { subscriptionId, stripeSubscriptionId, key } = await activeSubscription('canceled-key');
    await applyAll(await eventsOf(() => h.stripe.subscriptions.cancel(stripeSubscriptionId)));
    expect((await record(subscriptionId)).status).toBe('canceled');
    await forgetStoredAnswers();
    const sessionsBefore = subscriptionSessions().length;
    const retried = await subscribe('canceled-key', key);
    expect(retried).toMatchObject({ status: 409, body: { type: 'urn:payments:problem:subscription-ended', subscriptionId, subscriptionStatus: 'canceled' } });
    expect(subscriptionSessions().length).toBe(sessionsBefore);
    expect((await subscribe('canceled-key')).status).toBe(201);
  });

  it('a key whose checkout is still open gets that session back even after its price was archived (not 422)', async () => {
    const archived = await h.stripe.prices.create({ currency: 'eur', unit_amount: 1900, recurring: { interval: 'month' }, product_data: { name: 'Legacy' } });
    const key = newKey();
    const first = await subscribe('archived-key', key, archived.id);
    expect(first.status).toBe(201);
    h.emulator.state.prices.get(archived.id)!.active = false;
    await forgetStoredAnswers();
    const sessionsBefore = subscriptionSessions().length;
    const retried = await subscribe('archived-key', key, archived.id);
    expect(retried).toMatchObject({ status: 201, body: { subscriptionId: first.body.subscriptionId, checkoutSessionId: first.body.checkoutSessionId } });
    expect(subscriptionSessions().length).toBe(sessionsBefore);
  });
});

describe('POST /v1/subscriptions/{id}/cancel is idempotent on the subscription', () => {
  it('already cancel_at_period_end (by us with another key, or in the portal): 200 as it stands, no second update at Stripe', async () => {
    const { subscriptionId, stripeSubscriptionId } = await activeSubscription('ending');
    const update = `/v1/subscriptions/${stripeSubscriptionId}`;
    const mark = h.emulator.state.requests.length;
    expect(await cancel(subscriptionId, 'ending')).toMatchObject({ status: 200, body: { subscriptionId, status: 'active', cancelAtPeriodEnd: true } });
    const again = await cancel(subscriptionId, 'ending');
    expect(again).toMatchObject({ status: 200, body: { subscriptionId, status: 'active', cancelAtPeriodEnd: true } });
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    expect(stripeRequestsSince(mark, 'POST', update)).toBe(1);

    // Set in the portal; its event not delivered yet: our record says false, Stripe true.
    const portal = await activeSubscription('portal-ending');
    await h.stripe.subscriptions.update(portal.stripeSubscriptionId, { cancel_at_period_end: true });
    const portalMark = h.emulator.state.requests.length;
    expect(await cancel(portal.subscriptionId, 'portal-ending')).toMatchObject({ status: 200, body: { cancelAtPeriodEnd: true } });
    expect(stripeRequestsSince(portalMark, 'POST', `/v1/subscriptions/${portal.stripeSubscriptionId}`)).toBe(0);
    expect((await record(portal.subscriptionId)).cancelAtPeriodEnd).toBe(true);
  });

  it('resumed in the portal (our record still says ending): the cancel updates Stripe again', async () => {
    const { subscriptionId, stripeSubscriptionId } = await activeSubscription('resumed');
    expect((await cancel(subscriptionId, 'resumed')).status).toBe(200);
    await h.stripe.subscriptions.update(stripeSubscriptionId, { cancel_at_period_end: false });
    expect((await record(subscriptionId)).cancelAtPeriodEnd).toBe(true);
    const mark = h.emulator.state.requests.length;
    expect(await cancel(subscriptionId, 'resumed')).toMatchObject({ status: 200, body: { cancelAtPeriodEnd: true } });
    expect(stripeRequestsSince(mark, 'POST', `/v1/subscriptions/${stripeSubscriptionId}`)).toBe(1);
    expect((await h.stripe.subscriptions.retrieve(stripeSubscriptionId)).cancel_at_period_end).toBe(true);
  });

  it('ended (canceled at Stripe, or a checkout that expired): 200 as it stands with no Stripe call; another tenant\'s is 404 like a missing one', async () => {
    const { subscriptionId, stripeSubscriptionId } = await activeSubscription('gone');
    await applyAll(await eventsOf(() => h.stripe.subscriptions.cancel(stripeSubscriptionId)));
    const mark = h.emulator.state.requests.length;
    expect(await cancel(subscriptionId, 'gone')).toMatchObject({ status: 200, body: { subscriptionId, status: 'canceled' } });
    expect(await cancel(subscriptionId, 'gone')).toMatchObject({ status: 200, body: { subscriptionId, status: 'canceled' } });
    expect(h.emulator.state.requests.length).toBe(mark);

    const expiring = await subscribe('gone-checkout');
    await applyAll(await eventsOf(() => h.stripe.checkout.sessions.expire(expiring.body.checkoutSessionId)));
    const expiredMark = h.emulator.state.requests.length;
    expect(await cancel(expiring.body.subscriptionId, 'gone-checkout')).toMatchObject({ status: 200, body: { status: 'checkout_expired', cancelAtPeriodEnd: false } });
    expect(h.emulator.state.requests.length).toBe(expiredMark);

    const foreign = await cancel(subscriptionId, 'gone', newKey(), 'globex');
    const missing = await cancel('sbr_00000000000000000000000000000000', 'gone', newKey(), 'globex');
    expect(foreign.status).toBe(404);
    expect(foreign.body).toEqual(missing.body);
  });

  it('canceled at Stripe but our record still active (event not applied): 200 canceled, the record catches up, no update sent', async () => {
    const { subscriptionId, stripeSubscriptionId } = await activeSubscription('gone-quietly');
    await h.stripe.subscriptions.cancel(stripeSubscriptionId);
    const mark = h.emulator.state.requests.length;
    expect(await cancel(subscriptionId, 'gone-quietly')).toMatchObject({ status: 200, body: { status: 'canceled' } });
    expect(stripeRequestsSince(mark, 'POST', `/v1/subscriptions/${stripeSubscriptionId}`)).toBe(0);
    expect((await record(subscriptionId)).status).toBe('canceled');
    expect(await guardOf('gone-quietly')).toBeUndefined();
  });

  it('a checkout still open: 409 subscription-not-active (checkout_open), the session untouched, nothing sent to Stripe', async () => {
    const opened = await subscribe('still-open');
    const mark = h.emulator.state.requests.length;
    expect(await cancel(opened.body.subscriptionId, 'still-open')).toMatchObject({
      status: 409, body: { type: 'urn:payments:problem:subscription-not-active', subscriptionId: opened.body.subscriptionId, subscriptionStatus: 'checkout_open' },
    });
    expect(h.emulator.state.requests.length).toBe(mark);
    expect(h.emulator.state.sessions.get(opened.body.checkoutSessionId)!.status).toBe('open');
  });
});

describe('POST /v1/subscriptions: the guard held in every state', () => {
  /** Puts `status` on the user's current record (as an applied event would) and returns it. */
  async function holderIn(userId: string, status: SubscriptionStatus): Promise<SubscriptionRecord> {
    const opened = await subscribe(userId);
    const current = await record(opened.body.subscriptionId);
    const next = { ...current, status, stripeSubscriptionId: status.startsWith('checkout') ? null : `sub_held${status}`, version: current.version + 1 };
    await documents().send(new PutCommand({
      TableName: TABLES.subscriptions,
      Item: { ...next, pk: keys.subscription(next.subscriptionId), ownerKey: keys.owner('acme', userId), stripeSubscriptionId: next.stripeSubscriptionId ?? undefined },
    }));
    return next;
  }

  it.each([
    ['incomplete_expired', 201],
    ['canceled', 201],
    ['checkout_expired', 201],
    ['unpaid', 409],
    ['past_due', 409],
    ['paused', 409],
    ['incomplete', 409],
  ] as const)('a guard still held by a record in %s: answered %i, never a loop or a 5xx', async (status, expected) => {
    const userId = `held-${status}`;
    const holder = await holderIn(userId, status);
    expect((await guardOf(userId))!.subscriptionId).toBe(holder.subscriptionId);
    const sessionsBefore = subscriptionSessions().length;
    const answer = await subscribe(userId);
    expect(answer.status).toBe(expected);
    if (expected === 409) {
      expect(answer.body).toMatchObject({ type: 'urn:payments:problem:already-subscribed', subscriptionId: holder.subscriptionId });
      expect(subscriptionSessions().length).toBe(sessionsBefore);
    } else {
      expect(subscriptionSessions().length).toBe(sessionsBefore + 1);
      expect((await guardOf(userId))!.subscriptionId).toBe(answer.body.subscriptionId);
    }
  });

  it('a guard taken by a request that never opened its checkout, whose price is archived since: the next request opens its own (not 422)', async () => {
    const legacy = await h.stripe.prices.create({ currency: 'eur', unit_amount: 1500, recurring: { interval: 'month' }, product: productId });
    // A first checkout links the customer; it expires, so the slot is free; then a request takes it with the legacy price and crashes.
    const first = await subscribe('inherits');
    await applyAll(await eventsOf(() => h.stripe.checkout.sessions.expire(first.body.checkoutSessionId)));
    const customerId = (await store.customerOf('acme', 'inherits'))!;
    const crashed = 'sbr_' + 'c'.repeat(32);
    await store.takeGuard({
      tenantId: 'acme', userId: 'inherits', product: productId, subscriptionId: crashed, price: legacy.id, quantity: 1, ...body, requestFingerprint: 'crashed', createdAt: new Date().toISOString(),
    });
    h.emulator.state.prices.get(legacy.id)!.active = false;
    const sessionsBefore = subscriptionSessions().length;
    const answer = await subscribe('inherits');
    expect(answer.status).toBe(201);
    expect(subscriptionSessions().length).toBe(sessionsBefore + 1);
    expect(openSessionsOf(customerId).map((s) => s.id)).toEqual([answer.body.checkoutSessionId]);
    expect((await guardOf('inherits'))!.subscriptionId).toBe(answer.body.subscriptionId);
    expect(await store.getSubscription(crashed)).toBeUndefined();
  });

  it('a guard that changes hands on every attempt: the step answers busy (409 in progress, not stored) instead of throwing; nothing opened', async () => {
    const ended = await subscribe('churn');
    await applyAll(await eventsOf(() => h.stripe.checkout.sessions.expire(ended.body.checkoutSessionId)));
    // Every attempt finds the slot held by another checkout that has just ended (what a storm of expiries looks like).
    const churning = overriding(store, { takeGuard: async (guard) => ({ ...guard, subscriptionId: ended.body.subscriptionId }) });
    const sessionsBefore = subscriptionSessions().length;
    const outcome = await startSubscription(
      { scope: { tenantId: 'acme', userId: 'churn', key: newKey() }, payload: { price: priceId, quantity: 1, ...body }, fingerprint: 'churn' },
      { billing, subscriptions: churning, now: () => new Date() },
    );
    expect(outcome).toEqual({ kind: 'busy' });
    expect(subscriptionSessions().length).toBe(sessionsBefore);
  });
});

describe('20 tabs with 20 keys while the open checkout is being expired as abandoned', () => {
  it('1 customer, the old session expired, exactly 1 open session at Stripe; every answer that session (201/200) or 409 in progress', async () => {
    const stale = await subscribe('stampede');
    expect(stale.status).toBe(201);
    const customerId = (await store.customerOf('acme', 'stampede'))!;
    const customersBefore = h.emulator.state.billing.customers.size;
    const sessionsBefore = subscriptionSessions().length;
    const itemsBefore = await countItems(h.db.client, TABLES.subscriptions);
    const later = handlerAt(twoHoursLater);
    const answers = await Promise.all(Array.from({ length: 20 }, () => subscribe('stampede', newKey(), priceId, later)));
    const statuses = answers.map((a) => a.status);
    expect(statuses.every((s) => s === 201 || s === 200 || s === 409)).toBe(true);
    expect(statuses.filter((s) => s === 201).length).toBeLessThanOrEqual(1);
    for (const conflict of answers.filter((a) => a.status === 409)) expect(conflict.body.type).toBe('urn:payments:problem:subscription-checkout-in-progress');
    const answered = new Set(answers.filter((a) => a.status < 300).map((a) => a.body.checkoutSessionId));
    expect(answered.size).toBeLessThanOrEqual(1);
    // Whoever got 409 retries and lands on the one open session.
    const straggler = await subscribe('stampede', newKey(), priceId, later);
    expect(straggler.status).toBe(200);
    if (answered.size === 1) expect(answered.has(straggler.body.checkoutSessionId)).toBe(true);

    expect(h.emulator.state.sessions.get(stale.body.checkoutSessionId)!.status).toBe('expired');
    expect((await record(stale.body.subscriptionId)).status).toBe('checkout_expired');
    expect(openSessionsOf(customerId).map((s) => s.id)).toEqual([straggler.body.checkoutSessionId]);
    expect(subscriptionSessions().length).toBe(sessionsBefore + 1);
    expect(h.emulator.state.billing.customers.size).toBe(customersBefore);
    // One more record (the new checkout); the guard moved to it.
    expect(await countItems(h.db.client, TABLES.subscriptions)).toBe(itemsBefore + 1);
    expect((await guardOf('stampede'))!.subscriptionId).toBe(straggler.body.subscriptionId);
  }, 30_000);
});
