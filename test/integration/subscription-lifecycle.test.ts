/**
 * Our product driven through the subscription statuses a first payment or a trial produce, as the
 * Stripe emulator now makes them (real ids, real events): `incomplete` (first payment failed or
 * needs action), `incomplete_expired` (Stripe's 23 h sweep), `trialing` and the trial's end. Each
 * counts Stripe's sessions and subscriptions and the guard holders, not only statuses.
 */
import Stripe from 'stripe';
import { applyStripeEvent, type StripeEvent } from '../../lambdas/domain/stripe-events';
import { DynamoDbOrderStore } from '../../lambdas/shared/order-store';
import { StripeBillingGateway } from '../../lambdas/shared/stripe-billing-gateway';
import { DynamoDbSubscriptionStore } from '../../lambdas/shared/subscription-store';
import { createSubscriptionsHandler } from '../../lambdas/subscriptions/create-subscriptions-handler';
import type { StripeObject } from '../../local/stripe-emulator/stripe-objects';
import { call, claimsOf, newKey, startHarness, stripeClientFor, TABLES, type Harness } from '../support/harness';

let h: Harness;
let billing: StripeBillingGateway;
let store: DynamoDbSubscriptionStore;
let handler: ReturnType<typeof createSubscriptionsHandler>;
/** The same product code, its checkout create carrying `subscription_data[trial_period_days]=14` (see the trial tests). */
let trialHandler: ReturnType<typeof createSubscriptionsHandler>;
let basic: { price: string; product: string };

beforeAll(async () => {
  h = await startHarness({ executionDelayMs: 5 });
  billing = new StripeBillingGateway(async () => h.stripe);
  store = new DynamoDbSubscriptionStore(h.db.client, TABLES.subscriptions);
  const deps = { dynamoDb: h.db.client, subscriptionsTableName: TABLES.subscriptions, idempotencyTableName: TABLES.idempotency };
  handler = createSubscriptionsHandler({ ...deps, billing });
  const trialStripe = stripeClientFor(h.emulator.url);
  const sessions = trialStripe.checkout.sessions;
  const create = sessions.create.bind(sessions);
  sessions.create = ((params: Stripe.Checkout.SessionCreateParams, options?: Stripe.RequestOptions) =>
    create({ ...params, subscription_data: { ...params.subscription_data, trial_period_days: 14 } }, options)) as typeof sessions.create;
  trialHandler = createSubscriptionsHandler({ ...deps, billing: new StripeBillingGateway(async () => trialStripe) });
  const created = await h.stripe.prices.create({ currency: 'eur', unit_amount: 700, recurring: { interval: 'month' }, product_data: { name: 'Basic' } });
  basic = { price: created.id, product: created.product as string };
}, 60_000);
afterAll(() => h.close());

const subscribe = (userId: string, via = handler) =>
  call(via, { path: '/v1/subscriptions', resource: '/v1/subscriptions', claims: claimsOf('acme', userId), headers: { 'Idempotency-Key': newKey() }, body: { price: basic.price, successUrl: 'https://x.example/ok', cancelUrl: 'https://x.example/no' } });
const helper = (path: string, params: Record<string, unknown> = {}) => h.stripe.rawRequest('POST', `/v1/test_helpers/${path}`, params);
/** Runs a Stripe action and applies every event it emitted, in Stripe's order, as the processor does. */
const applyingEvents = async (action: () => Promise<unknown>): Promise<string[]> => {
  const before = h.emulator.state.events.length;
  await action();
  const events = h.emulator.state.events.slice(before) as StripeObject[];
  for (const event of events) {
    await applyStripeEvent(event as unknown as StripeEvent, { orders: new DynamoDbOrderStore(h.db.client, TABLES.orders), stripe: h.gateway, subscriptions: { subscriptions: store, billing } });
  }
  return events.map((e) => e.type as string);
};
const record = async (id: string) => (await store.getSubscription(id))!;
/** What one user has in the table: records by status, guards (product → holder). */
async function tableOf(userId: string) {
  const items = (await store.scanAll()).filter((i) => i.userId === userId);
  const guards = Object.fromEntries(items.filter((i) => String(i.pk).startsWith('guard#')).map((i) => [i.product, i.subscriptionId]));
  const statuses = items.filter((i) => String(i.pk).startsWith('subscription#')).map((i) => i.status as string).sort();
  return { statuses, guards };
}
/** Stripe's side for one Customer: every subscription (any status) and every Checkout Session. */
async function stripeOf(customer: string) {
  const subscriptions = (await h.stripe.subscriptions.list({ customer, status: 'all' })).data.map((s) => s.status).sort();
  const sessions = [...h.emulator.state.sessions.values()].filter((s) => s.customer === customer).map((s) => `${String(s.status)}/${String(s.payment_status)}`).sort();
  return { subscriptions, sessions };
}
const sessionCreates = () => {
  const at = () => h.emulator.state.executedCreates.get('/v1/checkout/sessions') ?? 0;
  const before = at();
  return () => at() - before;
};
/** A checkout opened through our API and completed at Stripe with `outcome`; all events applied. */
async function completed(userId: string, params: Record<string, unknown>, via = handler) {
  const opened = await subscribe(userId, via);
  expect(opened.status).toBe(201);
  const events = await applyingEvents(() => helper(`checkout/sessions/${opened.body.checkoutSessionId}/complete`, params));
  const r = await record(opened.body.subscriptionId);
  return { id: r.subscriptionId as string, stripeId: r.stripeSubscriptionId!, customer: r.stripeCustomerId as string, events };
}
/** Our record equals Stripe's subscription on status and period end. */
async function expectRecordEqualsStripe(id: string) {
  const r = await record(id);
  const s = await h.stripe.subscriptions.retrieve(r.stripeSubscriptionId!);
  expect({ status: r.status, currentPeriodEnd: r.currentPeriodEnd }).toEqual({ status: s.status, currentPeriodEnd: s.items.data[0].current_period_end });
  return r;
}

describe('incomplete: the first payment failed or needs action', () => {
  it.each(['payment_failed', 'requires_action'])('outcome=%s: the record is incomplete (equal to Stripe) and holds the guard; a second POST is 409 already-subscribed with no new session', async (outcome) => {
    const userId = `incomplete-${outcome}`;
    const first = await completed(userId, { outcome });
    expect(first.events).toContain(outcome === 'payment_failed' ? 'invoice.payment_failed' : 'invoice.payment_action_required');
    expect((await expectRecordEqualsStripe(first.id)).status).toBe('incomplete');
    const made = sessionCreates();
    const again = await subscribe(userId);
    expect(again.status).toBe(409);
    // Not in-progress: the checkout is over and a subscription exists at Stripe (its first invoice payable for 23 h);
    // a second checkout now could leave two subscriptions once that invoice is paid.
    expect(again.body).toMatchObject({ type: 'urn:payments:problem:already-subscribed', subscriptionId: first.id, detail: `Subscription ${first.id} is incomplete` });
    expect(made()).toBe(0);
    expect(await tableOf(userId)).toEqual({ statuses: ['incomplete'], guards: { [basic.product]: first.id } });
    expect(await stripeOf(first.customer)).toEqual({ subscriptions: ['incomplete'], sessions: ['complete/unpaid'] });
  }, 60_000);

  it('Stripe expires it after 23 h (incomplete_expired): the guard is freed and the next POST opens exactly one new checkout (201)', async () => {
    const userId = 'expires';
    const first = await completed(userId, { outcome: 'payment_failed' });
    await helper('clock', { advance_seconds: 23 * 3600 });
    const events = await applyingEvents(() => helper(`subscriptions/${first.stripeId}/expire_incomplete`));
    expect(events).toEqual(['invoice.voided', 'customer.subscription.updated']);
    expect((await expectRecordEqualsStripe(first.id)).status).toBe('incomplete_expired');
    expect(await tableOf(userId)).toEqual({ statuses: ['incomplete_expired'], guards: {} });
    const made = sessionCreates();
    const next = await subscribe(userId);
    expect(next.status).toBe(201);
    expect(next.body.subscriptionId).not.toBe(first.id);
    expect(made()).toBe(1);
    expect(await tableOf(userId)).toEqual({ statuses: ['checkout_open', 'incomplete_expired'], guards: { [basic.product]: next.body.subscriptionId } });
    // The same Customer (no second one), one more session, no new subscription until it is paid.
    expect((await record(next.body.subscriptionId)).stripeCustomerId).toBe(first.customer);
    expect(await stripeOf(first.customer)).toEqual({ subscriptions: ['incomplete_expired'], sessions: ['complete/unpaid', 'open/unpaid'] });
    // And a third POST is the open checkout again, not another session.
    const third = await subscribe(userId);
    expect(third.status).toBe(200);
    expect(third.body).toMatchObject({ subscriptionId: next.body.subscriptionId, checkoutSessionId: next.body.checkoutSessionId });
    expect(made()).toBe(1);
  }, 60_000);

  it('the customer pays the open first invoice: active, same record, the guard still held (409)', async () => {
    const userId = 'pays-late';
    const first = await completed(userId, { outcome: 'requires_action' });
    const invoice = (await h.stripe.subscriptions.retrieve(first.stripeId)).latest_invoice as string;
    expect(await applyingEvents(() => helper(`invoices/${invoice}/retry`, { outcome: 'paid' }))).toEqual(['invoice.paid', 'invoice.payment_succeeded', 'customer.subscription.updated']);
    expect((await expectRecordEqualsStripe(first.id)).status).toBe('active');
    const made = sessionCreates();
    expect((await subscribe(userId)).status).toBe(409);
    expect(made()).toBe(0);
    expect(await tableOf(userId)).toEqual({ statuses: ['active'], guards: { [basic.product]: first.id } });
    expect(await stripeOf(first.customer)).toEqual({ subscriptions: ['active'], sessions: ['complete/unpaid'] });
  }, 60_000);
});

describe('trialing (our own checkout, created with subscription_data[trial_period_days]=14)', () => {
  it('the record is trialing (equal to Stripe, period end = trial end) and holds the guard: 409, no new session', async () => {
    const userId = 'trial';
    const first = await completed(userId, {}, trialHandler);
    const r = await expectRecordEqualsStripe(first.id);
    expect(r.status).toBe('trialing');
    expect(r.currentPeriodEnd).toBe((await h.stripe.subscriptions.retrieve(first.stripeId)).trial_end);
    const made = sessionCreates();
    for (const via of [handler, trialHandler]) {
      const again = await subscribe(userId, via);
      expect(again.status).toBe(409);
      expect(again.body).toMatchObject({ type: 'urn:payments:problem:already-subscribed', subscriptionId: first.id });
    }
    expect(made()).toBe(0);
    expect(await tableOf(userId)).toEqual({ statuses: ['trialing'], guards: { [basic.product]: first.id } });
    expect(await stripeOf(first.customer)).toEqual({ subscriptions: ['trialing'], sessions: ['complete/no_payment_required'] });
  }, 60_000);

  it.each([['paid', 'active'], ['failed', 'past_due']])('the trial ends (renew outcome=%s): the record is %s, equal to Stripe, still the guard holder (409)', async (outcome, status) => {
    const userId = `trial-ends-${outcome}`;
    const first = await completed(userId, {}, trialHandler);
    const events = await applyingEvents(() => helper(`subscriptions/${first.stripeId}/renew`, { outcome }));
    expect(events).toContain(outcome === 'paid' ? 'invoice.paid' : 'invoice.payment_failed');
    expect((await expectRecordEqualsStripe(first.id)).status).toBe(status);
    const made = sessionCreates();
    expect((await subscribe(userId)).status).toBe(409);
    expect(made()).toBe(0);
    expect(await tableOf(userId)).toEqual({ statuses: [status], guards: { [basic.product]: first.id } });
    expect(await stripeOf(first.customer)).toEqual({ subscriptions: [status], sessions: ['complete/no_payment_required'] });
  }, 60_000);
});
