import { orderView } from '../../lambdas/domain/ledger';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { createCheckoutHandler } from '../../lambdas/checkout/create-checkout-handler';
import { derivedId } from '../../lambdas/domain/idempotency-scope';
import type { PaymentGateway } from '../../lambdas/domain/ports';
import { createRefundsHandler } from '../../lambdas/refunds/create-refunds-handler';
import type { PaymentRouteDeps } from '../../lambdas/shared/idempotent-step';
import { DynamoDbOrderStore } from '../../lambdas/shared/order-store';
import { problemTypeUri } from '../../lambdas/shared/problem';
import { PaymentsClient } from '../../client/payments-client';
import { LocalApiGateway, type ProxyHandler } from '../../local/api-gateway';
import { localToken } from '../../local/token';
import { die, faultyDynamoDb, type DynamoDbFault } from '../support/faults';
import { call, countItems, createPrice, newKey, startHarness, TABLES, type Harness, overriding } from '../support/harness';
import { paidOrder } from '../support/paid-order';
import { contractCheckedFetch } from '../support/http-client';

/**
 * Each crash point in turn, for checkout and for refunds, then a client that retries the way a
 * real one does (same key, Retry-After, backoff on timeouts). For every point: one Stripe
 * object, one record, balances right, and the final answer a clean run would have given.
 */
let h: Harness;
let store: DynamoDbOrderStore;
let priceId: string;

beforeAll(async () => {
  h = await startHarness();
  store = new DynamoDbOrderStore(h.db.client, TABLES.orders);
  priceId = await createPrice(h.stripe, 4200);
});
afterAll(() => h.close());

type CrashPoint = 'none' | 'before Stripe' | 'after Stripe, before our record' | 'after our record, before the idempotency record' | 'Stripe did it, the response was lost' | 'after completion, before the client heard';

/** A gateway whose first call of `method` dies before or after really calling Stripe. */
function dyingGateway(method: keyof PaymentGateway, when: 'before' | 'after'): PaymentGateway {
  let armed = true;
  const wrap = <A extends unknown[], R>(name: keyof PaymentGateway, real: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const dies = armed && name === method;
      if (dies) armed = false;
      if (dies && when === 'before') return die();
      const answer = await real(...args);
      if (dies) return die();
      return answer;
    };
  return overriding(h.gateway, {
    createCheckoutSession: wrap('createCheckoutSession', (input, key) => h.gateway.createCheckoutSession(input, key)),
    createRefund: wrap('createRefund', (input, key) => h.gateway.createRefund(input, key)),
  });
}

/** The real handler factory, wired to the local database and the emulator, with the given faults. */
const withFaults =
  <H>(create: (deps: PaymentRouteDeps) => H) =>
  (faults: { gateway?: PaymentGateway; dynamoDbFault?: DynamoDbFault } = {}) =>
    create({
      dynamoDb: faults.dynamoDbFault ? faultyDynamoDb(h.db, faults.dynamoDbFault) : h.db.client,
      ordersTableName: TABLES.orders,
      idempotencyTableName: TABLES.idempotency,
      gateway: faults.gateway ?? h.gateway,
    });

/**
 * Serves one faulty handler behind the local API Gateway, each invocation with a 400 ms deadline,
 * and hands back the real client pointed at it: same key per operation, Retry-After honoured,
 * a 600 ms per-attempt timeout (a dead server never answers), backoff with jitter.
 */
async function clientFor(route: 'checkout' | 'refunds', handler: ProxyHandler) {
  const gateway = new LocalApiGateway(400);
  const baseUrl = await gateway.listen(0);
  gateway.use({ [route]: handler });
  gateways.push(gateway);
  return new PaymentsClient({ baseUrl, fetch: contractCheckedFetch, token: () => localToken('acme', 'alice'), attemptTimeoutMs: 600, baseDelayMs: 100, maxDelayMs: 400, maxElapsedMs: 20_000 });
}
const gateways: LocalApiGateway[] = [];
afterAll(() => Promise.all(gateways.map((g) => g.close())));

async function dropStripeResponses(path: string) {
  // stripe-node retries a closed connection once by itself: drop both answers.
  await h.stripe.rawRequest('POST', '/v1/test_helpers/faults', { path, method: 'POST', kind: 'drop_response', count: 2 });
}

describe('checkout', () => {
  const body = () => ({ lineItems: [{ price: priceId, quantity: 1 }], successUrl: 'https://shop.example/ok', cancelUrl: 'https://shop.example/no' });
  const handlerWith = withFaults(createCheckoutHandler);

  const arm: Record<CrashPoint, () => Promise<ReturnType<typeof handlerWith>>> = {
    none: async () => handlerWith(),
    'before Stripe': async () => handlerWith({ gateway: dyingGateway('createCheckoutSession', 'before') }),
    'after Stripe, before our record': async () => handlerWith({ gateway: dyingGateway('createCheckoutSession', 'after') }),
    'after our record, before the idempotency record': async () => handlerWith({ dynamoDbFault: { command: 'PutItemCommand', table: TABLES.orders, effect: 'die-after' } }),
    'Stripe did it, the response was lost': async () => {
      await dropStripeResponses('/v1/checkout/sessions');
      return handlerWith();
    },
    'after completion, before the client heard': async () =>
      handlerWith({ dynamoDbFault: { command: 'UpdateItemCommand', table: TABLES.idempotency, updateContains: '#response_data', effect: 'die-after' } }),
  };

  it.each(Object.keys(arm) as CrashPoint[])('crash %s: one session, one order, the clean answer', async (point) => {
    const client = await clientFor('checkout', await arm[point]());
    const ordersBefore = await countItems(h.db.client, TABLES.orders);

    const { data, attempts, idempotencyKey } = await client.createCheckout(body(), { operationId: `checkout ${point}` });

    const orderId = derivedId('checkout', { tenantId: 'acme', userId: 'alice', key: idempotencyKey! });
    const sessions = [...h.emulator.state.sessions.values()].filter((s) => s.client_reference_id === orderId);
    expect(sessions).toHaveLength(1);
    expect(await countItems(h.db.client, TABLES.orders)).toBe(ordersBefore + 1);
    expect(data).toEqual({ orderId, status: 'pending', checkoutSessionId: sessions[0].id, checkoutUrl: sessions[0].url });
    expect((await store.getOrder(orderId))?.checkoutSessionId).toBe(sessions[0].id);
    // The fault really happened: the client needed more than one attempt (except the control run).
    expect(attempts > 1).toBe(point !== 'none');
  }, 30_000);

  it('DynamoDB throttling the lock answers 503 and never reaches Stripe', async () => {
    const handler = handlerWith({ dynamoDbFault: { command: 'PutItemCommand', table: TABLES.idempotency, effect: 'throttle' } });
    const calls = h.emulator.state.requests.length;
    const key = newKey();
    const failed = await call(handler, { path: '/v1/checkouts', headers: { 'Idempotency-Key': key }, body: body() });
    expect(failed).toMatchObject({ status: 503, body: { type: problemTypeUri('storageUnavailable') } });
    expect(h.emulator.state.requests.length).toBe(calls);
    expect(await store.getOrder(derivedId('checkout', { tenantId: 'acme', userId: 'alice', key }))).toBeUndefined();
  });

  it('DynamoDB throttling the order write answers 503 and leaves no record behind: the key is free', async () => {
    const handler = handlerWith({ dynamoDbFault: { command: 'PutItemCommand', table: TABLES.orders, effect: 'throttle' } });
    const key = newKey();
    const recordsBefore = await countItems(h.db.client, TABLES.idempotency);
    const failed = await call(handler, { path: '/v1/checkouts', headers: { 'Idempotency-Key': key }, body: body() });
    expect(failed.status).toBe(503);
    expect(failed.headers['retry-after']).toBeDefined();
    expect(await countItems(h.db.client, TABLES.idempotency)).toBe(recordsBefore); // the lock was released
    expect(await store.getOrder(derivedId('checkout', { tenantId: 'acme', userId: 'alice', key }))).toBeUndefined();
    expect((await call(handler, { path: '/v1/checkouts', headers: { 'Idempotency-Key': key }, body: body() })).status).toBe(201);
  });
});

describe('refunds', () => {
  const handlerWith = withFaults(createRefundsHandler);

  const arm: Record<CrashPoint, () => Promise<ReturnType<typeof handlerWith>>> = {
    none: async () => handlerWith(),
    'before Stripe': async () => handlerWith({ gateway: dyingGateway('createRefund', 'before') }),
    'after Stripe, before our record': async () => handlerWith({ gateway: dyingGateway('createRefund', 'after') }),
    'after our record, before the idempotency record': async () =>
      handlerWith({ dynamoDbFault: { command: 'PutItemCommand', table: TABLES.orders, putWithEntriesIn: 'refunds', effect: 'die-after' } }),
    'Stripe did it, the response was lost': async () => {
      await dropStripeResponses('/v1/refunds');
      return handlerWith();
    },
    'after completion, before the client heard': async () =>
      handlerWith({ dynamoDbFault: { command: 'UpdateItemCommand', table: TABLES.idempotency, updateContains: '#response_data', effect: 'die-after' } }),
  };

  it.each(Object.keys(arm) as CrashPoint[])('crash %s: one Stripe refund, one record, the balance counted once', async (point) => {
    const order = await paidOrder(h, 1000);
    const client = await clientFor('refunds', await arm[point]());

    const { data, attempts, idempotencyKey } = await client.createRefund({ orderId: order.orderId, amount: 350 }, { operationId: `refund ${point}` });

    const refundId = derivedId('refund', { tenantId: 'acme', userId: 'alice', key: idempotencyKey! });
    const stripeRefunds = (await h.stripe.refunds.list({ payment_intent: order.paymentIntentId!, limit: 100 })).data;
    expect(stripeRefunds).toHaveLength(1);
    const after = (await store.getOrder(order.orderId))!;
    expect(Object.keys(after.reservations)).toEqual([refundId]);
    expect(after.reservations[refundId]).toMatchObject({ amount: 350, stripeRefundId: stripeRefunds[0].id });
    expect(Object.values(after.refunds)).toEqual([expect.objectContaining({ stripeRefundId: stripeRefunds[0].id, amount: 350, status: 'succeeded', refundId })]);
    expect(orderView(after!)).toMatchObject({ amountRefunded: 350, amountRefundable: 650 });
    expect(data).toEqual({ refundId, orderId: order.orderId, amount: 350, currency: 'eur', status: 'succeeded', stripeRefundId: stripeRefunds[0].id });
    expect(attempts > 1).toBe(point !== 'none');
  }, 30_000);

  it('DynamoDB throttling the reservation answers 503: no reservation, no Stripe refund', async () => {
    const order = await paidOrder(h, 1000);
    const handler = handlerWith({ dynamoDbFault: { command: 'PutItemCommand', table: TABLES.orders, putWithEntriesIn: 'reservations', effect: 'throttle' } });
    const failed = await call(handler, { path: '/v1/refunds', headers: { 'Idempotency-Key': newKey() }, body: { orderId: order.orderId, amount: 100 } });
    expect(failed).toMatchObject({ status: 503, body: { type: problemTypeUri('storageUnavailable') } });
    const after = (await store.getOrder(order.orderId))!;
    expect(orderView(after)).toMatchObject({ amountRefunded: 0, amountRefundPending: 0, amountRefundable: 1000, refunds: [] });
    expect(after.reservations).toEqual({});
    expect((await h.stripe.refunds.list({ payment_intent: order.paymentIntentId! })).data).toHaveLength(0);
  });
});

describe('afterwards', () => {
  it('every idempotency record is COMPLETED: each dead invocation was taken over and finished', async () => {
    const { Items = [] } = await h.db.client.send(new ScanCommand({ TableName: TABLES.idempotency }));
    expect(Items.length).toBeGreaterThan(0);
    expect(Items.filter((item) => item.status.S !== 'COMPLETED').map((item) => item.id.S)).toEqual([]);
  });
});
