import Stripe from 'stripe';
import {
  MemoryKeyStore,
  PaymentsApiError,
  PaymentsClient,
  RetriesExhaustedError,
  StorageKeyStore,
  UnresolvedOperationError,
  type Fetch,
  type PaymentsClientOptions,
  type StorageLike,
} from '../../client/payments-client';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { signatureHeader } from '../../local/stripe-emulator/webhook-delivery';
import { testDynamoDb } from '../support/dynamodb';
import { localToken } from '../../local/token';
import { contractCheckedFetch } from '../support/http-client';

/**
 * The typed client against the running local stack, told as the README's stories: double click,
 * reload, two tabs, fix and try again — plus lost and unreadable answers. Each counts what Stripe
 * and the API created, not just what the client returned.
 */
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

const cart = (quantity = 1) => ({ lineItems: [{ price, quantity }], successUrl: 'https://shop.example/ok', cancelUrl: 'https://shop.example/cart' });
const sessionsOf = (orderId: string) => [...stack.stripe!.state.sessions.values()].filter((s) => s.client_reference_id === orderId);
const stripeRefundsOf = async (paymentIntentId: string) => (await stripe.refunds.list({ payment_intent: paymentIntentId, limit: 100 })).data;
let operations = 0;
const newOperationId = (name: string) => `${name}-${++operations}`;

/** Real fetch, counting the requests that left the client. */
const countingFetch = (inner: Fetch = (url, init) => contractCheckedFetch(url, init)) => {
  const posts: string[] = [];
  const fetcher: Fetch = (url, init) => {
    if (init.method === 'POST') posts.push(init.headers['Idempotency-Key']!.replace(/"/g, ''));
    return inner(url, init);
  };
  return { posts, fetcher };
};
const client = (options: Partial<PaymentsClientOptions> = {}) =>
  new PaymentsClient({ baseUrl: stack.apiUrl, token: () => localToken('acme', 'alice'), baseDelayMs: 10, maxDelayMs: 50, ...options });
const webStorage = () => {
  const items = new Map<string, string>();
  const storage: StorageLike = { getItem: (k) => items.get(k) ?? null, setItem: (k, v) => void items.set(k, v), removeItem: (k) => void items.delete(k) };
  return { items, storage };
};
const rejection = (promise: Promise<unknown>) => promise.then(() => new Error('resolved, expected a rejection'), (error: unknown) => error);

/** Stripe completes the session; webhooks are off in this stack, so hand the event to the webhook route as Stripe would. */
async function pay(payments: PaymentsClient, orderId: string, checkoutSessionId: string) {
  await stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${checkoutSessionId}/complete`, {});
  const completed = stack.stripe!.state.events.find((e) => e.type === 'checkout.session.completed' && JSON.stringify(e).includes(orderId))!;
  const payload = JSON.stringify(completed);
  await contractCheckedFetch(`${stack.apiUrl}/v1/webhooks/stripe`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Stripe-Signature': signatureHeader(payload, 'whsec_client') }, body: payload });
  for (let i = 0; i < 100; i++) {
    const order = (await payments.getOrder(orderId)).data;
    if (order.status === 'paid') return order;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`order ${orderId} never became paid`);
}

describe('double click', () => {
  it('two clicks in one page send one request and create one order', async () => {
    const { posts, fetcher } = countingFetch();
    const payments = client({ fetch: fetcher });
    const operationId = newOperationId('cart');
    const [first, second] = await Promise.all([payments.createCheckout(cart(), { operationId }), payments.createCheckout(cart(), { operationId })]);
    expect(second).toBe(first);
    expect(posts).toHaveLength(1);
    expect(sessionsOf(first.data.orderId)).toHaveLength(1);
  });

  it('buying the same cart id again after it succeeded is a second order, and a changed cart is not a 422', async () => {
    const payments = client();
    const operationId = newOperationId('cart');
    const first = await payments.createCheckout(cart(1), { operationId });
    const again = await payments.createCheckout(cart(1), { operationId });
    const changed = await payments.createCheckout(cart(2), { operationId });
    expect(new Set([first, again, changed].map((a) => a.data.orderId)).size).toBe(3);
    expect([first, again, changed].map((a) => a.replayed)).toEqual([false, false, false]);
    for (const answer of [first, again, changed]) expect(sessionsOf(answer.data.orderId)).toHaveLength(1);
  });
});

describe('lost answers', () => {
  it('a lost response is retried with the same key and answered by the replay', async () => {
    let dropped = 0;
    const lossy: Fetch = async (url, init) => {
      const response = await contractCheckedFetch(url, init); // the API did the work...
      if (dropped < 2) {
        dropped++;
        await response.arrayBuffer();
        throw new TypeError('fetch failed: socket hang up'); // ...and the answer was lost
      }
      return response;
    };
    const answer = await client({ fetch: lossy }).createCheckout(cart(), { operationId: newOperationId('cart') });
    expect(answer).toMatchObject({ attempts: 3, replayed: true });
    expect(sessionsOf(answer.data.orderId)).toHaveLength(1);
  });

  it('a 2xx cut short is a lost response, not a success', async () => {
    let cut = false;
    const truncating: Fetch = async (url, init) => {
      const response = await contractCheckedFetch(url, init);
      if (cut || response.status !== 201) return response;
      cut = true;
      const text = await response.text();
      return { status: response.status, headers: response.headers, text: async () => text.slice(0, text.length / 2) };
    };
    const { posts, fetcher } = countingFetch(truncating);
    const answer = await client({ fetch: fetcher }).createCheckout(cart(), { operationId: newOperationId('cart') });
    expect(answer).toMatchObject({ attempts: 2, replayed: true, data: { status: 'pending', checkoutUrl: expect.stringMatching(/^https?:/) } });
    expect(new Set(posts)).toEqual(new Set([answer.idempotencyKey]));
    expect(sessionsOf(answer.data.orderId)).toHaveLength(1);
  });
});

describe('reload', () => {
  it('a page reloaded before the answer resumes the operation from localStorage and gets the replay', async () => {
    const { items, storage } = webStorage();
    const operationId = newOperationId('cart');
    let reachedApi!: () => void;
    const arrived = new Promise<void>((resolve) => (reachedApi = resolve));
    const dyingPage: Fetch = async (url, init) => {
      await (await contractCheckedFetch(url, init)).text(); // the API created the order...
      reachedApi();
      return new Promise(() => undefined); // ...and the page was gone before it could read the answer
    };
    void client({ keyStore: new StorageKeyStore(storage), fetch: dyingPage, maxElapsedMs: 1000 }).createCheckout(cart(), { operationId }).catch(() => undefined);
    await arrived;
    expect(items.size).toBe(1);

    const reloaded = client({ keyStore: new StorageKeyStore(storage) });
    expect(reloaded.isUnresolved('createCheckout', operationId)).toBe(true);
    const resumed = await reloaded.createCheckout(cart(), { operationId });
    expect(resumed.replayed).toBe(true);
    expect(sessionsOf(resumed.data.orderId)).toHaveLength(1);
    expect(items.size).toBe(0); // settled: the next checkout of this cart is a new one
  });
});

describe('two tabs', () => {
  it('tab B editing a cart that tab A is still buying is refused without a request, then is a new order once A is done', async () => {
    const { storage } = webStorage();
    const operationId = newOperationId('cart');
    let releaseA!: () => void;
    const held = new Promise<void>((resolve) => (releaseA = resolve));
    const tabA = client({ keyStore: new StorageKeyStore(storage), fetch: async (url, init) => (await held, contractCheckedFetch(url, init)) });
    const { posts, fetcher } = countingFetch();
    const tabB = client({ keyStore: new StorageKeyStore(storage), fetch: fetcher });

    const inA = tabA.createCheckout(cart(1), { operationId });
    const refused = await rejection(tabB.createCheckout(cart(2), { operationId }));
    expect(refused).toBeInstanceOf(UnresolvedOperationError);
    expect(posts).toHaveLength(0);

    releaseA();
    const a = await inA;
    const b = await tabB.createCheckout(cart(2), { operationId });
    expect(b.data.orderId).not.toBe(a.data.orderId);
    expect(b.replayed).toBe(false);
    expect(sessionsOf(a.data.orderId)).toHaveLength(1);
    expect(sessionsOf(b.data.orderId)).toHaveLength(1);
  });

  it('the same cart submitted in two tabs at once is one order', async () => {
    const { storage } = webStorage();
    const operationId = newOperationId('cart');
    const [a, b] = await Promise.all([
      client({ keyStore: new StorageKeyStore(storage) }).createCheckout(cart(), { operationId }),
      client({ keyStore: new StorageKeyStore(storage) }).createCheckout(cart(), { operationId }),
    ]);
    expect(b.data).toEqual(a.data);
    expect(b.idempotencyKey).toBe(a.idempotencyKey);
    expect(sessionsOf(a.data.orderId)).toHaveLength(1);
  });
});

describe('fix and try again', () => {
  it('a refund refused while the order was pending goes through once it is paid; a corrected amount is a new request', async () => {
    const payments = client();
    const { data: checkout } = await payments.createCheckout(cart(), { operationId: newOperationId('cart') });
    const operationId = newOperationId('refund');

    const tooEarly = await rejection(payments.createRefund({ orderId: checkout.orderId, amount: 500 }, { operationId }));
    expect(tooEarly).toMatchObject({ status: 409, definitive: true, problem: { type: 'urn:payments:problem:order-not-refundable' } });
    const paid = await pay(payments, checkout.orderId, checkout.checkoutSessionId);

    const tooMuch = await rejection(payments.createRefund({ orderId: checkout.orderId, amount: 5000 }, { operationId }));
    expect(tooMuch).toMatchObject({ status: 422, definitive: true, problem: { type: 'urn:payments:problem:refund-exceeds-balance', refundable: 990 } });
    expect(payments.isUnresolved('createRefund', operationId)).toBe(false);

    const corrected = await payments.createRefund({ orderId: checkout.orderId, amount: 500 }, { operationId });
    expect(corrected).toMatchObject({ replayed: false, data: { orderId: checkout.orderId, amount: 500, status: 'succeeded' } });
    expect(await stripeRefundsOf(paid.paymentIntentId!)).toHaveLength(1);
    expect((await payments.getOrder(checkout.orderId)).data).toMatchObject({ status: 'partially_refunded', amountRefunded: 500 });
  });

  it('an unresolved refund refuses a different amount until it is abandoned', async () => {
    const keyStore = new MemoryKeyStore();
    const payments = client({ keyStore });
    const { data: checkout } = await payments.createCheckout(cart(), { operationId: newOperationId('cart') });
    const order = await pay(payments, checkout.orderId, checkout.checkoutSessionId);
    const operationId = newOperationId('refund');
    const lostAnswer: Fetch = async (url, init) => {
      await (await contractCheckedFetch(url, init)).text();
      throw new TypeError('fetch failed');
    };
    const gaveUp = await rejection(client({ keyStore, fetch: lostAnswer, maxElapsedMs: 100, baseDelayMs: 400, random: () => 1 }).createRefund({ orderId: order.orderId, amount: 100 }, { operationId }));
    expect(gaveUp).toBeInstanceOf(RetriesExhaustedError);

    expect(await rejection(payments.createRefund({ orderId: order.orderId, amount: 200 }, { operationId }))).toBeInstanceOf(UnresolvedOperationError);
    // The README's advice before abandoning a refund: read the order. The lost one happened.
    expect((await payments.getOrder(order.orderId)).data.refunds.map((r) => r.amount)).toEqual([100]);
    expect(await stripeRefundsOf(order.paymentIntentId!)).toHaveLength(1);

    payments.abandon('createRefund', operationId);
    const another = await payments.createRefund({ orderId: order.orderId, amount: 200 }, { operationId });
    expect(another).toMatchObject({ replayed: false, data: { amount: 200 } });
    expect(await stripeRefundsOf(order.paymentIntentId!)).toHaveLength(2);
    expect((await payments.getOrder(order.orderId)).data.amountRefunded).toBe(300);
  });
});

describe('what is never retried, and what waits', () => {
  it.each([
    ['400 for a bad body', (c: PaymentsClient) => c.createCheckout({ ...cart(), lineItems: [] }, { operationId: newOperationId('bad') }), 400],
    ['404 for an unknown order', (c: PaymentsClient) => c.getOrder('ord_00000000000000000000000000000000'), 404],
  ])('never retries a client mistake: %s', async (_, act, status) => {
    let requests = 0;
    const error = await rejection(act(client({ fetch: (url, init) => (requests++, contractCheckedFetch(url, init)) })));
    expect(error).toBeInstanceOf(PaymentsApiError);
    expect(error).toMatchObject({ status, definitive: true, problem: { type: expect.stringMatching(/^urn:payments:problem:/) } });
    expect(requests).toBe(1);
  });

  it('a 401 refreshes the token once and repeats the same request', async () => {
    const { posts, fetcher } = countingFetch();
    const refreshToken = jest.fn(() => localToken('acme', 'alice'));
    const answer = await client({ fetch: fetcher, token: () => 'expired-token', refreshToken }).createCheckout(cart(), { operationId: newOperationId('cart') });
    expect(answer).toMatchObject({ attempts: 2, replayed: false });
    expect(refreshToken).toHaveBeenCalledTimes(1);
    expect(posts).toEqual([answer.idempotencyKey, answer.idempotencyKey]);
    expect(sessionsOf(answer.data.orderId)).toHaveLength(1);
  });

  it('honours Retry-After and gives up within its time budget, keeping the key', async () => {
    await stripe.rawRequest('POST', '/v1/test_helpers/faults', { path: '/v1/checkout/sessions', kind: 'error_500', count: 1000 });
    let clock = 0;
    const delays: number[] = [];
    const payments = client({ maxElapsedMs: 10_000, now: () => clock, sleep: async (ms) => void (delays.push(ms), (clock += ms)) });
    const operationId = newOperationId('cart');
    const error = await rejection(payments.createCheckout(cart(), { operationId }));
    await stripe.rawRequest('DELETE', '/v1/test_helpers/faults', {});
    expect(error).toBeInstanceOf(RetriesExhaustedError);
    expect((error as RetriesExhaustedError).lastFailure).toBe('503 urn:payments:problem:payment-provider-unavailable');
    expect(delays.length).toBeGreaterThanOrEqual(2);
    delays.forEach((ms) => expect(ms).toBeGreaterThanOrEqual(2000)); // the API's Retry-After: 2
    expect(clock).toBeLessThanOrEqual(10_000);

    const resumed = await payments.createCheckout(cart(), { operationId });
    expect(resumed.idempotencyKey).toBe((error as RetriesExhaustedError).idempotencyKey);
    expect(sessionsOf(resumed.data.orderId)).toHaveLength(1);
  }, 60_000);
});
