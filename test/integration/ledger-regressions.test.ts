import { DeleteItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { createCheckoutHandler } from '../../lambdas/checkout/create-checkout-handler';
import { orderView } from '../../lambdas/domain/ledger';
import { createEventProcessor } from '../../lambdas/events/create-event-processor';
import { createRecovery } from '../../lambdas/recovery/create-recovery';
import { createRefundsHandler } from '../../lambdas/refunds/create-refunds-handler';
import { DynamoDbOrderStore } from '../../lambdas/shared/order-store';
import { problemTypeUri } from '../../lambdas/shared/problem';
import { lambdaContext } from '../../local/lambda-context';
import { call, countItems, createPrice, newKey, startHarness, TABLES, type Harness } from '../support/harness';
import { sqsEvent } from '../support/orders';
import { paidOrder } from '../support/paid-order';

/**
 * One regression test per finding of the issue-12 audit that concerns our own API calls
 * (findings 1, 3, 5, 8 and 9 are in event-processor.test.ts and webhooks.test.ts). Each counts
 * what Stripe holds, not only what we answered.
 */
let h: Harness;
let store: DynamoDbOrderStore;
const deps = () => ({ dynamoDb: h.db.client, ordersTableName: TABLES.orders, idempotencyTableName: TABLES.idempotency, gateway: h.gateway });
let refunds: ReturnType<typeof createRefundsHandler>;
let checkout: ReturnType<typeof createCheckoutHandler>;

beforeAll(async () => {
  h = await startHarness();
  store = new DynamoDbOrderStore(h.db.client, TABLES.orders);
  refunds = createRefundsHandler(deps());
  checkout = createCheckoutHandler(deps());
});
afterAll(() => h.close());

const postRefund = (key: string, payload: unknown) => call(refunds, { path: '/v1/refunds', headers: { 'Idempotency-Key': key }, body: payload });
const stripeRefundsOf = async (paymentIntentId: string) => (await h.stripe.refunds.list({ payment_intent: paymentIntentId, limit: 100 })).data;
const fault = (path: string, kind: 'error_500' | 'drop_response', count: number) =>
  h.stripe.rawRequest('POST', '/v1/test_helpers/faults', { path, method: 'POST', kind, count });
/** Every answer to the next request is lost (the SDK retries closed connections itself), then the line is clear again. */
async function losingEveryAnswer<T>(path: string, request: () => Promise<T>): Promise<T> {
  await fault(path, 'drop_response', 10);
  try {
    return await request();
  } finally {
    await h.stripe.rawRequest('DELETE', '/v1/test_helpers/faults', {});
  }
}
/** Stripe prunes idempotency keys once they are 24 h old: here, all of them now. */
const pruneStripeKeys = () => h.emulator.state.idempotency.clear();
/** Our idempotency records expire (TTL) too: here, all of them now. */
async function expireOurRecords() {
  const { Items = [] } = await h.db.client.send(new ScanCommand({ TableName: TABLES.idempotency }));
  for (const item of Items) await h.db.client.send(new DeleteItemCommand({ TableName: TABLES.idempotency, Key: { id: item.id } }));
}
/** The recovery function as scheduled, with no grace period (every reservation is old enough). */
const recover = () => createRecovery({ dynamoDb: h.db.client, ordersTableName: TABLES.orders, gateway: h.gateway, graceSeconds: 0 })();

describe('refunds whose outcome was unknown', () => {
  // Finding 2: one request, every response lost, Stripe's key pruned, the client resumes.
  it('never refunds twice when the retry comes after Stripe pruned the key', async () => {
    const order = await paidOrder(h, 1000);
    const key = newKey();
    expect((await losingEveryAnswer('/v1/refunds', () => postRefund(key, { orderId: order.orderId, amount: 300 }))).status).toBe(503);
    expect(await stripeRefundsOf(order.paymentIntentId!)).toHaveLength(1);
    pruneStripeKeys();

    const resumed = await postRefund(key, { orderId: order.orderId, amount: 300 });
    expect(resumed).toMatchObject({ status: 201, body: { amount: 300, status: 'succeeded' } });
    expect(await stripeRefundsOf(order.paymentIntentId!)).toHaveLength(1);
    expect(orderView((await store.getOrder(order.orderId))!)).toMatchObject({ amountRefunded: 300, amountRefundPending: 0, amountRefundable: 700 });
  });

  // Finding 4: after a Stripe 5xx the order said "refunded" and only the original client could heal it.
  it('shows an unknown outcome as pending, and the recovery function settles it without the client', async () => {
    const order = await paidOrder(h, 1000);
    await fault('/v1/refunds', 'error_500', 1); // refused before executing: no refund at Stripe
    expect((await postRefund(newKey(), { orderId: order.orderId, amount: 400 })).status).toBe(503);
    expect(orderView((await store.getOrder(order.orderId))!)).toMatchObject({ status: 'paid', amountRefunded: 0, amountRefundPending: 400, amountRefundable: 600 });

    expect((await losingEveryAnswer('/v1/refunds', () => postRefund(newKey(), { orderId: order.orderId, amount: 250 }))).status).toBe(503);
    expect(orderView((await store.getOrder(order.orderId))!)).toMatchObject({ amountRefunded: 0, amountRefundPending: 650, amountRefundable: 350 });

    const report = await recover();
    expect(report).toMatchObject({ reservationsReleased: 1, reservationsRecorded: 1, stoppedEarly: false });
    const after = (await store.getOrder(order.orderId))!;
    expect(orderView(after)).toMatchObject({ status: 'partially_refunded', amountRefunded: 250, amountRefundPending: 0, amountRefundable: 750 });
    expect(after.recoveryDue).toBeUndefined(); // off the work list
    expect(await stripeRefundsOf(order.paymentIntentId!)).toHaveLength(1);
    expect(await recover()).toMatchObject({ reservationsReleased: 0, reservationsRecorded: 0 }); // nothing left
  });

  it('a client retry and the recovery function racing never send the refund twice', async () => {
    const order = await paidOrder(h, 1000);
    const key = newKey();
    expect((await losingEveryAnswer('/v1/refunds', () => postRefund(key, { orderId: order.orderId, amount: 100 }))).status).toBe(503);
    pruneStripeKeys();
    const [retry] = await Promise.all([postRefund(key, { orderId: order.orderId, amount: 100 }), recover(), recover()]);
    expect([201, 409]).toContain(retry.status);
    expect(await stripeRefundsOf(order.paymentIntentId!)).toHaveLength(1);
    expect(orderView((await store.getOrder(order.orderId))!)).toMatchObject({ amountRefunded: 100, amountRefundPending: 0 });
  });
});

describe('a key reused after our idempotency record expired', () => {
  // Finding 6 (refunds): answered 201 with the old refund for another amount.
  it('refuses another refund body with 422 before calling Stripe, and the original still completes', async () => {
    const order = await paidOrder(h, 1000);
    const key = newKey();
    expect((await losingEveryAnswer('/v1/refunds', () => postRefund(key, { orderId: order.orderId, amount: 300 }))).status).toBe(503);
    await expireOurRecords();
    const stripeCalls = h.emulator.state.requests.filter((r) => r.path === '/v1/refunds').length;
    const other = await postRefund(key, { orderId: order.orderId, amount: 500 });
    expect(other).toMatchObject({ status: 422, body: { type: problemTypeUri('idempotencyKeyReused') } });
    expect(h.emulator.state.requests.filter((r) => r.path === '/v1/refunds').length).toBe(stripeCalls);
    expect((await postRefund(key, { orderId: order.orderId, amount: 300 })).status).toBe(201);
    expect(await stripeRefundsOf(order.paymentIntentId!)).toHaveLength(1);
  });

  // Audit: the same key for another order, after the first answer was lost and our record deleted.
  it('refuses the same key for another order with 422 before calling Stripe, and the original still completes', async () => {
    const [a, b] = [await paidOrder(h, 1000), await paidOrder(h, 1000)];
    const key = newKey();
    expect((await losingEveryAnswer('/v1/refunds', () => postRefund(key, { orderId: a.orderId, amount: 300 }))).status).toBe(503);
    await expireOurRecords();
    const stripeCalls = h.emulator.state.requests.filter((r) => r.path === '/v1/refunds').length;
    expect(await postRefund(key, { orderId: b.orderId, amount: 300 })).toMatchObject({ status: 422, body: { type: problemTypeUri('idempotencyKeyReused') } });
    expect(h.emulator.state.requests.filter((r) => r.path === '/v1/refunds').length).toBe(stripeCalls);
    expect(orderView((await store.getOrder(b.orderId))!)).toMatchObject({ amountRefundPending: 0, amountRefundable: 1000 });
    pruneStripeKeys();
    expect((await postRefund(key, { orderId: a.orderId, amount: 300 })).status).toBe(201);
    expect(await stripeRefundsOf(a.paymentIntentId!)).toHaveLength(1);
    expect(await stripeRefundsOf(b.paymentIntentId!)).toHaveLength(0);
  });

  // Finding 6 (checkout): returned the old order and left a second open session naming it.
  it('refuses another checkout body with 422 and creates no second session', async () => {
    const price = await createPrice(h.stripe, 700);
    const key = newKey();
    const request = (quantity: number) => ({ lineItems: [{ price, quantity }], successUrl: 'https://shop.example/ok', cancelUrl: 'https://shop.example/no' });
    const first = await call(checkout, { path: '/v1/checkouts', headers: { 'Idempotency-Key': key }, body: request(1) });
    expect(first.status).toBe(201);
    await expireOurRecords();
    const sessions = h.emulator.state.sessions.size;
    const other = await call(checkout, { path: '/v1/checkouts', headers: { 'Idempotency-Key': key }, body: request(2) });
    expect(other).toMatchObject({ status: 422, body: { type: problemTypeUri('idempotencyKeyReused') } });
    expect(JSON.stringify(other.body)).not.toMatch(/checkout-v1-/); // never our internal Stripe key
    expect(h.emulator.state.sessions.size).toBe(sessions);
    const same = await call(checkout, { path: '/v1/checkouts', headers: { 'Idempotency-Key': key }, body: request(1) });
    expect(same).toMatchObject({ status: 201, body: { orderId: first.body.orderId, checkoutSessionId: first.body.checkoutSessionId } });
    expect(h.emulator.state.sessions.size).toBe(sessions);
  });

  // Issue 19's checkout case: Stripe created the session, our answer was lost, the key comes back with another body.
  it('answers a Stripe idempotency_error as 422 key reused, unstored, without Stripe\'s message', async () => {
    const price = await createPrice(h.stripe, 900);
    const key = newKey();
    const request = (quantity: number) => ({ lineItems: [{ price, quantity }], successUrl: 'https://shop.example/ok', cancelUrl: 'https://shop.example/no' });
    expect((await losingEveryAnswer('/v1/checkout/sessions', () => call(checkout, { path: '/v1/checkouts', headers: { 'Idempotency-Key': key }, body: request(1) }))).status).toBe(503);
    const other = await call(checkout, { path: '/v1/checkouts', headers: { 'Idempotency-Key': key }, body: request(2) });
    expect(other).toMatchObject({ status: 422, body: { type: problemTypeUri('idempotencyKeyReused') } });
    expect(JSON.stringify(other.body)).not.toMatch(/checkout-v1-|idempotent requests/);
    const original = await call(checkout, { path: '/v1/checkouts', headers: { 'Idempotency-Key': key }, body: request(1) });
    expect(original.status).toBe(201);
    expect(await countItems(h.db.client, TABLES.orders)).toBeGreaterThan(0);
  });
});

describe('disputes', () => {
  const deliverEventsOf = async (action: () => Promise<unknown>) => {
    const before = h.emulator.state.events.length;
    await action();
    const processor = createEventProcessor({ ...deps(), stripe: h.gateway });
    const { batchItemFailures } = await processor(sqsEvent(h.emulator.state.events.slice(before).map((e) => JSON.stringify(e))), lambdaContext('events'));
    expect(batchItemFailures).toEqual([]);
  };

  it('answers 409 order-disputed when Stripe refuses with charge_disputed before the dispute event arrived, and holds nothing', async () => {
    const order = await paidOrder(h, 1000);
    await h.stripe.rawRequest('POST', `/v1/test_helpers/payment_intents/${order.paymentIntentId}/dispute`, {}); // its events not delivered
    const refused = await postRefund(newKey(), { orderId: order.orderId, amount: 100 });
    expect(refused).toMatchObject({ status: 409, body: { type: problemTypeUri('orderDisputed') } });
    expect(await stripeRefundsOf(order.paymentIntentId!)).toHaveLength(0);
    expect(orderView((await store.getOrder(order.orderId))!)).toMatchObject({ amountRefundPending: 0, amountRefundable: 1000 });
  });

  it('a lost dispute, learnt from its events, leaves nothing refundable; a won one gives the balance back', async () => {
    const [lost, won] = [await paidOrder(h, 1000), await paidOrder(h, 1000)];
    for (const [order, outcome] of [[lost, 'lost'], [won, 'won']] as const) {
      let disputeId = '';
      await deliverEventsOf(async () => {
        disputeId = ((await h.stripe.rawRequest('POST', `/v1/test_helpers/payment_intents/${order.paymentIntentId}/dispute`, {})) as unknown as { id: string }).id;
      });
      await deliverEventsOf(() => h.stripe.rawRequest('POST', `/v1/test_helpers/disputes/${disputeId}/close`, { outcome }));
    }
    expect(orderView((await store.getOrder(lost.orderId))!)).toMatchObject({ amountRefundable: 0, disputes: [expect.objectContaining({ outcome: 'lost' })] });
    expect(await postRefund(newKey(), { orderId: lost.orderId, amount: 100 })).toMatchObject({ status: 409, body: { type: problemTypeUri('orderNotRefundable') } });
    expect(orderView((await store.getOrder(won.orderId))!)).toMatchObject({ amountRefundable: 1000, disputes: [expect.objectContaining({ outcome: 'won' })] });
    expect((await postRefund(newKey(), { orderId: won.orderId, amount: 100 })).status).toBe(201);
    expect(await stripeRefundsOf(lost.paymentIntentId!)).toHaveLength(0);
  });

  // Finding 7: a refund of a disputed payment was accepted.
  it('refuses refunds while a dispute is open, before calling Stripe', async () => {
    const order = await paidOrder(h, 1000);
    const before = h.emulator.state.events.length;
    await h.stripe.rawRequest('POST', `/v1/test_helpers/payment_intents/${order.paymentIntentId}/dispute`, {});
    const events = h.emulator.state.events.slice(before);
    const processor = createEventProcessor({ ...deps(), stripe: h.gateway });
    expect((await processor(sqsEvent(events.map((e) => JSON.stringify(e))), lambdaContext('events'))).batchItemFailures).toEqual([]);
    const refused = await postRefund(newKey(), { orderId: order.orderId, amount: 100 });
    expect(refused).toMatchObject({ status: 409, body: { type: problemTypeUri('orderDisputed') } });
    expect(await stripeRefundsOf(order.paymentIntentId!)).toHaveLength(0);
    expect(orderView((await store.getOrder(order.orderId))!).disputes).toEqual([expect.objectContaining({ outcome: 'open', amount: 1000 })]);
  });
});

