import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import objectKeys from '../fixtures/stripe-object-keys.json';
import { startStripeEmulator, type StripeEmulator } from '../../local/stripe-emulator/server';
import { stripeClientFor, stripeError } from '../support/harness';
import { eventually } from '../support/http-client';

/** The emulator, driven by the real stripe-node SDK, against Stripe's documented behaviour. */
const SECRET = 'whsec_emulator_test';
let emulator: StripeEmulator;
let stripe: Stripe;
let webhookServer: Server;
const received: { event: Stripe.Event; attempt: number }[] = [];
let failNextDeliveries = 0;

beforeAll(async () => {
  webhookServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      // The SDK's own verification: proves the emulator signs exactly like Stripe.
      const event = Stripe.webhooks.constructEvent(Buffer.concat(chunks), req.headers['stripe-signature'] as string, SECRET);
      received.push({ event, attempt: received.filter((r) => r.event.id === event.id).length + 1 });
      if (failNextDeliveries > 0) {
        failNextDeliveries--;
        res.writeHead(500).end();
      } else res.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((resolve) => webhookServer.listen(0, '127.0.0.1', resolve));
  const webhookUrl = `http://127.0.0.1:${(webhookServer.address() as AddressInfo).port}/hook`;
  emulator = await startStripeEmulator({ webhook: { url: webhookUrl, secret: SECRET }, webhookRetryScheduleMs: [20, 40] });
  stripe = stripeClientFor(emulator.url);
});
afterAll(async () => {
  await emulator.close();
  await new Promise((resolve) => webhookServer.close(resolve));
});

const price = (amount = 1500) => stripe.prices.create({ currency: 'usd', unit_amount: amount, product_data: { name: 'Mug' } });
const session = async (amount = 1500, quantity = 2) =>
  stripe.checkout.sessions.create({
    mode: 'payment',
    line_items: [{ price: (await price(amount)).id, quantity }],
    success_url: 'https://shop.example/ok',
    metadata: { orderId: 'ord_1' },
    payment_intent_data: { metadata: { orderId: 'ord_1' } },
  });
const paidSession = async (amount = 1000) => {
  const created = await session(amount, 1);
  await stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${created.id}/complete`, {});
  return stripe.checkout.sessions.retrieve(created.id);
};

describe('objects', () => {
  it('have the top-level fields and id prefixes of Stripe\'s own example objects', async () => {
    const paid = await paidSession();
    const intent = await stripe.paymentIntents.retrieve(paid.payment_intent as string);
    const refund = await stripe.refunds.create({ payment_intent: intent.id, amount: 100 });
    const charge = await stripe.charges.retrieve(intent.latest_charge as string);
    const event = (await stripe.events.list({ limit: 1 })).data[0];
    const createdPrice = await price();
    const shapes: [string, object, RegExp][] = [
      ['checkout.session', paid, /^cs_test_/],
      ['payment_intent', intent, /^pi_/],
      ['charge', charge, /^ch_/],
      ['refund', refund, /^re_/],
      ['event', event, /^evt_/],
      ['price', createdPrice, /^price_/],
    ];
    for (const [name, object, prefix] of shapes) {
      expect(Object.keys(object).sort()).toEqual((objectKeys as unknown as Record<string, string[]>)[name]);
      expect((object as { id: string }).id).toMatch(prefix);
      expect((object as { object: string }).object).toBe(name);
    }
  });

  it('prices a session from its line items and copies metadata to the payment intent when paid', async () => {
    const created = await session(1500, 2);
    expect(created).toMatchObject({ amount_total: 3000, currency: 'usd', status: 'open', payment_status: 'unpaid', payment_intent: null });
    const paid = await paidSession(700);
    expect(paid).toMatchObject({ status: 'complete', payment_status: 'paid' });
    const intent = await stripe.paymentIntents.retrieve(paid.payment_intent as string);
    expect(intent).toMatchObject({ status: 'succeeded', amount: 700, metadata: { orderId: 'ord_1' } });
  });

  it('answers resource_missing for an unknown price and a missing param like Stripe', async () => {
    const missing = await stripeError(stripe.checkout.sessions.create({ mode: 'payment', line_items: [{ price: 'price_nope', quantity: 1 }], success_url: 'https://x.example' }));
    expect(missing).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(missing).toMatchObject({ statusCode: 404, code: 'resource_missing', param: 'line_items[0][price]' });
    const noParam = await stripeError(stripe.prices.create({ currency: 'usd' } as Stripe.PriceCreateParams));
    expect(noParam).toMatchObject({ statusCode: 400, code: 'parameter_missing', param: 'unit_amount' });
  });

  it('expires only open sessions', async () => {
    const created = await session();
    expect((await stripe.checkout.sessions.expire(created.id)).status).toBe('expired');
    expect(await stripeError(stripe.checkout.sessions.expire(created.id))).toMatchObject({ statusCode: 400 });
  });

  it('rejects requests without a test-mode API key', async () => {
    const anonymous = new Stripe('sk_live_nope', { host: '127.0.0.1', port: new URL(emulator.url).port, protocol: 'http', maxNetworkRetries: 0 });
    expect(await stripeError(anonymous.prices.list())).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
  });
});

describe('refunds', () => {
  it('refunds up to the charge and refuses beyond it', async () => {
    const paid = await paidSession(1000);
    const paymentIntent = paid.payment_intent as string;
    await stripe.refunds.create({ payment_intent: paymentIntent, amount: 600 });
    expect(await stripeError(stripe.refunds.create({ payment_intent: paymentIntent, amount: 401 }))).toMatchObject({ code: 'amount_too_large' });
    const rest = await stripe.refunds.create({ payment_intent: paymentIntent });
    expect(rest.amount).toBe(400);
    expect(await stripeError(stripe.refunds.create({ payment_intent: paymentIntent }))).toMatchObject({ code: 'charge_already_refunded' });
    expect((await stripe.refunds.list({ payment_intent: paymentIntent })).data.map((r) => r.amount)).toEqual([400, 600]);
    const charge = await stripe.charges.retrieve((await stripe.paymentIntents.retrieve(paymentIntent)).latest_charge as string);
    expect(charge).toMatchObject({ amount_refunded: 1000, refunded: true });
  });

  it('refuses to refund an unpaid payment', async () => {
    const created = await session();
    expect(await stripeError(stripe.refunds.create({ payment_intent: 'pi_nope' }))).toMatchObject({ code: 'resource_missing' });
    expect(created.payment_intent).toBeNull();
  });

  it('gives a failed refund back to the charge', async () => {
    const paid = await paidSession(500);
    const refund = await stripe.refunds.create({ payment_intent: paid.payment_intent as string });
    const failed = (await stripe.rawRequest('POST', `/v1/test_helpers/refunds/${refund.id}/fail`, {})) as unknown as Stripe.Refund;
    expect(failed.status).toBe('failed');
    const charge = await stripe.charges.retrieve(refund.charge as string);
    expect(charge.amount_refunded).toBe(0);
  });
});

describe('Idempotency-Key', () => {
  it('replays the saved response for the same key and parameters, with Idempotent-Replayed', async () => {
    const params = { currency: 'usd', unit_amount: 999, product_data: { name: 'Idem' } };
    const first = await stripe.prices.create(params, { idempotencyKey: 'key-same' });
    const again = await stripe.prices.create(params, { idempotencyKey: 'key-same' });
    expect(again.id).toBe(first.id);
    expect(again.lastResponse.headers['idempotent-replayed']).toBe('true');
  });

  it('answers 400 idempotency_error for the same key with other parameters', async () => {
    await stripe.prices.create({ currency: 'usd', unit_amount: 1, product_data: { name: 'A' } }, { idempotencyKey: 'key-other' });
    const error = await stripeError(stripe.prices.create({ currency: 'usd', unit_amount: 2, product_data: { name: 'A' } }, { idempotencyKey: 'key-other' }));
    expect(error).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    expect(error.statusCode).toBe(400);
  });

  it('does not save a request refused by validation: the same key runs once the cause is fixed', async () => {
    const params = { mode: 'payment' as const, line_items: [{ price: 'price_missing', quantity: 1 }], success_url: 'https://x.example' };
    await stripeError(stripe.checkout.sessions.create(params, { idempotencyKey: 'key-error' }));
    const again = await stripeError(stripe.checkout.sessions.create(params, { idempotencyKey: 'key-error' }));
    expect(again).toMatchObject({ statusCode: 404, code: 'resource_missing' });
    expect(again.headers?.['idempotent-replayed']).toBeUndefined();
    const fixed = await stripe.checkout.sessions.create({ ...params, line_items: [{ price: (await price()).id, quantity: 1 }] }, { idempotencyKey: 'key-error' });
    expect(fixed.status).toBe('open');
  });
});

describe('faults', () => {
  it('fails the next N calls to a path with 500 or 429, then recovers', async () => {
    await stripe.rawRequest('POST', '/v1/test_helpers/faults', { path: '/v1/prices', kind: 'error_500', count: 1 });
    expect(await stripeError(price())).toBeInstanceOf(Stripe.errors.StripeAPIError);
    await stripe.rawRequest('POST', '/v1/test_helpers/faults', { path: '/v1/prices', kind: 'rate_limit_429', count: 1 });
    expect(await stripeError(price())).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
    expect((await price()).id).toMatch(/^price_/);
  });

  it('executes but drops the response for drop_response: the object exists, the caller never heard', async () => {
    const before = emulator.state.prices.size;
    await stripe.rawRequest('POST', '/v1/test_helpers/faults', { path: '/v1/prices', kind: 'drop_response', count: 2 });
    expect(await stripeError(stripe.prices.create({ currency: 'usd', unit_amount: 5, product_data: { name: 'Lost' } }, { idempotencyKey: 'key-dropped' }))).toBeInstanceOf(Stripe.errors.StripeConnectionError);
    expect(emulator.state.prices.size).toBe(before + 1);
    const recovered = await stripe.prices.create({ currency: 'usd', unit_amount: 5, product_data: { name: 'Lost' } }, { idempotencyKey: 'key-dropped' });
    expect(recovered.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(emulator.state.prices.size).toBe(before + 1);
  });
});

describe('webhooks', () => {
  it('delivers the signed events of a payment, verified by the SDK', async () => {
    const paid = await paidSession(1200);
    await eventually(async () => received.some((r) => r.event.type === 'checkout.session.completed' && (r.event.data.object as Stripe.Checkout.Session).id === paid.id));
    const types = received.filter((r) => JSON.stringify(r.event.data.object).includes(paid.payment_intent as string)).map((r) => r.event.type);
    expect(types).toEqual(expect.arrayContaining(['charge.succeeded', 'payment_intent.succeeded', 'checkout.session.completed']));
  });

  it('retries a failed delivery with backoff, then stops', async () => {
    failNextDeliveries = 2;
    const created = await session();
    await stripe.checkout.sessions.expire(created.id);
    const event = await eventually(async () => received.find((r) => r.event.type === 'checkout.session.expired' && (r.event.data.object as { id: string }).id === created.id && r.attempt === 3));
    expect(event.attempt).toBe(3);
    await emulator.webhooks.idle();
    expect(emulator.webhooks.attempts.filter((a) => a.eventId === event.event.id).map((a) => a.status)).toEqual([500, 500, 200]);
  });

  it('resends an event on request, with the same id', async () => {
    const [latest] = (await stripe.events.list({ limit: 1 })).data;
    const count = received.filter((r) => r.event.id === latest.id).length;
    await stripe.rawRequest('POST', `/v1/test_helpers/events/${latest.id}/resend`, {});
    await eventually(async () => received.filter((r) => r.event.id === latest.id).length === count + 1);
  });
});
