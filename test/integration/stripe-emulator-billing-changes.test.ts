import Stripe from 'stripe';
import { startStripeEmulator, type StripeEmulator } from '../../local/stripe-emulator/server';
import { stripeClientFor, stripeError } from '../support/harness';

/**
 * What a subscription does after checkout that the emulator used to refuse, driven by the real
 * stripe-node SDK: a plan switch (the portal's `items[0][id]+[price]`), paused collection, the
 * `paused` status and its resume; and search that lags by default.
 */
let emulator: StripeEmulator;
let stripe: Stripe;

beforeAll(async () => {
  emulator = await startStripeEmulator();
  stripe = stripeClientFor(emulator.url);
});
afterAll(() => emulator.close());

const price = (name: string, amount: number, interval: 'month' | 'year' = 'month') =>
  stripe.prices.create({ currency: 'eur', unit_amount: amount, recurring: { interval }, product_data: { name } });
const helper = (path: string, params: Record<string, unknown> = {}) => stripe.rawRequest('POST', `/v1/test_helpers/${path}`, params);
const eventsSince = (since: number) => emulator.state.events.slice(since) as unknown as Stripe.Event[];

async function activeSubscription(priceId: string) {
  const customer = await stripe.customers.create({});
  const session = await stripe.checkout.sessions.create({ mode: 'subscription', customer: customer.id, line_items: [{ price: priceId, quantity: 1 }], success_url: 'https://x.example/ok' });
  await helper(`checkout/sessions/${session.id}/complete`);
  return stripe.subscriptions.retrieve((await stripe.checkout.sessions.retrieve(session.id)).subscription as string);
}

describe('customer search', () => {
  it('lags by default: a customer just created is not found until the index catches up', async () => {
    const created = await stripe.customers.create({ metadata: { userKey: 'acme:default-lag' } });
    const query = { query: "metadata['userKey']:'acme:default-lag'" };
    expect((await stripe.customers.search(query)).data).toEqual([]);
    await helper('clock', { advance_seconds: 30 });
    expect((await stripe.customers.search(query)).data).toEqual([]);
    await helper('clock', { advance_seconds: 31 });
    expect((await stripe.customers.search(query)).data.map((c) => c.id)).toEqual([created.id]);
  });
});

describe('plan switch', () => {
  it('moves the item to another product\'s price, keeps the period, and emits customer.subscription.updated with the old items', async () => {
    const basic = await price('Basic', 700);
    const team = await price('Team', 2100);
    const subscription = await activeSubscription(basic.id);
    const item = subscription.items.data[0];
    const since = emulator.state.events.length;
    const switched = await stripe.subscriptions.update(subscription.id, { items: [{ id: item.id, price: team.id, quantity: 2 }] });
    expect(switched.items.data).toHaveLength(1);
    expect(switched.items.data[0]).toMatchObject({ id: item.id, price: { id: team.id, product: team.product }, quantity: 2, current_period_end: item.current_period_end });
    expect(switched.status).toBe('active');
    const events = eventsSince(since);
    expect(events.map((e) => e.type)).toEqual(['customer.subscription.updated']);
    const updated = events[0].data as { object: Stripe.Subscription; previous_attributes?: { items?: Stripe.ApiList<Stripe.SubscriptionItem> } };
    expect(updated.object.items.data[0].price.id).toBe(team.id);
    expect(updated.previous_attributes?.items?.data[0].price.id).toBe(basic.id);
    expect((await stripe.subscriptions.retrieve(subscription.id)).items.data[0].price.product).toBe(team.product);
    // The same switch again changes nothing and emits nothing.
    const quiet = emulator.state.events.length;
    await stripe.subscriptions.update(subscription.id, { items: [{ id: item.id, price: team.id, quantity: 2 }] });
    expect(emulator.state.events.length).toBe(quiet);
  });

  it('always_invoice bills the change at once: invoice.paid and the update in the same second', async () => {
    const basic = await price('Basic-ai', 700);
    const team = await price('Team-ai', 2100);
    const subscription = await activeSubscription(basic.id);
    const since = emulator.state.events.length;
    await stripe.subscriptions.update(subscription.id, { items: [{ id: subscription.items.data[0].id, price: team.id }], proration_behavior: 'always_invoice' });
    const events = eventsSince(since);
    expect(events.map((e) => e.type)).toEqual(['invoice.created', 'invoice.finalized', 'invoice.paid', 'invoice.payment_succeeded', 'customer.subscription.updated']);
    expect(new Set(events.map((e) => e.created)).size).toBe(1);
  });

  it('adds and deletes items, and refuses what Stripe refuses', async () => {
    const basic = await price('Basic-x', 700);
    const addon = await price('Addon-x', 100);
    const yearly = await price('Yearly-x', 7000, 'year');
    const oneTime = await stripe.prices.create({ currency: 'eur', unit_amount: 500, product_data: { name: 'Mug-x' } });
    const subscription = await activeSubscription(basic.id);
    const itemId = subscription.items.data[0].id;
    const two = await stripe.subscriptions.update(subscription.id, { items: [{ price: addon.id, quantity: 3 }] });
    expect(two.items.data.map((i) => [i.price.id, i.quantity])).toEqual([[basic.id, 1], [addon.id, 3]]);
    expect(await stripeError(stripe.subscriptions.update(subscription.id, { items: [{ price: yearly.id }] }))).toMatchObject({ statusCode: 400, param: 'items' });
    expect(await stripeError(stripe.subscriptions.update(subscription.id, { items: [{ price: oneTime.id }] }))).toMatchObject({ statusCode: 400, param: 'items[0][price]' });
    expect(await stripeError(stripe.subscriptions.update(subscription.id, { items: [{ price: addon.id }] }))).toMatchObject({ statusCode: 400, param: 'items' });
    expect(await stripeError(stripe.subscriptions.update(subscription.id, { items: [{ id: 'si_nope', price: addon.id }] }))).toMatchObject({ statusCode: 400, param: 'items[0][id]' });
    expect(await stripeError(stripe.subscriptions.update(subscription.id, { items: [{ id: itemId, price: 'price_nope' }] }))).toMatchObject({ statusCode: 404 });
    const one = await stripe.subscriptions.update(subscription.id, { items: [{ id: itemId, deleted: true }] });
    expect(one.items.data.map((i) => i.price.id)).toEqual([addon.id]);
    expect(await stripeError(stripe.subscriptions.update(subscription.id, { items: [{ id: one.items.data[0].id, deleted: true }] }))).toMatchObject({ statusCode: 400 });
    // A refused update changed nothing.
    expect((await stripe.subscriptions.retrieve(subscription.id)).items.data.map((i) => i.price.id)).toEqual([addon.id]);
  });
});

describe('pausing', () => {
  it('pause_collection: status stays active, the renewal advances the period without charging; cleared with ""', async () => {
    const basic = await price('Basic-p', 700);
    const subscription = await activeSubscription(basic.id);
    let since = emulator.state.events.length;
    const paused = await stripe.subscriptions.update(subscription.id, { pause_collection: { behavior: 'void' } });
    expect(paused).toMatchObject({ status: 'active', pause_collection: { behavior: 'void', resumes_at: null } });
    expect(eventsSince(since).map((e) => e.type)).toEqual(['customer.subscription.updated']);
    since = emulator.state.events.length;
    await helper(`subscriptions/${subscription.id}/renew`);
    expect(eventsSince(since).map((e) => e.type)).toEqual(['invoice.created', 'invoice.finalized', 'invoice.voided', 'customer.subscription.updated']);
    const renewed = await stripe.subscriptions.retrieve(subscription.id);
    expect(renewed.status).toBe('active');
    expect(renewed.items.data[0].current_period_end).toBeGreaterThan(subscription.items.data[0].current_period_end);
    expect((await stripe.invoices.retrieve(renewed.latest_invoice as string)).status).toBe('void');
    expect((await stripe.subscriptions.update(subscription.id, { pause_collection: '' })).pause_collection).toBeNull();
    expect(await stripeError(stripe.subscriptions.update(subscription.id, { pause_collection: { behavior: 'sleep' as 'void' } }))).toMatchObject({ statusCode: 400 });
  });

  it('status paused (trial ended without a payment method): stops billing; resume bills a new period and activates it', async () => {
    const basic = await price('Basic-s', 700);
    const subscription = await activeSubscription(basic.id);
    expect(await stripeError(stripe.subscriptions.resume(subscription.id))).toMatchObject({ statusCode: 400 });
    let since = emulator.state.events.length;
    await helper(`subscriptions/${subscription.id}/pause`);
    const events = eventsSince(since);
    expect(events.map((e) => [e.type, (e.data.object as Stripe.Subscription).status])).toEqual([['customer.subscription.paused', 'paused'], ['customer.subscription.updated', 'paused']]);
    expect(await stripeError(helper(`subscriptions/${subscription.id}/renew`))).toMatchObject({ statusCode: 400 });
    since = emulator.state.events.length;
    const resumed = await stripe.subscriptions.resume(subscription.id);
    expect(resumed.status).toBe('active');
    expect(eventsSince(since).map((e) => e.type)).toEqual([
      'invoice.created', 'invoice.finalized', 'invoice.paid', 'invoice.payment_succeeded', 'customer.subscription.resumed', 'customer.subscription.updated',
    ]);
  });
});
