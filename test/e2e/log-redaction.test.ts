import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { LOCAL_EMULATOR_SECRET_KEY, startLocalStack, type LocalStack } from '../../local/stack';
import { testDynamoDb } from '../support/dynamodb';
import { localToken } from '../../local/token';
import { apiClient, contractCheckedFetch, eventually } from '../support/http-client';

/**
 * Captures every line the handlers write during a full flow (checkout, replay, key reuse,
 * payment, webhooks, refund, a forged webhook, Stripe failing) at DEBUG level, and checks that
 * none carries a secret, a token, card data, an email or a webhook payload.
 */
const WEBHOOK_SECRET = 'whsec_redaction_test_secret';
const CUSTOMER_EMAIL = 'jane.buyer@example.com';
let stack: LocalStack;
let lines: string[] = [];
const originalWrites = { stdout: process.stdout.write.bind(process.stdout), stderr: process.stderr.write.bind(process.stderr) };

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
  const capture = (chunk: unknown) => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  };
  process.stdout.write = capture as typeof process.stdout.write;
  process.stderr.write = capture as typeof process.stderr.write;
  stack = await startLocalStack({ dynamoDb: await testDynamoDb(), ports: { api: 0, stripe: 0, sqs: 0, dynamodb: 0 }, webhookSecret: WEBHOOK_SECRET, queueVisibilitySeconds: 1 });
}, 60_000);
afterAll(async () => {
  await stack?.stop();
  process.stdout.write = originalWrites.stdout;
  process.stderr.write = originalWrites.stderr;
});

it('never logs secrets, tokens, card data, emails or webhook payloads', async () => {
  const { hostname, port } = new URL(stack.stripeUrl!);
  const stripe = new Stripe('sk_test_redaction', { host: hostname, port, protocol: 'http' });
  const api = apiClient(stack.apiUrl);
  const token = localToken('acme', 'alice');
  const price = await stripe.prices.create({ currency: 'eur', unit_amount: 1234, product_data: { name: 'Logged?' } });
  const body = { lineItems: [{ price: price.id, quantity: 1 }], successUrl: 'https://shop.example/ok', cancelUrl: 'https://shop.example/no', customerEmail: CUSTOMER_EMAIL };
  const key = randomUUID();
  const created = await api.post('/v1/checkouts', body, key);
  await api.post('/v1/checkouts', body, key); // replay
  await api.post('/v1/checkouts', { ...body, successUrl: 'https://shop.example/x' }, key); // 422
  await stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${created.body.checkoutSessionId}/complete`, {});
  await eventually(async () => (await api.get(`/v1/orders/${created.body.orderId}`)).body.status === 'paid');
  await api.post('/v1/refunds', { orderId: created.body.orderId, amount: 200 });
  const forgedPayload = JSON.stringify({ id: 'evt_forged', type: 'charge.refunded', data: { object: { payment_method_details: { card: { last4: '4242' } } } } });
  await contractCheckedFetch(`${stack.apiUrl}/v1/webhooks/stripe`, { method: 'POST', headers: { 'Stripe-Signature': 't=1,v1=deadbeef' }, body: forgedPayload });
  await stripe.rawRequest('POST', '/v1/test_helpers/faults', { path: '/v1/checkout/sessions', kind: 'error_500', count: 3 });
  await api.post('/v1/checkouts', body); // 503, logged as a warning with the Stripe error
  await eventually(async () => (await api.get(`/v1/orders/${created.body.orderId}`)).body.refunds[0]?.status === 'succeeded');
  await stack.stripe!.webhooks.idle();

  const text = lines.join('\n');
  // The capture saw the handlers at work: this test is not vacuous.
  expect(text).toContain('"message":"Stripe event handled"');
  expect(text).toContain('"message":"Rejected Stripe webhook"');
  expect(text).toContain('"message":"Stripe unavailable"');
  expect(text).toContain('"IdempotentReplay"'); // EMF metrics are written too
  expect(text).toContain(created.body.orderId); // identifiers are logged, on purpose

  const forbidden: [string, string | RegExp][] = [
    ['Stripe API key', LOCAL_EMULATOR_SECRET_KEY],
    ['any Stripe secret key', /sk_(test|live)_[A-Za-z0-9]/],
    ['webhook signing secret', WEBHOOK_SECRET],
    ['any webhook secret', /whsec_/],
    ['bearer token', token],
    ['Authorization header', /authorization/i],
    ['Stripe-Signature value', /v1=[0-9a-f]{8}/],
    ['customer email', CUSTOMER_EMAIL],
    ['card data', /last4|4242|payment_method_details/],
    ['a webhook payload', /"api_version"|"pending_webhooks"|"object":"event"/],
  ];
  for (const [what, pattern] of forbidden) {
    const leaks = lines.filter((line) => (typeof pattern === 'string' ? line.includes(pattern) : pattern.test(line)));
    expect({ what, leaks: leaks.map((l) => l.slice(0, 300)) }).toEqual({ what, leaks: [] });
  }
}, 60_000);
