import { isOutstanding } from '../../lambdas/domain/ledger';
import { PaymentProviderUnavailableError, PaymentRejectedError } from '../../lambdas/domain/errors';
import type { PaymentGateway } from '../../lambdas/domain/ports';
import { createRecovery } from '../../lambdas/recovery/create-recovery';
import { DynamoDbOrderStore } from '../../lambdas/shared/order-store';
import { createRefundsHandler } from '../../lambdas/refunds/create-refunds-handler';
import { call, newKey, overriding, startHarness, TABLES, type Harness } from '../support/harness';
import { checkoutOrder, paidOrder } from '../support/paid-order';

/**
 * The recovery function's pacing: a budget per run, and a work list shuffled every run, so
 * neither the budget nor Stripe's 429 can leave the same orders unchecked run after run.
 * Twelve pending orders: the six at the head of the index stay open at Stripe (due for ever,
 * until Stripe expires them), the six behind them expired at Stripe and wait to be synced.
 */
let h: Harness;
let store: DynamoDbOrderStore;
let stayOpen: string[];
let expiredAtStripe: string[];

beforeAll(async () => {
  h = await startHarness();
  store = new DynamoDbOrderStore(h.db.client, TABLES.orders);
  for (let i = 0; i < 12; i++) await checkoutOrder(h, 100 + i);
  const due = await store.ordersDueForRecovery();
  expect(due).toHaveLength(12);
  [stayOpen, expiredAtStripe] = [due.slice(0, 6), due.slice(6)];
  for (const orderId of expiredAtStripe) {
    await h.stripe.checkout.sessions.expire((await store.getOrder(orderId))!.checkoutSessionId);
  }
});
afterAll(() => h.close());

/** Stripe answers `perRun` session reads, then rate limits the rest of the run. */
function rateLimitedAfter(perRun: number) {
  let reads = 0;
  const gateway: PaymentGateway = overriding(h.gateway, {
    retrieveCheckoutSession: async (id) => {
      if (++reads > perRun) throw new PaymentProviderUnavailableError('Stripe rate limited the request (429)');
      return h.gateway.retrieveCheckoutSession(id);
    },
  });
  return { gateway, nextRun: () => (reads = 0) };
}

/** A seeded generator (mulberry32), so the shuffles are the same on every machine. */
function seeded(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const statuses = async (ids: string[]) => Promise.all(ids.map(async (id) => (await store.getOrder(id))!.paymentStatus));

it('checks at most maxChecksPerRun orders at Stripe and says how many it left for the next run', async () => {
  let reads = 0;
  const counting: PaymentGateway = overriding(h.gateway, { retrieveCheckoutSession: async (id) => (reads++, h.gateway.retrieveCheckoutSession(id)) });
  const report = await createRecovery({ dynamoDb: h.db.client, ordersTableName: TABLES.orders, gateway: counting, graceSeconds: 0, maxChecksPerRun: 4, random: () => 0.999999 })();
  expect(reads).toBe(4);
  expect(report).toMatchObject({ checked: 4, deferred: 8, stoppedEarly: false });
  // Identity order (random → 1): the four at the head of the index, all still open at Stripe.
  expect(report.sessionsSynced).toBe(0);
  expect(await statuses(expiredAtStripe)).toEqual(Array(6).fill('pending'));
});

it('a fixed work order starves the orders behind a 429: shuffled, every expired session is synced within a few runs', async () => {
  // What recovery did before it shuffled: the same head of the list every run.
  const fixed = rateLimitedAfter(3);
  const inFixedOrder = createRecovery({ dynamoDb: h.db.client, ordersTableName: TABLES.orders, gateway: fixed.gateway, graceSeconds: 0, random: () => 0.999999 });
  for (let run = 0; run < 10; run++) {
    fixed.nextRun();
    expect(await inFixedOrder()).toMatchObject({ checked: 3, stoppedEarly: true, sessionsSynced: 0 });
  }
  expect(await statuses(expiredAtStripe)).toEqual(Array(6).fill('pending'));

  const limited = rateLimitedAfter(3);
  const shuffledRecovery = createRecovery({ dynamoDb: h.db.client, ordersTableName: TABLES.orders, gateway: limited.gateway, graceSeconds: 0, random: seeded(7) });
  let runs = 0;
  while ((await store.ordersDueForRecovery()).length > stayOpen.length && runs < 20) {
    limited.nextRun();
    await shuffledRecovery();
    runs++;
  }
  expect(await statuses(expiredAtStripe)).toEqual(Array(6).fill('expired'));
  expect(await statuses(stayOpen)).toEqual(Array(6).fill('pending'));
  expect((await store.ordersDueForRecovery()).sort()).toEqual([...stayOpen].sort());
  expect(runs).toBeLessThan(20);
});

it('a check Stripe refuses for good (400) is counted and logged, and the run goes on with the other orders', async () => {
  const deps = { dynamoDb: h.db.client, ordersTableName: TABLES.orders, idempotencyTableName: TABLES.idempotency, gateway: h.gateway };
  const poisoned = await paidOrder(h, 1000);
  await h.stripe.rawRequest('POST', '/v1/test_helpers/faults', { path: '/v1/refunds', method: 'POST', kind: 'error_500', count: 1 });
  expect((await call(createRefundsHandler(deps), { path: '/v1/refunds', headers: { 'Idempotency-Key': newKey() }, body: { orderId: poisoned.orderId, amount: 300 } })).status).toBe(503);
  const expired: string[] = [];
  for (let i = 0; i < 3; i++) {
    const order = await checkoutOrder(h, 200 + i);
    await h.stripe.checkout.sessions.expire(order.checkoutSessionId);
    expired.push(order.orderId);
  }
  // Stripe no longer knows the payment intent (test data deleted, a key of another account).
  const refusing: PaymentGateway = overriding(h.gateway, {
    findRefunds: async (paymentIntentId, refundId) => {
      if (paymentIntentId === poisoned.paymentIntentId) throw new PaymentRejectedError(`No such payment_intent: '${paymentIntentId}'`, 'resource_missing');
      return h.gateway.findRefunds(paymentIntentId, refundId);
    },
  });
  // Reservations come first: before, the refusal ended every run there, and no session was ever synced.
  const report = await createRecovery({ dynamoDb: h.db.client, ordersTableName: TABLES.orders, gateway: refusing, graceSeconds: 0 })();
  expect(report).toMatchObject({ failed: 1, sessionsSynced: 3, reservationsReleased: 0, reservationsRecorded: 0, stoppedEarly: false });
  expect(await statuses(expired)).toEqual(['expired', 'expired', 'expired']);
  const reservations = Object.values((await store.getOrder(poisoned.orderId))!.reservations);
  expect(reservations).toHaveLength(1);
  expect(reservations[0]).toMatchObject({ amount: 300 });
  expect(isOutstanding(reservations[0]!)).toBe(true); // still held: the next run asks again
});
