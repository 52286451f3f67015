import { defineCli, parseCli, runCli } from './cli';
import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { localUrl } from './ports';
import { LOCAL_EMULATOR_SECRET_KEY } from './stack';
import { localToken } from './token';

/**
 * `npm run demo`: the whole story against a running `npm start`, over HTTP only — price,
 * checkout, a double submit, payment, the webhook making the order paid, a refund, the result.
 */
const cli = defineCli({
  command: 'npm run demo --',
  summary:
    'Walks through the whole story against a running `npm start`, over HTTP: a price, a checkout, a double\n' +
    'submit, the payment, the webhook making the order paid, a refund retried, an over-refund refused.',
  options: {},
  usesLocalStack: true,
  examples: ['npm run demo', 'PORT=3100 STRIPE_EMULATOR_PORT=12112 npm run demo'],
});
parseCli(cli);
const apiUrl = process.env.API_URL ?? localUrl('api');
const stripeUrl = new URL(process.env.STRIPE_API_BASE ?? localUrl('stripe'));
const stripe = new Stripe(LOCAL_EMULATOR_SECRET_KEY, { host: stripeUrl.hostname, port: stripeUrl.port, protocol: 'http' });
const token = localToken('acme', 'alice');

const step = (n: number, text: string) => console.log(`\n\x1b[1m${n}. ${text}\x1b[0m`);
const show = (label: string, value: unknown) => console.log(`   ${label}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);

async function api(method: string, path: string, body?: unknown, idempotencyKey?: string) {
  const response = await fetch(`${apiUrl}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...(idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, replayed: response.headers.get('idempotent-replayed') === 'true', body: await response.json() };
}

async function waitForOrder(orderId: string, until: (order: any) => boolean) {
  for (let attempt = 0; attempt < 100; attempt++) {
    const { body } = await api('GET', `/v1/orders/${orderId}`);
    if (until(body)) return body;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Order ${orderId} did not reach the expected state; is the queue poller running?`);
}

async function main() {
  step(1, 'A Stripe Price (amounts always come from Stripe, never from the client)');
  const price = await stripe.prices.create({ currency: 'eur', unit_amount: 2500, product_data: { name: 'Demo T-shirt' } });
  show('price', `${price.id} = 25.00 EUR`);

  step(2, 'POST /v1/checkouts with a fresh Idempotency-Key');
  const key = randomUUID();
  const checkoutBody = { lineItems: [{ price: price.id, quantity: 2 }], successUrl: 'https://shop.example/thanks', cancelUrl: 'https://shop.example/cart' };
  const first = await api('POST', '/v1/checkouts', checkoutBody, key);
  show(`${first.status}`, first.body);

  step(3, 'The user double-clicks: the same request again, at the same time, twice');
  const again = await Promise.all([api('POST', '/v1/checkouts', checkoutBody, key), api('POST', '/v1/checkouts', checkoutBody, key)]);
  again.forEach((r) => show(`${r.status}`, `Idempotent-Replayed: ${r.replayed}, same order: ${r.body.orderId === first.body.orderId}`));
  const sessions = (await stripe.checkout.sessions.list({ limit: 100 })).data.filter((s) => s.client_reference_id === first.body.orderId);
  show('Stripe Checkout Sessions for this order', sessions.length);

  step(4, 'The customer pays (emulator test helper); Stripe sends checkout.session.completed');
  await stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${first.body.checkoutSessionId}/complete`, {});
  const paid = await waitForOrder(first.body.orderId, (o) => o.status === 'paid');
  show('order', { status: paid.status, amountTotal: paid.amountTotal, currency: paid.currency, paymentIntentId: paid.paymentIntentId });

  step(5, 'POST /v1/refunds for 20.00, retried once by a nervous client');
  const refundKey = randomUUID();
  const refund = await api('POST', '/v1/refunds', { orderId: first.body.orderId, amount: 2000, reason: 'requested_by_customer' }, refundKey);
  const retry = await api('POST', '/v1/refunds', { orderId: first.body.orderId, amount: 2000, reason: 'requested_by_customer' }, refundKey);
  show(`${refund.status}`, refund.body);
  show(`${retry.status}`, `Idempotent-Replayed: ${retry.replayed}`);

  step(6, 'Asking for more than is left is refused, and nothing is sent to Stripe');
  const tooMuch = await api('POST', '/v1/refunds', { orderId: first.body.orderId, amount: 5000 }, randomUUID());
  show(`${tooMuch.status}`, { type: tooMuch.body.type, detail: tooMuch.body.detail });

  step(7, 'The order as the API shows it');
  const final = await waitForOrder(first.body.orderId, (o) => o.refunds.length === 1);
  console.log(JSON.stringify(final, null, 2).replace(/^/gm, '   '));
  const stripeRefunds = await stripe.refunds.list({ payment_intent: final.paymentIntentId });
  show('Stripe refunds for this payment', stripeRefunds.data.length);
}

runCli(cli, main, () => `API ${apiUrl}, Stripe emulator ${stripeUrl.origin}`);
