import Stripe from 'stripe';
import { PaymentsApiError, PaymentsClient, RetriesExhaustedError, StorageKeyStore, type PaymentsClientOptions } from '../../client/payments-client';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { testDynamoDb } from '../support/dynamodb';
import { localToken } from '../../local/token';

/** The typed client against the running local stack: double clicks, lost responses, resumption. */
let stack: LocalStack;
let stripe: Stripe;
let price: string;

beforeAll(async () => {
  stack = await startLocalStack({ dynamoDb: await testDynamoDb(), ports: { api: 0, stripe: 0, sqs: 0, dynamodb: 0 }, webhookSecret: 'whsec_client', deliverWebhooks: false });
  const { hostname, port } = new URL(stack.stripeUrl!);
  stripe = new Stripe('sk_test_client', { host: hostname, port, protocol: 'http' });
  price = (await stripe.prices.create({ currency: 'eur', unit_amount: 990, product_data: { name: 'Client' } })).id;
}, 60_000);
afterAll(() => stack?.stop());

const body = () => ({ lineItems: [{ price, quantity: 1 }], successUrl: 'https://shop.example/ok', cancelUrl: 'https://shop.example/cart' });
const sessionsOf = (orderId: string) => [...stack.stripe!.state.sessions.values()].filter((s) => s.client_reference_id === orderId);
const countingFetch = () => {
  const calls: string[] = [];
  const fetcher: typeof fetch = async (input, init) => {
    calls.push(`${init?.method} ${String(input)}`);
    return fetch(input, init);
  };
  return { calls, fetcher };
};
const client = (options: Partial<PaymentsClientOptions> = {}) =>
  new PaymentsClient({ baseUrl: stack.apiUrl, token: () => localToken('acme', 'alice'), baseDelayMs: 10, maxDelayMs: 50, ...options });

it('turns a double click into one order: two calls of one operation share a key', async () => {
  const payments = client();
  const [first, second] = await Promise.all([payments.createCheckout(body(), { operationId: 'cart-1' }), payments.createCheckout(body(), { operationId: 'cart-1' })]);
  expect(first.data.orderId).toBe(second.data.orderId);
  expect(first.idempotencyKey).toBe(second.idempotencyKey);
  expect([first.replayed, second.replayed].sort()).toEqual([false, true]);
  expect(sessionsOf(first.data.orderId)).toHaveLength(1);
});

it('survives lost responses: retries with the same key and gets the stored answer', async () => {
  let dropped = 0;
  const lossy: typeof fetch = async (input, init) => {
    const response = await fetch(input, init); // the server did the work...
    if (dropped < 2) {
      dropped++;
      await response.arrayBuffer();
      throw new TypeError('fetch failed: socket hang up'); // ...and the answer was lost
    }
    return response;
  };
  const answer = await client({ fetch: lossy }).createCheckout(body());
  expect(answer.attempts).toBe(3);
  expect(answer.replayed).toBe(true);
  expect(sessionsOf(answer.data.orderId)).toHaveLength(1);
});

it.each([
  ['400 for a bad body', (c: PaymentsClient) => c.createCheckout({ ...body(), lineItems: [] }), 400],
  ['404 for an unknown order', (c: PaymentsClient) => c.getOrder('ord_00000000000000000000000000000000'), 404],
  ['401 for a missing token', (c: PaymentsClient) => new PaymentsClient({ baseUrl: stack.apiUrl, token: () => 'not-a-jwt', fetch: (c as any).fetch }).createCheckout(body()), 401],
])('never retries a client mistake: %s', async (_, act, status) => {
  const { calls, fetcher } = countingFetch();
  const error = await act(client({ fetch: fetcher })).then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(PaymentsApiError);
  expect((error as PaymentsApiError).status).toBe(status);
  expect((error as PaymentsApiError).problem.type).toMatch(/^urn:payments:problem:/);
  expect(calls).toHaveLength(1);
});

it('never retries a 422: the operation was reused with another body', async () => {
  const { calls, fetcher } = countingFetch();
  const payments = client({ fetch: fetcher });
  await payments.createCheckout(body(), { operationId: 'cart-422' });
  const error = await payments.createCheckout({ ...body(), successUrl: 'https://shop.example/other' }, { operationId: 'cart-422' }).catch((e: unknown) => e);
  expect((error as PaymentsApiError).status).toBe(422);
  expect(calls).toHaveLength(2);
});

it('honours Retry-After and gives up within its time budget', async () => {
  await stripe.rawRequest('POST', '/v1/test_helpers/faults', { path: '/v1/checkout/sessions', kind: 'error_500', count: 1000 });
  let clock = 0;
  const delays: number[] = [];
  const payments = client({ maxElapsedMs: 10_000, now: () => clock, sleep: async (ms) => { delays.push(ms); clock += ms; } });
  const error = await payments.createCheckout(body()).catch((e: unknown) => e);
  await stripe.rawRequest('DELETE', '/v1/test_helpers/faults', {});
  expect(error).toBeInstanceOf(RetriesExhaustedError);
  expect((error as RetriesExhaustedError).lastFailure).toBe('503 urn:payments:problem:payment-provider-unavailable');
  expect(delays.length).toBeGreaterThanOrEqual(2);
  delays.forEach((ms) => expect(ms).toBeGreaterThanOrEqual(2000)); // the API's Retry-After: 2
  expect(clock).toBeLessThanOrEqual(10_000);
}, 60_000);

it('resumes an operation after a reload from a persisted key', async () => {
  const storage = new Map<string, string>();
  const fakeLocalStorage = { getItem: (k: string) => storage.get(k) ?? null, setItem: (k: string, v: string) => void storage.set(k, v), removeItem: (k: string) => void storage.delete(k) };
  const beforeReload = await client({ keyStore: new StorageKeyStore(fakeLocalStorage) }).createCheckout(body(), { operationId: 'cart-reload' });
  const afterReload = await client({ keyStore: new StorageKeyStore(fakeLocalStorage) }).createCheckout(body(), { operationId: 'cart-reload' });
  expect(afterReload).toMatchObject({ replayed: true, data: beforeReload.data, idempotencyKey: beforeReload.idempotencyKey });
  expect(storage.size).toBe(1);
});

it('refunds and reads through the same client', async () => {
  const payments = client();
  const checkout = await payments.createCheckout(body());
  await stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${checkout.data.checkoutSessionId}/complete`, {});
  // Webhooks are off in this stack: hand the completed event to the webhook route like Stripe would.
  const completed = stack.stripe!.state.events.find((e) => e.type === 'checkout.session.completed' && JSON.stringify(e).includes(checkout.data.orderId))!;
  const { signatureHeader } = await import('../../local/stripe-emulator/webhook-delivery');
  const payload = JSON.stringify(completed);
  await fetch(`${stack.apiUrl}/v1/webhooks/stripe`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Stripe-Signature': signatureHeader(payload, 'whsec_client') }, body: payload });
  for (let i = 0; i < 100 && (await payments.getOrder(checkout.data.orderId)).data.status !== 'paid'; i++) await new Promise((r) => setTimeout(r, 50));
  const refund = await payments.createRefund({ orderId: checkout.data.orderId, amount: 90 }, { operationId: 'refund-1' });
  expect(refund.data).toMatchObject({ orderId: checkout.data.orderId, amount: 90, status: 'succeeded' });
  expect((await payments.getOrder(checkout.data.orderId)).data).toMatchObject({ status: 'partially_refunded', amountRefunded: 90 });
});
