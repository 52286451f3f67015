import Stripe from 'stripe';
import { startStripeEmulator, type StripeEmulator } from '../../local/stripe-emulator/server';
import { stripeClientFor, stripeError } from '../support/harness';

/** Billing on the emulator, driven by the real stripe-node SDK: customers, subscriptions, invoices, portal. */
let emulator: StripeEmulator;
let stripe: Stripe;

beforeAll(async () => {
  emulator = await startStripeEmulator();
  stripe = stripeClientFor(emulator.url);
});
afterAll(() => emulator.close());

const monthly = (amount = 900) =>
  stripe.prices.create({ currency: 'eur', unit_amount: amount, recurring: { interval: 'month' }, product_data: { name: `Plan ${amount}` } });
const subscriptionSession = async (customer: string, priceId?: string) =>
  stripe.checkout.sessions.create({
    mode: 'subscription',
    customer,
    line_items: [{ price: priceId ?? (await monthly()).id, quantity: 1 }],
    success_url: 'https://shop.example/ok',
    metadata: { tenantId: 't1' },
    subscription_data: { metadata: { tenantId: 't1', userId: 'u1' } },
  });
const complete = (sessionId: string) => stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${sessionId}/complete`, {});
const eventsOf = (since: number) => emulator.state.events.slice(since).map((e) => [e.type, (e.data as { object: { status?: string } }).object.status, e.created]);
const periodEnd = (s: Stripe.Subscription) => s.items.data[0].current_period_end;

describe('customers', () => {
  it('creates, retrieves, lists and finds a customer by metadata (once the search index caught up)', async () => {
    await stripe.rawRequest('POST', '/v1/test_helpers/search/lag', { seconds: 0 });
    const created = await stripe.customers.create({ email: 'a@example.com', metadata: { userKey: 'acme:alice' } });
    await stripe.customers.create({ email: 'b@example.com', metadata: { userKey: 'acme:bob' } });
    expect(created.id).toMatch(/^cus_/);
    expect(await stripe.customers.retrieve(created.id)).toMatchObject({ id: created.id, metadata: { userKey: 'acme:alice' } });
    const found = await stripe.customers.search({ query: "metadata['userKey']:'acme:alice'" });
    expect(found.data.map((c) => c.id)).toEqual([created.id]);
    expect((await stripe.customers.search({ query: "metadata['userKey']:'nobody'" })).data).toEqual([]);
    expect((await stripe.customers.list({ email: 'a@example.com' })).data.map((c) => c.id)).toEqual([created.id]);
    expect(await stripeError(stripe.customers.retrieve('cus_missing'))).toMatchObject({ statusCode: 404, code: 'resource_missing' });
    expect(await stripeError(stripe.customers.search({ query: 'name~"x"' }))).toMatchObject({ statusCode: 400 });
  });

  it('search lags behind writes, as Stripe\'s index does', async () => {
    await stripe.rawRequest('POST', '/v1/test_helpers/search/lag', { seconds: 60 });
    try {
      const fresh = await stripe.customers.create({ metadata: { userKey: 'acme:lagging' } });
      const query = { query: "metadata['userKey']:'acme:lagging'" };
      expect((await stripe.customers.search(query)).data).toEqual([]);
      expect((await stripe.customers.retrieve(fresh.id)).id).toBe(fresh.id); // retrieval is immediate
      await stripe.rawRequest('POST', '/v1/test_helpers/clock', { advance_seconds: 61 });
      expect((await stripe.customers.search(query)).data.map((c) => c.id)).toEqual([fresh.id]);
    } finally {
      await stripe.rawRequest('POST', '/v1/test_helpers/search/lag', { seconds: 0 });
    }
  });
});

describe('deleting a customer', () => {
  it('answers the deleted stub, ends its subscriptions (customer.subscription.deleted), emits customer.deleted, and refuses the customer afterwards', async () => {
    await stripe.rawRequest('POST', '/v1/test_helpers/search/lag', { seconds: 0 });
    const customer = await stripe.customers.create({ metadata: { userKey: 'acme:gone' } });
    const other = await stripe.customers.create({ metadata: { userKey: 'acme:stays' } });
    const subscribe = async (owner: string) => {
      const session = await subscriptionSession(owner);
      await complete(session.id);
      return (await stripe.checkout.sessions.retrieve(session.id)).subscription as string;
    };
    const [first, second, others] = [await subscribe(customer.id), await subscribe(customer.id), await subscribe(other.id)];
    const since = emulator.state.events.length;
    const deleted = await stripe.customers.del(customer.id);
    expect(deleted).toEqual({ id: customer.id, object: 'customer', deleted: true });
    const events = emulator.state.events.slice(since).map((e) => [e.type, (e.data as { object: { id: string } }).object.id]);
    expect(events).toEqual([['customer.subscription.deleted', first], ['customer.subscription.deleted', second], ['customer.deleted', customer.id]]);
    expect((await stripe.subscriptions.retrieve(first)).status).toBe('canceled');
    expect((await stripe.subscriptions.retrieve(second)).status).toBe('canceled');
    expect((await stripe.subscriptions.retrieve(others)).status).toBe('active');
    expect(await stripe.customers.retrieve(customer.id)).toEqual({ id: customer.id, object: 'customer', deleted: true });
    expect((await stripe.customers.search({ query: "metadata['userKey']:'acme:gone'" })).data).toEqual([]);
    expect((await stripe.customers.list({ limit: 100 })).data.map((c) => c.id)).not.toContain(customer.id);
    for (const refused of [
      stripe.customers.del(customer.id),
      stripe.billingPortal.sessions.create({ customer: customer.id, return_url: 'https://shop.example/back' }),
      subscriptionSession(customer.id),
    ]) expect(await stripeError(refused)).toMatchObject({ statusCode: 404, code: 'resource_missing' });
    expect(await stripeError(stripe.customers.del('cus_doesnotexist1'))).toMatchObject({ statusCode: 404, code: 'resource_missing' });
  });
});

describe('recurring prices and subscription checkout', () => {
  it('refuses a recurring price in payment mode and a one-time price alone in subscription mode', async () => {
    const recurring = await monthly();
    expect(recurring).toMatchObject({ type: 'recurring', recurring: { interval: 'month', interval_count: 1 } });
    const oneTime = await stripe.prices.create({ currency: 'eur', unit_amount: 500, product_data: { name: 'Mug' } });
    expect(oneTime).toMatchObject({ type: 'one_time', recurring: null });
    const customer = await stripe.customers.create({});
    expect(await stripeError(stripe.checkout.sessions.create({ mode: 'payment', line_items: [{ price: recurring.id, quantity: 1 }], success_url: 'https://x.example/ok' })))
      .toMatchObject({ statusCode: 400, param: 'line_items' });
    expect(await stripeError(subscriptionSession(customer.id, oneTime.id))).toMatchObject({ statusCode: 400, param: 'line_items' });
    expect(await stripeError(subscriptionSession('cus_nope'))).toMatchObject({ statusCode: 404, param: 'customer' });
  });

  it('on completion creates an active subscription and its first paid invoice, with Stripe\'s same-second events', async () => {
    const customer = await stripe.customers.create({ metadata: { userKey: 'acme:carol' } });
    const session = await subscriptionSession(customer.id);
    expect(session).toMatchObject({ mode: 'subscription', status: 'open', customer: customer.id, subscription: null });
    const before = emulator.state.events.length;
    await complete(session.id);
    const completed = await stripe.checkout.sessions.retrieve(session.id);
    expect(completed).toMatchObject({ status: 'complete', payment_status: 'paid', customer: customer.id });
    const subscription = await stripe.subscriptions.retrieve(completed.subscription as string);
    expect(subscription).toMatchObject({ status: 'active', customer: customer.id, cancel_at_period_end: false, metadata: { tenantId: 't1', userId: 'u1' } });
    expect(periodEnd(subscription) - subscription.items.data[0].current_period_start).toBe(30 * 86_400);
    const invoices = await stripe.invoices.list({ subscription: subscription.id });
    expect(invoices.data).toHaveLength(1);
    expect(invoices.data[0]).toMatchObject({ status: 'paid', amount_paid: 900, billing_reason: 'subscription_create', customer: customer.id });
    expect(invoices.data[0].parent?.subscription_details?.subscription).toBe(subscription.id);
    const events = eventsOf(before);
    expect(events.map(([type, status]) => `${type}:${status}`)).toEqual([
      'customer.subscription.created:incomplete', 'invoice.created:draft', 'invoice.finalized:open', 'invoice.paid:paid',
      'invoice.payment_succeeded:paid', 'customer.subscription.updated:active', 'checkout.session.completed:complete',
    ]);
    expect(new Set(events.map(([, , created]) => created)).size).toBe(1); // all in one second
    expect(await stripeError(complete(session.id))).toMatchObject({ statusCode: 400 });
  });

  it('creates the customer when the session named none, and a session can be expired', async () => {
    const customersBefore = emulator.state.billing.customers.size;
    const session = await stripe.checkout.sessions.create({ mode: 'subscription', line_items: [{ price: (await monthly()).id }], success_url: 'https://x.example/ok' });
    await complete(session.id);
    expect(emulator.state.billing.customers.size).toBe(customersBefore + 1);
    const other = await subscriptionSession((await stripe.customers.create({})).id);
    expect(await stripe.checkout.sessions.expire(other.id)).toMatchObject({ status: 'expired' });
    expect(await stripeError(complete(other.id))).toMatchObject({ statusCode: 400 });
  });
});

describe('subscription lifecycle', () => {
  const activeSubscription = async () => {
    const customer = await stripe.customers.create({});
    const session = await subscriptionSession(customer.id);
    await complete(session.id);
    return stripe.subscriptions.retrieve((await stripe.checkout.sessions.retrieve(session.id)).subscription as string);
  };

  it('renews: new period, paid invoice; a failed renewal makes it past_due, a paid retry active again', async () => {
    const subscription = await activeSubscription();
    const before = emulator.state.events.length;
    const renewed = await stripe.rawRequest('POST', `/v1/test_helpers/subscriptions/${subscription.id}/renew`, {});
    expect(renewed).toMatchObject({ status: 'active' });
    expect(periodEnd(await stripe.subscriptions.retrieve(subscription.id))).toBe(periodEnd(subscription) + 30 * 86_400);
    expect(eventsOf(before).map(([t]) => t)).toEqual(['invoice.created', 'invoice.finalized', 'invoice.paid', 'invoice.payment_succeeded', 'customer.subscription.updated']);

    const failedAt = emulator.state.events.length;
    await stripe.rawRequest('POST', `/v1/test_helpers/subscriptions/${subscription.id}/renew`, { outcome: 'failed' });
    expect(await stripe.subscriptions.retrieve(subscription.id)).toMatchObject({ status: 'past_due' });
    expect(eventsOf(failedAt).map(([t, s]) => `${t}:${s}`)).toEqual(['invoice.created:draft', 'invoice.finalized:open', 'invoice.payment_failed:open', 'customer.subscription.updated:past_due']);
    const open = (await stripe.invoices.list({ subscription: subscription.id, status: 'open' })).data;
    expect(open).toHaveLength(1);
    await stripe.rawRequest('POST', `/v1/test_helpers/invoices/${open[0].id}/retry`, { outcome: 'paid' });
    expect(await stripe.subscriptions.retrieve(subscription.id)).toMatchObject({ status: 'active' });
    expect((await stripe.invoices.list({ subscription: subscription.id })).data.map((i) => i.status)).toEqual(['paid', 'paid', 'paid']);
  });

  it('cancels at period end: flag set, then the next renewal ends it instead of billing', async () => {
    const subscription = await activeSubscription();
    const updated = await stripe.subscriptions.update(subscription.id, { cancel_at_period_end: true });
    expect(updated).toMatchObject({ cancel_at_period_end: true, cancel_at: periodEnd(subscription), status: 'active' });
    const event = emulator.state.events.at(-1)!;
    expect(event.type).toBe('customer.subscription.updated');
    expect((event.data as { previous_attributes: unknown }).previous_attributes).toMatchObject({ cancel_at_period_end: false });
    const invoicesBefore = emulator.state.billing.invoices.size;
    await stripe.rawRequest('POST', `/v1/test_helpers/subscriptions/${subscription.id}/renew`, {});
    expect(await stripe.subscriptions.retrieve(subscription.id)).toMatchObject({ status: 'canceled' });
    expect(emulator.state.events.at(-1)!.type).toBe('customer.subscription.deleted');
    expect(emulator.state.billing.invoices.size).toBe(invoicesBefore);
    expect(await stripeError(stripe.subscriptions.update(subscription.id, { cancel_at_period_end: false }))).toMatchObject({ statusCode: 400 });
    // Stripe lists canceled subscriptions only on request.
    expect((await stripe.subscriptions.list({ customer: subscription.customer as string })).data).toEqual([]);
    expect((await stripe.subscriptions.list({ customer: subscription.customer as string, status: 'all' })).data.map((s) => s.id)).toEqual([subscription.id]);
  });

  it('opens a customer portal session for an existing customer only', async () => {
    const customer = await stripe.customers.create({});
    const portal = await stripe.billingPortal.sessions.create({ customer: customer.id, return_url: 'https://shop.example/account' });
    expect(portal).toMatchObject({ object: 'billing_portal.session', customer: customer.id, return_url: 'https://shop.example/account' });
    expect(portal.url).toMatch(/^http/);
    expect(await stripeError(stripe.billingPortal.sessions.create({ customer: 'cus_nope' }))).toMatchObject({ statusCode: 404 });
  });
});
