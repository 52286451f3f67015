import Stripe from 'stripe';
import { startStripeEmulator, type StripeEmulator } from '../../local/stripe-emulator/server';
import { stripeClientFor, stripeError } from '../support/harness';

/**
 * The subscription statuses a first payment or a trial produce, on the emulator, with the real
 * stripe-node SDK: `incomplete` (first payment failed or needs action), `incomplete_expired`
 * (23 h unpaid), `trialing` (subscription_data[trial_period_days]) and the trial's end.
 */
let emulator: StripeEmulator;
let stripe: Stripe;

beforeAll(async () => {
  emulator = await startStripeEmulator();
  stripe = stripeClientFor(emulator.url);
});
afterAll(() => emulator.close());

const monthly = () => stripe.prices.create({ currency: 'eur', unit_amount: 900, recurring: { interval: 'month' }, product_data: { name: 'Plan' } });
const session = async (trialDays?: number) => {
  const customer = await stripe.customers.create({ email: 'x@example.com' });
  return stripe.checkout.sessions.create({
    mode: 'subscription', customer: customer.id, line_items: [{ price: (await monthly()).id, quantity: 1 }], success_url: 'https://shop.example/ok',
    subscription_data: { metadata: { tenantId: 't1' }, ...(trialDays === undefined ? {} : { trial_period_days: trialDays }) },
  });
};
const complete = (id: string, params: Record<string, string> = {}) => stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${id}/complete`, params);
const events = (since: number) => emulator.state.events.slice(since).map((e) => {
  const object = (e.data as { object: { status?: string } }).object;
  return [e.type, object.status];
});
const previousOf = (since: number, type: string) =>
  emulator.state.events.slice(since).filter((e) => e.type === type).map((e) => (e.data as { previous_attributes?: unknown }).previous_attributes);
const advance = (seconds: number) => stripe.rawRequest('POST', '/v1/test_helpers/clock', { advance_seconds: seconds });

describe('a first payment that fails or needs action', () => {
  it.each([['payment_failed', 'invoice.payment_failed'], ['requires_action', 'invoice.payment_action_required']])(
    'outcome=%s: the subscription stays incomplete with its first invoice open (%s), the session completes unpaid',
    async (outcome, failureEvent) => {
      const opened = await session();
      const since = emulator.state.events.length;
      await complete(opened.id, { outcome });
      const completed = await stripe.checkout.sessions.retrieve(opened.id);
      expect(completed).toMatchObject({ status: 'complete', payment_status: 'unpaid' });
      const subscription = await stripe.subscriptions.retrieve(completed.subscription as string);
      expect(subscription.status).toBe('incomplete');
      const invoice = await stripe.invoices.retrieve(subscription.latest_invoice as string);
      expect(invoice).toMatchObject({ status: 'open', amount_due: 900, amount_paid: 0, attempted: true, attempt_count: 1, billing_reason: 'subscription_create' });
      expect(invoice.parent?.subscription_details?.subscription).toBe(subscription.id);
      expect(completed.invoice).toBe(invoice.id);
      expect(events(since)).toEqual([
        ['customer.subscription.created', 'incomplete'], ['invoice.created', 'draft'], ['invoice.finalized', 'open'],
        [failureEvent, 'open'], ['checkout.session.completed', 'complete'],
      ]);
      // No subscription.updated: nothing changed on the subscription.
      expect((await stripe.subscriptions.list({ customer: subscription.customer as string })).data.map((s) => s.status)).toEqual(['incomplete']);
    });

  it('23 h without payment: incomplete_expired (customer.subscription.updated, previous status incomplete), the invoice voided; not before 23 h', async () => {
    const opened = await session();
    await complete(opened.id, { outcome: 'payment_failed' });
    const id = (await stripe.checkout.sessions.retrieve(opened.id)).subscription as string;
    const early = await stripeError(stripe.rawRequest('POST', `/v1/test_helpers/subscriptions/${id}/expire_incomplete`, {}));
    expect(early).toMatchObject({ statusCode: 400, code: 'subscription_not_expired_yet' });
    await advance(23 * 3600);
    const since = emulator.state.events.length;
    await stripe.rawRequest('POST', `/v1/test_helpers/subscriptions/${id}/expire_incomplete`, {});
    const expired = await stripe.subscriptions.retrieve(id);
    expect(expired.status).toBe('incomplete_expired');
    expect((await stripe.invoices.retrieve(expired.latest_invoice as string)).status).toBe('void');
    expect(events(since)).toEqual([['invoice.voided', 'void'], ['customer.subscription.updated', 'incomplete_expired']]);
    expect(previousOf(since, 'customer.subscription.updated')).toEqual([{ status: 'incomplete' }]);
    // Terminal: no second expiry, no renewal, no update.
    expect(await stripeError(stripe.rawRequest('POST', `/v1/test_helpers/subscriptions/${id}/expire_incomplete`, {}))).toMatchObject({ statusCode: 400 });
    expect(await stripeError(stripe.rawRequest('POST', `/v1/test_helpers/subscriptions/${id}/renew`, {}))).toMatchObject({ statusCode: 400 });
    expect(await stripeError(stripe.subscriptions.update(id, { cancel_at_period_end: true }))).toMatchObject({ statusCode: 400 });
  });

  it('paying the open first invoice: active (invoice.paid, customer.subscription.updated); a failed retry leaves it incomplete', async () => {
    const opened = await session();
    await complete(opened.id, { outcome: 'requires_action' });
    const id = (await stripe.checkout.sessions.retrieve(opened.id)).subscription as string;
    const invoiceId = (await stripe.subscriptions.retrieve(id)).latest_invoice as string;
    let since = emulator.state.events.length;
    await stripe.rawRequest('POST', `/v1/test_helpers/invoices/${invoiceId}/retry`, { outcome: 'failed' });
    expect((await stripe.subscriptions.retrieve(id)).status).toBe('incomplete');
    expect(events(since)).toEqual([['invoice.payment_failed', 'open']]);
    since = emulator.state.events.length;
    await stripe.rawRequest('POST', `/v1/test_helpers/invoices/${invoiceId}/retry`, { outcome: 'paid' });
    expect((await stripe.subscriptions.retrieve(id)).status).toBe('active');
    expect(await stripe.invoices.retrieve(invoiceId)).toMatchObject({ status: 'paid', amount_paid: 900, attempt_count: 3 });
    expect(events(since)).toEqual([['invoice.paid', 'paid'], ['invoice.payment_succeeded', 'paid'], ['customer.subscription.updated', 'active']]);
    expect(previousOf(since, 'customer.subscription.updated')).toEqual([{ status: 'incomplete' }]);
    // An active subscription no longer expires.
    await advance(23 * 3600);
    expect(await stripeError(stripe.rawRequest('POST', `/v1/test_helpers/subscriptions/${id}/expire_incomplete`, {}))).toMatchObject({ statusCode: 400, code: 'subscription_not_incomplete' });
  });

  it('refuses an unknown outcome', async () => {
    const opened = await session();
    expect(await stripeError(complete(opened.id, { outcome: 'maybe' }))).toMatchObject({ statusCode: 400, param: 'outcome' });
    expect((await stripe.checkout.sessions.retrieve(opened.id)).status).toBe('open');
  });
});

describe('a trial (subscription_data[trial_period_days])', () => {
  it('completes trialing: created trialing (never incomplete), a paid 0 invoice, the period is the trial, payment_status no_payment_required', async () => {
    const opened = await session(14);
    const since = emulator.state.events.length;
    await complete(opened.id);
    const completed = await stripe.checkout.sessions.retrieve(opened.id);
    expect(completed).toMatchObject({ status: 'complete', payment_status: 'no_payment_required' });
    const subscription = await stripe.subscriptions.retrieve(completed.subscription as string);
    expect(subscription.status).toBe('trialing');
    expect(subscription.trial_end! - subscription.trial_start!).toBe(14 * 86_400);
    expect(subscription.items.data[0].current_period_end).toBe(subscription.trial_end);
    expect(subscription.metadata).toEqual({ tenantId: 't1' });
    expect(await stripe.invoices.retrieve(subscription.latest_invoice as string)).toMatchObject({ status: 'paid', amount_due: 0, amount_paid: 0, total: 0, billing_reason: 'subscription_create' });
    expect(events(since)).toEqual([
      ['customer.subscription.created', 'trialing'], ['invoice.created', 'draft'], ['invoice.finalized', 'open'],
      ['invoice.paid', 'paid'], ['invoice.payment_succeeded', 'paid'], ['checkout.session.completed', 'complete'],
    ]);
  });

  it.each([['paid', 'active', 'invoice.paid'], ['failed', 'past_due', 'invoice.payment_failed']])(
    'the trial ends (renew outcome=%s): %s, the first charged invoice (%s)', async (outcome, status, invoiceEvent) => {
      const opened = await session(7);
      await complete(opened.id);
      const id = (await stripe.checkout.sessions.retrieve(opened.id)).subscription as string;
      const trialing = await stripe.subscriptions.retrieve(id);
      const since = emulator.state.events.length;
      await stripe.rawRequest('POST', `/v1/test_helpers/subscriptions/${id}/renew`, { outcome });
      const after = await stripe.subscriptions.retrieve(id);
      expect(after.status).toBe(status);
      expect(after.items.data[0].current_period_start).toBe(trialing.trial_end);
      expect(after.items.data[0].current_period_end).toBe(trialing.trial_end! + 30 * 86_400);
      const invoice = await stripe.invoices.retrieve(after.latest_invoice as string);
      expect(invoice).toMatchObject({ amount_due: 900, billing_reason: 'subscription_cycle', status: outcome === 'paid' ? 'paid' : 'open' });
      expect(events(since).map(([type]) => type)).toContain(invoiceEvent);
      expect(events(since).at(-1)).toEqual(['customer.subscription.updated', status]);
      expect((previousOf(since, 'customer.subscription.updated')[0] as { status: string }).status).toBe('trialing');
      expect((await stripe.invoices.list({ subscription: id })).data).toHaveLength(2);
    });

  it('refuses a trial out of 1..730 days and a failing outcome on a trial', async () => {
    for (const days of [0, 731]) {
      expect(await stripeError(session(days))).toMatchObject({ statusCode: 400, param: 'subscription_data[trial_period_days]' });
    }
    const opened = await session(3);
    expect(await stripeError(complete(opened.id, { outcome: 'payment_failed' }))).toMatchObject({ statusCode: 400, param: 'outcome' });
  });
});
