import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { LOCAL_TABLE_NAMES } from '../../local/dynamodb';
import { LOCAL_EMULATOR_SECRET_KEY, startLocalStack, type LocalStack } from '../../local/stack';
import { testDynamoDb } from '../support/dynamodb';
import { localToken } from '../../local/token';
import { apiClient, contractCheckedFetch, eventually } from '../support/http-client';

/**
 * Captures every line the handlers write during a full flow (checkout, replay, key reuse,
 * payment, webhooks, refund, a forged webhook, Stripe failing, and issue 19's two stories: an
 * answer lost then the same key with another body) at DEBUG level, and every response the API
 * gives (status, headers, body). Checks that no line, no metric dimension and no response
 * carries a secret, a token, card data, an email, a webhook payload, a Stripe idempotency key
 * we derived, or a Powertools record key.
 */
const WEBHOOK_SECRET = 'whsec_redaction_test_secret';
const CUSTOMER_EMAIL = 'jane.buyer@example.com';
let stack: LocalStack;
let lines: string[] = [];
/** Every answer of the local API during the flow, as the client saw it. */
const responses: { request: string; status: number; headers: string; body: string }[] = [];
const originalFetch = globalThis.fetch;
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
  globalThis.fetch = async (input, init) => {
    const response = await originalFetch(input, init);
    const url = String(input instanceof Request ? input.url : input);
    if (url.startsWith(stack.apiUrl)) {
      const headers: string[] = [];
      response.headers.forEach((value, name) => headers.push(`${name}: ${value}`));
      responses.push({ request: `${init?.method ?? 'GET'} ${url}`, status: response.status, headers: headers.join('\n'), body: await response.clone().text() });
    }
    return response;
  };
}, 90_000);
afterAll(async () => {
  globalThis.fetch = originalFetch;
  await stack?.stop();
  process.stdout.write = originalWrites.stdout;
  process.stderr.write = originalWrites.stderr;
});

/** Every answer to the next request is lost (the handler's SDK retries too), then the line is clear again. */
async function losingEveryAnswer<T>(stripe: Stripe, path: string, request: () => Promise<T>): Promise<T> {
  await stripe.rawRequest('POST', '/v1/test_helpers/faults', { path, method: 'POST', kind: 'drop_response', count: 10 });
  try {
    return await request();
  } finally {
    await stripe.rawRequest('DELETE', '/v1/test_helpers/faults', {});
  }
}

it('never logs or answers secrets, tokens, card data, emails, webhook payloads, Stripe idempotency keys or record keys', async () => {
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
  // Issue 19, refund: Stripe refunds 300, every answer is lost; the same key with 500, then 300.
  const refundKey = randomUUID();
  const lostRefund = await losingEveryAnswer(stripe, '/v1/refunds', () => api.post('/v1/refunds', { orderId: created.body.orderId, amount: 300 }, refundKey));
  const otherRefund = await api.post('/v1/refunds', { orderId: created.body.orderId, amount: 500 }, refundKey);
  const originalRefund = await api.post('/v1/refunds', { orderId: created.body.orderId, amount: 300 }, refundKey);
  // Issue 19, checkout: Stripe creates the session, the answer is lost; the same key with quantity 2, then 1.
  const checkoutKey = randomUUID();
  const lostCheckout = await losingEveryAnswer(stripe, '/v1/checkout/sessions', () => api.post('/v1/checkouts', body, checkoutKey));
  const otherCheckout = await api.post('/v1/checkouts', { ...body, lineItems: [{ price: price.id, quantity: 2 }] }, checkoutKey);
  const originalCheckout = await api.post('/v1/checkouts', body, checkoutKey);
  expect([lostRefund, otherRefund, originalRefund, lostCheckout, otherCheckout, originalCheckout].map((r) => r.status)).toEqual([503, 422, 201, 503, 422, 201]);
  await stack.stripe!.webhooks.idle();

  // The keys that must never leave: those we sent Stripe, and the ids of our idempotency records.
  const stripeKeys = [...new Set(stack.stripe!.state.requests.map((r) => r.idempotencyKey).filter((k): k is string => /^(checkout|refund)-v1-/.test(k ?? '')))];
  expect(stripeKeys.length).toBeGreaterThanOrEqual(4);
  const { Items = [] } = await stack.dynamoDb.client.send(new ScanCommand({ TableName: LOCAL_TABLE_NAMES.idempotency }));
  const recordKeys = Items.map((item) => item.id.S!);
  expect(recordKeys.length).toBeGreaterThanOrEqual(3);
  // Our own answers were seen (the scan is not vacuous), problem answers with their Link.
  expect(responses.length).toBeGreaterThanOrEqual(15);
  expect(responses.some((r) => r.status === 422 && /link: <http:\/\/127\.0\.0\.1:\d+\/problems\/idempotency-key-reused>; rel="describedby"/.test(r.headers))).toBe(true);

  const text = lines.join('\n');
  // The capture saw the handlers at work: this test is not vacuous.
  expect(text).toContain('"message":"Stripe event handled"');
  expect(text).toContain('"message":"Rejected Stripe webhook"');
  expect(text).toContain('"message":"Stripe unavailable"');
  expect(text).toContain('"IdempotentReplay"'); // EMF metrics are written too
  expect(text).toContain(created.body.orderId); // identifiers are logged, on purpose
  expect(text).toContain('"StripeIdempotencyMismatch"'); // the checkout story reached Stripe's refusal
  // EMF metric lines and their dimensions are among the lines scanned.
  const dimensionValues = lines.flatMap((line) => {
    if (!line.includes('"_aws"')) return [];
    const record = JSON.parse(line) as { _aws: { CloudWatchMetrics: { Dimensions: string[][] }[] } } & Record<string, unknown>;
    return record._aws.CloudWatchMetrics.flatMap((m) => m.Dimensions.flat()).map((name) => `${name}=${String(record[name])}`);
  });
  expect(dimensionValues.length).toBeGreaterThan(0);

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
    ['any Stripe idempotency key we derive', /(checkout|refund)-v1-[0-9a-f]{8}/],
    ...stripeKeys.map((key): [string, string] => [`the Stripe idempotency key ${key.slice(0, 14)}…`, key]),
    ...recordKeys.map((key): [string, string] => [`the idempotency record key ${key.slice(0, 12)}…`, key]),
    ...recordKeys.map((key): [string, string] => [`the hash of idempotency record ${key.slice(0, 12)}…`, key.split('#').pop()!]),
  ];
  const places = [
    ...lines.map((line) => ({ where: 'log line', text: line })),
    ...dimensionValues.map((value) => ({ where: 'metric dimension', text: value })),
    ...responses.flatMap((r) => [
      { where: `${r.request} ${r.status} headers`, text: r.headers },
      { where: `${r.request} ${r.status} body`, text: r.body },
    ]),
  ];
  for (const [what, pattern] of forbidden) {
    const leaks = places.filter(({ text }) => (typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text)));
    const around = (text: string) => {
      const at = typeof pattern === 'string' ? text.indexOf(pattern) : text.search(pattern);
      return text.slice(Math.max(0, at - 150), at + 100);
    };
    expect({ what, leaks: leaks.map(({ where, text }) => `${where}: …${around(text)}…`) }).toEqual({ what, leaks: [] });
  }
}, 90_000);
