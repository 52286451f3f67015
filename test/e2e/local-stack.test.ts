import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHmac, randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { derivedId } from '../../lambdas/domain/idempotency-scope';
import { problemTypeUri } from '../../lambdas/shared/problem';
import { sqsClientFor } from '../../bin/dlq';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { testDynamoDb } from '../support/dynamodb';
import { apiClient, contractCheckedFetch, eventually } from '../support/http-client';

/** End to end over HTTP only: the API, the Stripe emulator's API, and SQS's API for the DLQ. */
const WEBHOOK_SECRET = 'whsec_e2e';
// Asynchronous on purpose: the emulators live in this process and must keep answering the child.
const run = async (args: string[]) => (await promisify(execFile)('npx', args, { encoding: 'utf8' })).stdout;
let stack: LocalStack;
let stripe: Stripe;
let api: ReturnType<typeof apiClient>;

beforeAll(async () => {
  stack = await startLocalStack({
    dynamoDb: await testDynamoDb(),
    ports: { api: 0, stripe: 0, sqs: 0, dynamodb: 0 },
    webhookSecret: WEBHOOK_SECRET,
    queueVisibilitySeconds: 1,
    webhookRetryScheduleMs: [100, 200, 400],
  });
  const { hostname, port } = new URL(stack.stripeUrl!);
  stripe = new Stripe('sk_test_e2e', { host: hostname, port, protocol: 'http' });
  api = apiClient(stack.apiUrl);
}, 60_000);
afterAll(() => stack?.stop());

const checkoutBody = (price: string) => ({ lineItems: [{ price, quantity: 1 }], successUrl: 'https://shop.example/ok', cancelUrl: 'https://shop.example/cancel' });
const newPrice = async (amount: number) => (await stripe.prices.create({ currency: 'usd', unit_amount: amount, product_data: { name: `E2E ${amount}` } })).id;
const order = async (orderId: string) => (await api.get(`/v1/orders/${orderId}`)).body;
/** Plays Stripe: signs and posts an event to the webhook route. */
async function deliverAsStripe(event: object) {
  const payload = JSON.stringify(event);
  const timestamp = Math.floor(Date.now() / 1000);
  const signature = createHmac('sha256', WEBHOOK_SECRET).update(`${timestamp}.${payload}`).digest('hex');
  const response = await contractCheckedFetch(`${stack.apiUrl}/v1/webhooks/stripe`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Stripe-Signature': `t=${timestamp},v1=${signature}` }, body: payload });
  return response.status;
}
const queueDepth = async (queueUrl: string) => {
  const sqs = sqsClientFor(queueUrl);
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
  sqs.destroy();
  return Number(Attributes!.ApproximateNumberOfMessages) + Number(Attributes!.ApproximateNumberOfMessagesNotVisible);
};

it('answers the checkout contract over HTTP: 201, replay, 422, 400, 401', async () => {
  const price = await newPrice(1999);
  const key = randomUUID();
  const created = await api.post('/v1/checkouts', checkoutBody(price), key);
  expect(created.status).toBe(201);
  const replayed = await api.post('/v1/checkouts', checkoutBody(price), key);
  expect(replayed.status).toBe(201);
  expect(replayed.headers.get('idempotent-replayed')).toBe('true');
  expect(replayed.body).toEqual(created.body);
  expect((await api.post('/v1/checkouts', { ...checkoutBody(price), successUrl: 'https://shop.example/x' }, key)).status).toBe(422);
  expect((await api.post('/v1/checkouts', checkoutBody(price), null)).body.type).toBe(problemTypeUri('idempotencyKeyMissing'));
  const anonymous = await contractCheckedFetch(`${stack.apiUrl}/v1/checkouts`, { method: 'POST', body: '{}' });
  expect(anonymous.status).toBe(401);
  expect(anonymous.headers.get('content-type')).toBe('application/problem+json');
  expect((await stripe.checkout.sessions.list({ limit: 100 })).data.filter((s) => s.id === created.body.checkoutSessionId)).toHaveLength(1);
});

it('pays, absorbs duplicate and reordered webhooks, refunds, and shows it all on the order', async () => {
  const price = await newPrice(1000);
  const { body: created } = await api.post('/v1/checkouts', checkoutBody(price));
  await stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${created.checkoutSessionId}/complete`, {});
  const paid = await eventually(async () => {
    const current = await order(created.orderId);
    return current.status === 'paid' && current;
  });
  expect(paid.paymentIntentId).toMatch(/^pi_/);

  // Stripe redelivers every event of this payment, twice, newest first.
  const events = (await stripe.events.list({ limit: 100 })).data.filter((e) => JSON.stringify(e.data.object).includes(created.orderId));
  for (const event of [...events].reverse()) {
    await stripe.rawRequest('POST', `/v1/test_helpers/events/${event.id}/resend`, {});
    expect(await deliverAsStripe(event)).toBe(200);
  }
  const refund = await api.post('/v1/refunds', { orderId: created.orderId, amount: 400 });
  expect(refund.body).toMatchObject({ orderId: created.orderId, amount: 400, currency: 'usd', status: 'succeeded' });
  // A late, older checkout.session.expired changes nothing.
  const session = await stripe.checkout.sessions.retrieve(created.checkoutSessionId);
  expect(await deliverAsStripe({ id: `evt_${randomUUID().replace(/-/g, '')}`, object: 'event', type: 'checkout.session.expired', created: 1, data: { object: { ...session, status: 'expired' } } })).toBe(200);

  await eventually(async () => (await queueDepth(stack.queueUrl)) === 0);
  const final = await order(created.orderId);
  expect(final).toMatchObject({ status: 'partially_refunded', amountTotal: 1000, amountRefunded: 400 });
  expect(final.refunds).toEqual([expect.objectContaining({ amount: 400, status: 'succeeded', stripeRefundId: expect.stringMatching(/^re_/) })]);
  expect((await stripe.refunds.list({ payment_intent: final.paymentIntentId })).data).toHaveLength(1);
});

it('acknowledges a session naming an order we never wrote (foreign), and dead-letters only a true poison message', async () => {
  // Someone else's session naming an id of ours: acknowledged and counted, never retried into the DLQ.
  const key = randomUUID();
  const foreignId = `evt_${randomUUID().replace(/-/g, '')}`;
  expect(
    await deliverAsStripe({
      id: foreignId,
      object: 'event',
      type: 'checkout.session.completed',
      created: Math.floor(Date.now() / 1000),
      data: { object: { id: 'cs_test_foreign', object: 'checkout.session', client_reference_id: derivedId('checkout', { tenantId: 'acme', userId: 'alice', key }), payment_status: 'paid', payment_intent: 'pi_foreign', amount_total: 1500, currency: 'usd' } },
    }),
  ).toBe(200);
  // A signed message that is not a Stripe event can never apply: after 5 receives it is dead-lettered.
  const poisonId = `evt_${randomUUID().replace(/-/g, '')}`;
  expect(await deliverAsStripe({ id: poisonId, object: 'event' } as never)).toBe(200);
  await eventually(async () => (await queueDepth(stack.deadLetterQueueUrl)) === 1, 30_000, 200);
  expect(await queueDepth(stack.queueUrl)).toBe(0);

  const listed = await run(['tsx', 'bin/dlq.ts', 'list', '--queue-url', stack.deadLetterQueueUrl]);
  expect(listed).toContain(poisonId);
  expect(listed).not.toContain(foreignId);

  // Redriven, it is tried again (5 more receives) and returns to the DLQ: nothing is lost or applied.
  const redriven = await run(['tsx', 'bin/dlq.ts', 'redrive', '--queue-url', stack.deadLetterQueueUrl]);
  expect(redriven).toMatch(/Moved 1 message/);
  await eventually(async () => (await queueDepth(stack.deadLetterQueueUrl)) === 1 && (await queueDepth(stack.queueUrl)) === 0, 30_000, 200);
}, 90_000);

it('routes unknown paths and methods to problem+json, never a handler', async () => {
  const unknown = await contractCheckedFetch(`${stack.apiUrl}/v1/nope`);
  expect(unknown.status).toBe(404);
  expect((await unknown.json()).type).toBe(problemTypeUri('routeNotFound'));
  expect((await contractCheckedFetch(`${stack.apiUrl}/v1/checkouts`, { method: 'GET' })).status).toBe(404);
});

it('links every problem answer to a page that exists: from the handlers and from the gateway itself', async () => {
  const price = await newPrice(2100);
  const key = randomUUID();
  expect((await api.post('/v1/checkouts', checkoutBody(price), key)).status).toBe(201);
  const answers = [
    await contractCheckedFetch(`${stack.apiUrl}/v1/checkouts`, { method: 'POST', body: '{}' }), // 401, the gateway's
    await contractCheckedFetch(`${stack.apiUrl}/v1/nope`), // 404, the gateway's
  ];
  const fromHandlers = [
    await api.post('/v1/checkouts', checkoutBody(price), null), // 400 idempotency-key-missing
    await api.post('/v1/checkouts', { ...checkoutBody(price), successUrl: 'https://shop.example/x' }, key), // 422 key reused
    await api.get('/v1/orders/ord_00000000000000000000000000000000'), // 404
  ];
  const links = [
    ...(await Promise.all(answers.map(async (r) => ({ type: (await r.json()).type as string, link: r.headers.get('link')! })))),
    ...fromHandlers.map((r) => ({ type: r.body.type as string, link: r.headers.get('link')! })),
  ];
  expect(links.map((l) => l.type.split(':').pop())).toEqual(['unauthorized', 'route-not-found', 'idempotency-key-missing', 'idempotency-key-reused', 'not-found']);
  for (const { type, link } of links) {
    const url = /^<([^>]+)>; rel="describedby"$/.exec(link)![1];
    expect(url.startsWith(`${stack.apiUrl}/problems/`)).toBe(true);
    const page = await contractCheckedFetch(url); // no token needed
    expect({ url, status: page.status, contentType: page.headers.get('content-type') }).toEqual({ url, status: 200, contentType: 'text/html; charset=utf-8' });
    expect(await page.text()).toContain(`<code>${type}</code>`);
  }
  const index = await contractCheckedFetch(`${stack.apiUrl}/problems`);
  expect(index.status).toBe(200);
  expect((await index.text()).match(/<section id="/g)?.length).toBeGreaterThanOrEqual(25);
});
