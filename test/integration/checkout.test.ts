import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createCheckoutHandler } from '../../lambdas/checkout/create-checkout-handler';
import { stripeIdempotencyKey } from '../../lambdas/domain/idempotency-scope';
import type { PaymentGateway } from '../../lambdas/domain/ports';
import { createOrdersHandler } from '../../lambdas/orders/create-orders-handler';
import { problemTypeUri } from '../../lambdas/shared/problem';
import { LOCAL_CREDENTIALS } from '../../local/dynamodb';
import { lambdaContext } from '../../local/lambda-context';
import { ALICE, call, claimsOf, countItems, createPrice, newKey, startHarness, TABLES, type Harness, overriding } from '../support/harness';

let h: Harness;
let priceId: string;
let checkout: ReturnType<typeof createCheckoutHandler>;
let orders: ReturnType<typeof createOrdersHandler>;

const checkoutWith = (gateway: PaymentGateway, dynamoDb = h.db.client) =>
  createCheckoutHandler({ dynamoDb, ordersTableName: TABLES.orders, idempotencyTableName: TABLES.idempotency, gateway });

const body = () => ({
  lineItems: [{ price: priceId, quantity: 2 }],
  successUrl: 'https://shop.example/success',
  cancelUrl: 'https://shop.example/cancel',
});
const post = (key: string | undefined, payload: unknown = body(), claims = ALICE, handler = checkout) =>
  call(handler, { path: '/v1/checkouts', claims, headers: key === undefined ? {} : { 'Idempotency-Key': key }, body: payload });
const getOrder = (orderId: string, claims = ALICE) =>
  call(orders, { method: 'GET', path: `/v1/orders/${orderId}`, resource: '/v1/orders/{orderId}', pathParameters: { orderId }, claims });

const sessionsCreated = () => h.emulator.state.executedCreates.get('/v1/checkout/sessions') ?? 0;
const sessionCreateCalls = () => h.emulator.state.requests.filter((r) => r.method === 'POST' && r.path === '/v1/checkout/sessions').length;

beforeAll(async () => {
  h = await startHarness();
  priceId = await createPrice(h.stripe, 1250);
  checkout = checkoutWith(h.gateway);
  orders = createOrdersHandler({ dynamoDb: h.db.client, ordersTableName: TABLES.orders });
});
afterAll(() => h.close());

describe('POST /v1/checkouts', () => {
  it('creates one Stripe session and one pending order, priced by Stripe', async () => {
    const key = newKey();
    const created = await post(key);
    expect(created.status).toBe(201);
    expect(created.headers['idempotent-replayed']).toBeUndefined();
    expect(created.body).toEqual({
      orderId: expect.stringMatching(/^ord_[0-9a-f]{32}$/),
      status: 'pending',
      checkoutSessionId: expect.stringMatching(/^cs_test_/),
      checkoutUrl: expect.stringContaining(created.body.checkoutSessionId),
    });

    const session = await h.stripe.checkout.sessions.retrieve(created.body.checkoutSessionId);
    expect(session.amount_total).toBe(2500);
    expect(session.client_reference_id).toBe(created.body.orderId);
    expect(session.metadata).toEqual({ orderId: created.body.orderId, tenantId: 'acme' });
    // The deterministic key is what Stripe saw: our ledger and Stripe's agree.
    const stripeKey = stripeIdempotencyKey('checkout', { tenantId: 'acme', userId: 'alice', key });
    expect(h.emulator.state.idempotency.has(stripeKey)).toBe(true);

    const order = await getOrder(created.body.orderId);
    expect(order.status).toBe(200);
    expect(order.body).toMatchObject({
      orderId: created.body.orderId,
      status: 'pending',
      currency: 'eur',
      amountTotal: 2500,
      amountRefunded: 0,
      checkoutSessionId: created.body.checkoutSessionId,
      paymentIntentId: null,
    });
    expect(Date.parse(order.body.createdAt)).not.toBeNaN();
  });

  it('replays the stored result for the same key and payload, without calling Stripe again', async () => {
    const key = newKey();
    const first = await post(key);
    const callsBefore = sessionCreateCalls();
    const again = await post(key);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(sessionCreateCalls()).toBe(callsBefore);
  });

  it('accepts the key as a quoted structured-field string, and UUID v7', async () => {
    const v4 = newKey();
    expect((await post(`"${v4}"`)).status).toBe(201);
    expect((await post(v4)).headers['idempotent-replayed']).toBe('true'); // same key, either spelling
    expect((await post('01932c07-a5b6-7c3e-8f00-123456789abc')).status).toBe(201);
  });

  it('answers 422 when the key is reused with another payload', async () => {
    const key = newKey();
    await post(key);
    const reused = await post(key, { ...body(), successUrl: 'https://shop.example/other' });
    expect(reused.status).toBe(422);
    expect(reused.headers['content-type']).toBe('application/problem+json');
    expect(reused.body.type).toBe(problemTypeUri('idempotencyKeyReused'));
  });

  it('scopes keys by tenant and user: the same key from someone else is a new checkout', async () => {
    const key = newKey();
    const created = [
      await post(key, body(), ALICE),
      await post(key, body(), claimsOf('acme', 'bob')),
      await post(key, body(), claimsOf('globex', 'alice')),
    ];
    expect(created.map((r) => r.status)).toEqual([201, 201, 201]);
    expect(new Set(created.map((r) => r.body.orderId)).size).toBe(3);
    expect(new Set(created.map((r) => r.body.checkoutSessionId)).size).toBe(3);
  });

  it.each([
    ['missing', undefined, 'idempotencyKeyMissing'],
    ['not a UUID', 'order-42', 'idempotencyKeyMalformed'],
    ['a UUID v1', 'c232ab00-9414-11ec-b3c8-9f6bdeced846', 'idempotencyKeyMalformed'],
    ['a list of keys', `${newKey()}, ${newKey()}`, 'idempotencyKeyMalformed'],
  ] as const)('answers 400 when the Idempotency-Key is %s, storing nothing', async (_, key, kind) => {
    const before = await countItems(h.db.client, TABLES.idempotency);
    const rejected = await post(key);
    expect(rejected.status).toBe(400);
    expect(rejected.body.type).toBe(problemTypeUri(kind));
    expect(await countItems(h.db.client, TABLES.idempotency)).toBe(before);
  });

  it('answers 400 with pointers for schema errors, before any idempotency record', async () => {
    const key = newKey();
    const before = await countItems(h.db.client, TABLES.idempotency);
    const rejected = await post(key, { lineItems: [{ price: 'prod_x', quantity: 0 }], successUrl: 'ftp://x', amount: 1 });
    expect(rejected.status).toBe(400);
    expect(rejected.body.type).toBe(problemTypeUri('validation'));
    expect(rejected.body.errors.map((e: { pointer: string }) => e.pointer).sort()).toEqual(
      ['/amount', '/cancelUrl', '/lineItems/0/price', '/lineItems/0/quantity', '/successUrl'].sort(),
    );
    expect(await countItems(h.db.client, TABLES.idempotency)).toBe(before);
    // Not stored: the same key with a valid body is a first request, not a 422.
    expect((await post(key)).status).toBe(201);
  });

  it('answers 400 for a body that is not JSON and 401 without authorizer claims', async () => {
    expect((await post(newKey(), '{"lineItems": [')).body.type).toBe(problemTypeUri('malformedJson'));
    const anonymous = await call(checkout, { path: '/v1/checkouts', claims: null, headers: { 'Idempotency-Key': newKey() }, body: body() });
    expect(anonymous.status).toBe(401);
  });

  it('stores and replays a business rejection from Stripe (unknown price) as 422', async () => {
    const key = newKey();
    const payload = { ...body(), lineItems: [{ price: 'price_doesnotexist', quantity: 1 }] };
    const rejected = await post(key, payload);
    expect(rejected.status).toBe(422);
    expect(rejected.body).toMatchObject({ type: problemTypeUri('paymentRequestRejected'), stripeCode: 'resource_missing' });
    const calls = sessionCreateCalls();
    const replayed = await post(key, payload);
    expect(replayed).toMatchObject({ status: 422, body: rejected.body });
    expect(replayed.headers['idempotent-replayed']).toBe('true');
    expect(sessionCreateCalls()).toBe(calls);
  });

  it.each([
    ['error_500', 'paymentProviderUnavailable'],
    ['rate_limit_429', 'paymentProviderUnavailable'],
  ])('answers 503 + Retry-After when Stripe fails with %s, and the retry with the same key succeeds', async (kind, problem) => {
    const key = newKey();
    const created = sessionsCreated();
    await h.stripe.rawRequest('POST', '/v1/test_helpers/faults', { path: '/v1/checkout/sessions', kind, count: 1 });
    const failed = await post(key);
    expect(failed.status).toBe(503);
    expect(failed.headers['retry-after']).toMatch(/^\d+$/);
    expect(failed.body.type).toBe(problemTypeUri(problem as 'paymentProviderUnavailable'));
    const retried = await post(key);
    expect(retried.status).toBe(201);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    expect(sessionsCreated()).toBe(created + 1);
  });

  it('recovers the session Stripe created when its response was lost', async () => {
    const key = newKey();
    const created = sessionsCreated();
    // stripe-node retries a closed connection once by itself, so drop both answers.
    await h.stripe.rawRequest('POST', '/v1/test_helpers/faults', { path: '/v1/checkout/sessions', kind: 'drop_response', count: 2 });
    expect((await post(key)).status).toBe(503);
    expect(sessionsCreated()).toBe(created + 1); // Stripe did it; we never heard
    const retried = await post(key);
    expect(retried.status).toBe(201);
    expect(sessionsCreated()).toBe(created + 1); // the retry got Stripe's saved session back
    const order = await getOrder(retried.body.orderId);
    expect(order.body.checkoutSessionId).toBe(retried.body.checkoutSessionId);
  });

  it("absorbs a single lost response through the SDK's own retry with the same Stripe key", async () => {
    const created = sessionsCreated();
    await h.stripe.rawRequest('POST', '/v1/test_helpers/faults', { path: '/v1/checkout/sessions', kind: 'drop_response', count: 1 });
    expect((await post(newKey())).status).toBe(201);
    expect(sessionsCreated()).toBe(created + 1);
  });

  it('fails closed with 503 when DynamoDB is unreachable: Stripe is never called', async () => {
    const unreachable = new DynamoDBClient({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1', credentials: LOCAL_CREDENTIALS, maxAttempts: 1 });
    const calls = h.emulator.state.requests.length;
    const failed = await post(newKey(), body(), ALICE, checkoutWith(h.gateway, unreachable));
    expect(failed.status).toBe(503);
    expect(failed.headers['retry-after']).toBeDefined();
    expect(failed.body.type).toBe(problemTypeUri('storageUnavailable'));
    expect(h.emulator.state.requests.length).toBe(calls);
  });

  it('answers 503 when the order write fails after Stripe answered; the retry reuses the session', async () => {
    // A fault no local database produces on demand: the orders PutItem fails once.
    let failNextOrderPut = true;
    const flaky = h.db.newClient();
    flaky.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { TableName?: string };
        if (context.commandName === 'PutItemCommand' && input.TableName === TABLES.orders && failNextOrderPut) {
          failNextOrderPut = false;
          throw Object.assign(new Error('Throughput exceeds the current capacity'), { name: 'ThrottlingException', $metadata: {} });
        }
        return next(args);
      },
      { step: 'initialize', name: 'failOrderPut' },
    );
    const handler = checkoutWith(h.gateway, flaky);
    const key = newKey();
    const created = sessionsCreated();
    const failed = await post(key, body(), ALICE, handler);
    expect(failed.status).toBe(503);
    const retried = await post(key, body(), ALICE, handler);
    expect(retried.status).toBe(201);
    expect(sessionsCreated()).toBe(created + 1);
    flaky.destroy();
  });

  it('answers 409 + Retry-After to a duplicate: 1 s while the lock is young, then the lock\'s remaining life (at most 10 s)', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered = 0;
    const slow: PaymentGateway = overriding(h.gateway, {
      createCheckoutSession: async (input, stripeKey) => {
        entered++;
        await gate;
        return h.gateway.createCheckoutSession(input, stripeKey);
      },
    });
    const handler = checkoutWith(slow);
    const created = sessionsCreated();
    // Two first requests still running: one invocation has 8 s left, the other 60 s.
    const [shortKey, longKey] = [newKey(), newKey()];
    const short = call(handler, { path: '/v1/checkouts', headers: { 'Idempotency-Key': shortKey }, body: body(), context: lambdaContext('slow', 8000) });
    const long = call(handler, { path: '/v1/checkouts', headers: { 'Idempotency-Key': longKey }, body: body(), context: lambdaContext('slow', 60_000) });
    await waitFor(() => entered === 2);
    // A double click: the lock is young, its request is about to finish.
    const duplicate = await post(shortKey, body(), ALICE, handler);
    expect(duplicate.status).toBe(409);
    expect(duplicate.headers['retry-after']).toBe('1');
    expect(duplicate.body.type).toBe(problemTypeUri('idempotencyRequestInProgress'));
    // Older locks may belong to a crashed invocation: wait what is left of them, never over 10 s.
    // The clock moves 4 s on instead of the test sleeping, so a slow machine cannot change the
    // answer (the lock's age is known to ±0.5 s: Powertools rounds its TTL to the second).
    const realNow = Date.now.bind(Date);
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + 4000);
    try {
      const shortRetry = Number((await post(shortKey, body(), ALICE, handler)).headers['retry-after']);
      expect(shortRetry).toBeGreaterThanOrEqual(2); // not the young-lock 1 s
      expect(shortRetry).toBeLessThanOrEqual(4); // at most the 8 s invocation's remaining life
      expect((await post(longKey, body(), ALICE, handler)).headers['retry-after']).toBe('10');
    } finally {
      clock.mockRestore();
    }
    release();
    expect((await short).status).toBe(201);
    expect((await long).status).toBe(201);
    expect(sessionsCreated()).toBe(created + 2);
  });

  it('50 concurrent identical requests create exactly one session and one order', async () => {
    const key = newKey();
    const sessionsBefore = sessionsCreated();
    const ordersBefore = await countItems(h.db.client, TABLES.orders);
    const responses = await Promise.all(Array.from({ length: 50 }, () => post(key)));

    expect(sessionsCreated()).toBe(sessionsBefore + 1);
    expect(await countItems(h.db.client, TABLES.orders)).toBe(ordersBefore + 1);
    const successes = responses.filter((r) => r.status === 201);
    const conflicts = responses.filter((r) => r.status === 409);
    expect(successes.length + conflicts.length).toBe(50);
    expect(successes.filter((r) => r.headers['idempotent-replayed'] === undefined)).toHaveLength(1);
    expect(new Set(successes.map((r) => r.body.checkoutSessionId)).size).toBe(1);
    conflicts.forEach((r) => expect(r.headers['retry-after']).toBeDefined());
  });

  it('after a crash between Stripe and our records, the retry returns the same session', async () => {
    // The first invocation "dies" once Stripe has answered: its promise never settles, its
    // idempotency record stays INPROGRESS until the invocation's deadline passes.
    let crashed = false;
    const dying: PaymentGateway = overriding(h.gateway, {
      createCheckoutSession: async (input, stripeKey) => {
        const session = await h.gateway.createCheckoutSession(input, stripeKey);
        if (!crashed) {
          crashed = true;
          await new Promise(() => undefined);
        }
        return session;
      },
      createRefund: (input, stripeKey) => h.gateway.createRefund(input, stripeKey),
    });
    const handler = checkoutWith(dying);
    const key = newKey();
    const created = sessionsCreated();
    const invocationMs = 300;
    void call(handler, { path: '/v1/checkouts', headers: { 'Idempotency-Key': key }, body: body(), context: lambdaContext('dying', invocationMs) });
    await waitFor(() => crashed);
    const stripeSessionId = [...h.emulator.state.sessions.values()].at(-1)!.id;

    expect((await post(key, body(), ALICE, handler)).status).toBe(409); // still inside the window
    await new Promise((resolve) => setTimeout(resolve, invocationMs + 100));
    const retried = await post(key, body(), ALICE, handler);
    expect(retried.status).toBe(201);
    expect(retried.body.checkoutSessionId).toBe(stripeSessionId);
    expect(sessionsCreated()).toBe(created + 1);
  });
});

describe('GET /v1/orders/{orderId}', () => {
  it("answers another tenant's order exactly like a missing one", async () => {
    const { body: created } = await post(newKey());
    const foreign = await getOrder(created.orderId, claimsOf('globex', 'mallory'));
    const missing = await getOrder('ord_00000000000000000000000000000000');
    const garbage = await getOrder('../../etc/passwd');
    expect(foreign.status).toBe(404);
    expect(foreign.body).toEqual(missing.body);
    expect(garbage.body).toEqual(missing.body);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
