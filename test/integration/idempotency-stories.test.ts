import { createCheckoutHandler } from '../../lambdas/checkout/create-checkout-handler';
import { derivedId, stripeIdempotencyKey } from '../../lambdas/domain/idempotency-scope';
import { orderView } from '../../lambdas/domain/ledger';
import { createRefundsHandler } from '../../lambdas/refunds/create-refunds-handler';
import { DynamoDbOrderStore } from '../../lambdas/shared/order-store';
import { problemTypeUri } from '../../lambdas/shared/problem';
import { ALICE, call, countItems, createPrice, newKey, startHarness, TABLES, type Harness } from '../support/harness';
import { paidOrder } from '../support/paid-order';

/**
 * Issue 19's two stories, end to end on the handlers, counting what Stripe and our tables hold
 * at every step (ledger-regressions.test.ts covers the same key after our record *expired*; here
 * it is the record Powertools deleted after the error, the exact sequence the issue reports).
 */
let h: Harness;
let store: DynamoDbOrderStore;
let refunds: ReturnType<typeof createRefundsHandler>;
let checkout: ReturnType<typeof createCheckoutHandler>;

beforeAll(async () => {
  h = await startHarness();
  store = new DynamoDbOrderStore(h.db.client, TABLES.orders);
  const deps = { dynamoDb: h.db.client, ordersTableName: TABLES.orders, idempotencyTableName: TABLES.idempotency, gateway: h.gateway };
  refunds = createRefundsHandler(deps);
  checkout = createCheckoutHandler(deps);
});
afterAll(() => h.close());

const fault = (path: string, kind: 'drop_response', count: number) => h.stripe.rawRequest('POST', '/v1/test_helpers/faults', { path, method: 'POST', kind, count });
async function losingEveryAnswer<T>(path: string, request: () => Promise<T>): Promise<T> {
  await fault(path, 'drop_response', 10);
  try {
    return await request();
  } finally {
    await h.stripe.rawRequest('DELETE', '/v1/test_helpers/faults', {});
  }
}
const stripeRequestsTo = (path: string) => h.emulator.state.requests.filter((r) => r.method === 'POST' && r.path === path).length;
const idempotencyRecords = () => countItems(h.db.client, TABLES.idempotency);
const keyReused = { status: 422, body: { type: problemTypeUri('idempotencyKeyReused') } };

describe('refund: Stripe executed 300, every answer lost, the key comes back with 500', () => {
  it('refuses 500 with an unstored 422 before Stripe, then completes 300 with one Stripe refund', async () => {
    const order = await paidOrder(h, 1000);
    const key = newKey();
    const post = (amount: number) => call(refunds, { path: '/v1/refunds', headers: { 'Idempotency-Key': key }, body: { orderId: order.orderId, amount } });
    const stripeRefunds = async () => (await h.stripe.refunds.list({ payment_intent: order.paymentIntentId!, limit: 100 })).data;

    const lost = await losingEveryAnswer('/v1/refunds', () => post(300));
    expect(lost.status).toBe(503);
    expect(lost.headers['retry-after']).toBeDefined();
    expect((await stripeRefunds()).map((r) => r.amount)).toEqual([300]); // Stripe did refund
    expect(orderView((await store.getOrder(order.orderId))!)).toMatchObject({ amountRefunded: 0, amountRefundPending: 300, amountRefundable: 700 });

    const recordsBefore = await idempotencyRecords();
    const stripeCallsBefore = stripeRequestsTo('/v1/refunds');
    for (let attempt = 0; attempt < 2; attempt++) {
      const other = await post(500);
      expect(other).toMatchObject(keyReused);
      expect(other.headers['idempotent-replayed']).toBeUndefined(); // computed, not a stored answer
      expect(other.headers.link).toMatch(/\/problems\/idempotency-key-reused>; rel="describedby"$/);
    }
    expect(stripeRequestsTo('/v1/refunds')).toBe(stripeCallsBefore); // refused before Stripe
    expect(await idempotencyRecords()).toBe(recordsBefore); // nothing stored: the original can still finish

    const original = await post(300);
    expect(original).toMatchObject({ status: 201, body: { amount: 300, status: 'succeeded' } });
    expect(original.headers['idempotent-replayed']).toBeUndefined();
    expect((await stripeRefunds()).map((r) => r.amount)).toEqual([300]);
    expect(orderView((await store.getOrder(order.orderId))!)).toMatchObject({ amountRefunded: 300, amountRefundPending: 0, amountRefundable: 700 });

    // Now a stored success: replayed for 300, still refused for 500.
    expect((await post(300)).headers['idempotent-replayed']).toBe('true');
    expect(await post(500)).toMatchObject(keyReused);
    expect((await stripeRefunds())).toHaveLength(1);
  });
});

describe('checkout: Stripe created the session, the answer was lost, the key comes back with quantity 2', () => {
  const scope = { tenantId: ALICE['custom:tenant_id'], userId: ALICE.sub };
  const request = (price: string, quantity: number) => ({ lineItems: [{ price, quantity }], successUrl: 'https://shop.example/ok', cancelUrl: 'https://shop.example/no' });
  const sessionsOf = (orderId: string) => [...h.emulator.state.sessions.values()].filter((s) => (s.metadata as Record<string, string> | undefined)?.orderId === orderId);

  it('answers quantity 2 with an unstored 422 that names no internal key; the original still completes on the same session', async () => {
    const price = await createPrice(h.stripe, 900);
    const key = newKey();
    const orderId = derivedId('checkout', { ...scope, key });
    const post = (quantity: number) => call(checkout, { path: '/v1/checkouts', headers: { 'Idempotency-Key': key }, body: request(price, quantity) });

    expect((await losingEveryAnswer('/v1/checkout/sessions', () => post(1))).status).toBe(503);
    expect(sessionsOf(orderId)).toHaveLength(1); // Stripe created it
    expect(await store.getOrder(orderId)).toBeUndefined(); // we never learned of it
    const [orphan] = sessionsOf(orderId);

    const recordsBefore = await idempotencyRecords();
    const ordersBefore = await countItems(h.db.client, TABLES.orders);
    for (let attempt = 0; attempt < 2; attempt++) {
      const other = await post(2);
      expect(other).toMatchObject(keyReused);
      expect(other.headers['idempotent-replayed']).toBeUndefined();
      const text = JSON.stringify(other);
      expect(text).not.toContain(stripeIdempotencyKey('checkout', { ...scope, key })); // our Stripe key
      expect(text).not.toMatch(/checkout-v1-|idempotent requests|cs_test_|checkout\.stripe/); // nor Stripe's message, nor the orphan
    }
    expect(sessionsOf(orderId)).toHaveLength(1); // Stripe refused the key with other parameters: no second session
    expect(await idempotencyRecords()).toBe(recordsBefore); // the 422 is not stored
    expect(await countItems(h.db.client, TABLES.orders)).toBe(ordersBefore);

    const original = await post(1);
    expect(original).toMatchObject({ status: 201, body: { orderId, checkoutSessionId: orphan.id, status: 'pending' } }); // the orphan adopted
    expect(sessionsOf(orderId)).toHaveLength(1);
    expect(await countItems(h.db.client, TABLES.orders)).toBe(ordersBefore + 1);
    expect(await post(2)).toMatchObject(keyReused); // the order's fingerprint refuses it now, before Stripe
    expect(sessionsOf(orderId)).toHaveLength(1);
  });

  it('leaves an orphan only unreachable and expiring: its URL was never answered, Stripe expires it within 24 h', async () => {
    // Decision (documented in the report): if the original request never comes back, the session
    // Stripe created stays open until its expires_at; no answer of ours ever carried its URL, so
    // no customer can reach it, and the original key adopts it while it is open.
    const price = await createPrice(h.stripe, 950);
    const key = newKey();
    const orderId = derivedId('checkout', { ...scope, key });
    const post = (quantity: number) => call(checkout, { path: '/v1/checkouts', headers: { 'Idempotency-Key': key }, body: request(price, quantity) });
    const answers = [await losingEveryAnswer('/v1/checkout/sessions', () => post(1)), await post(2), await post(3)];
    expect(answers.map((a) => a.status)).toEqual([503, 422, 422]);
    const [orphan] = sessionsOf(orderId);
    expect(sessionsOf(orderId)).toHaveLength(1);
    for (const answer of answers) expect(JSON.stringify(answer)).not.toContain(orphan.id as string);
    expect((orphan.expires_at as number) - (orphan.created as number)).toBeLessThanOrEqual(24 * 3600);
    expect(await store.getOrder(orderId)).toBeUndefined();
  });
});
