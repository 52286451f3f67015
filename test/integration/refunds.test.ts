import { orderView } from '../../lambdas/domain/ledger';
import { GetItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { createCheckoutHandler } from '../../lambdas/checkout/create-checkout-handler';
import { createEventProcessor } from '../../lambdas/events/create-event-processor';
import type { PaymentGateway } from '../../lambdas/domain/ports';
import { createOrdersHandler } from '../../lambdas/orders/create-orders-handler';
import { createRefundsHandler } from '../../lambdas/refunds/create-refunds-handler';
import { DynamoDbOrderStore } from '../../lambdas/shared/order-store';
import { problemTypeUri } from '../../lambdas/shared/problem';
import { lambdaContext } from '../../local/lambda-context';
import { ALICE, call, claimsOf, countItems, createPrice, newKey, startHarness, TABLES, type Harness, overriding } from '../support/harness';
import { sqsEvent } from '../support/orders';
import { paidOrder as paidOrderOf } from '../support/paid-order';

let h: Harness;
let store: DynamoDbOrderStore;
let refunds: ReturnType<typeof createRefundsHandler>;
const REFUND_TTL_SECONDS = 3600;

const refundsWith = (gateway: PaymentGateway) =>
  createRefundsHandler({ dynamoDb: h.db.client, ordersTableName: TABLES.orders, idempotencyTableName: TABLES.idempotency, gateway, idempotencyTtlSeconds: REFUND_TTL_SECONDS });
const postRefund = (key: string | undefined, payload: unknown, claims = ALICE, handler = refunds) =>
  call(handler, { path: '/v1/refunds', claims, headers: key === undefined ? {} : { 'Idempotency-Key': key }, body: payload });
const stripeRefundsCreated = () => h.emulator.state.executedCreates.get('/v1/refunds') ?? 0;
const stripeRefundsOf = async (paymentIntentId: string) => (await h.stripe.refunds.list({ payment_intent: paymentIntentId, limit: 100 })).data;

const paidOrder = (amount: number) => paidOrderOf(h, amount);

beforeAll(async () => {
  h = await startHarness();
  store = new DynamoDbOrderStore(h.db.client, TABLES.orders);
  refunds = refundsWith(h.gateway);
});
afterAll(() => h.close());

describe('POST /v1/refunds', () => {
  it('refunds the whole balance by default and shows it on the order', async () => {
    const order = await paidOrder(1000);
    const refunded = await postRefund(newKey(), { orderId: order.orderId, reason: 'requested_by_customer' });
    expect(refunded.status).toBe(201);
    expect(refunded.body).toEqual({ refundId: expect.stringMatching(/^rfd_[0-9a-f]{32}$/), orderId: order.orderId, amount: 1000, currency: 'eur', status: 'succeeded', stripeRefundId: expect.stringMatching(/^re_/) });
    const [stripeRefund] = await stripeRefundsOf(order.paymentIntentId!);
    expect(stripeRefund).toMatchObject({ amount: 1000, reason: 'requested_by_customer', metadata: { orderId: order.orderId, refundId: refunded.body.refundId } });

    const orders = createOrdersHandler({ dynamoDb: h.db.client, ordersTableName: TABLES.orders });
    const view = await call(orders, { method: 'GET', path: `/v1/orders/${order.orderId}`, resource: '/v1/orders/{orderId}', pathParameters: { orderId: order.orderId } });
    expect(view.body).toMatchObject({ status: 'refunded', amountRefunded: 1000 });
    expect(view.body.refunds).toEqual([expect.objectContaining({ refundId: refunded.body.refundId, amount: 1000, status: 'succeeded', stripeRefundId: stripeRefund.id })]);
  });

  it('replays a completed refund for the same key, and answers 422 for another payload', async () => {
    const order = await paidOrder(1000);
    const key = newKey();
    const first = await postRefund(key, { orderId: order.orderId, amount: 100 });
    const created = stripeRefundsCreated();
    const replay = await postRefund(key, { orderId: order.orderId, amount: 100 });
    expect(replay).toMatchObject({ status: 201, body: first.body });
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect((await postRefund(key, { orderId: order.orderId, amount: 200 })).body.type).toBe(problemTypeUri('idempotencyKeyReused'));
    expect(stripeRefundsCreated()).toBe(created);
  });

  it('keeps each record for the configured time (TTL attribute in epoch seconds)', async () => {
    const order = await paidOrder(500);
    const before = Math.floor(Date.now() / 1000);
    await postRefund(newKey(), { orderId: order.orderId, amount: 100 });
    const { Items = [] } = await h.db.client.send(new ScanCommand({ TableName: TABLES.idempotency }));
    const refundRecords = Items.filter((item) => item.id.S!.startsWith('refund#'));
    expect(refundRecords.every((item) => item.status.S === 'COMPLETED')).toBe(true);
    const newest = Math.max(...refundRecords.map((item) => Number(item.expiration.N)));
    expect(newest).toBeGreaterThanOrEqual(before + REFUND_TTL_SECONDS);
    expect(newest).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + REFUND_TTL_SECONDS + 1);
  });

  it.each([
    ['an unknown order', () => ({ orderId: 'ord_00000000000000000000000000000000' }), ALICE, 404, 'notFound'],
    ["another tenant's order", (o: { orderId: string }) => ({ orderId: o.orderId }), claimsOf('globex', 'mallory'), 404, 'notFound'],
    ['a zero amount', (o: { orderId: string }) => ({ orderId: o.orderId, amount: 0 }), ALICE, 422, 'refundAmountInvalid'],
    ['a negative amount', (o: { orderId: string }) => ({ orderId: o.orderId, amount: -5 }), ALICE, 422, 'refundAmountInvalid'],
    ['more than was paid', (o: { orderId: string }) => ({ orderId: o.orderId, amount: 1001 }), ALICE, 422, 'refundExceedsBalance'],
  ] as const)('stores and replays the answer for %s', async (_, payload, claims, status, kind) => {
    const order = await paidOrder(1000);
    const key = newKey();
    const first = await postRefund(key, payload(order), claims);
    expect(first.status).toBe(status);
    expect(first.body.type).toBe(problemTypeUri(kind));
    const again = await postRefund(key, payload(order), claims);
    expect(again).toMatchObject({ status, body: first.body });
    expect(again.headers['idempotent-replayed']).toBe('true');
    // Refused means untouched: no Stripe refund, no reservation.
    expect(await stripeRefundsOf(order.paymentIntentId!)).toHaveLength(0);
    expect(orderView((await store.getOrder(order.orderId))!)).toMatchObject({ amountRefunded: 0, amountRefundable: 1000, refunds: [] });
  });

  it('answers 409 with its own type for an order that is not paid', async () => {
    const checkout = createCheckoutHandler({ dynamoDb: h.db.client, ordersTableName: TABLES.orders, idempotencyTableName: TABLES.idempotency, gateway: h.gateway });
    const price = await createPrice(h.stripe, 700);
    const pending = await call(checkout, { path: '/v1/checkouts', headers: { 'Idempotency-Key': newKey() }, body: { lineItems: [{ price, quantity: 1 }], successUrl: 'https://s.example/', cancelUrl: 'https://s.example/' } });
    const refused = await postRefund(newKey(), { orderId: pending.body.orderId });
    expect(refused).toMatchObject({ status: 409, body: { type: problemTypeUri('orderNotRefundable'), orderStatus: 'pending' } });
  });

  it('answers 400 for schema errors, before any record', async () => {
    const before = await countItems(h.db.client, TABLES.idempotency);
    const bad = await postRefund(newKey(), { orderId: 'order-1', amount: 1.5, reason: 'because' });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { pointer: string }) => e.pointer).sort()).toEqual(['/amount', '/orderId', '/reason']);
    expect((await postRefund(undefined, { orderId: 'ord_00000000000000000000000000000000' })).body.type).toBe(problemTypeUri('idempotencyKeyMissing'));
    expect(await countItems(h.db.client, TABLES.idempotency)).toBe(before);
  });

  it('10 concurrent refunds of 300 with distinct keys on an order of 1000: exactly 3 succeed', async () => {
    const order = await paidOrder(1000);
    const responses = await Promise.all(Array.from({ length: 10 }, () => postRefund(newKey(), { orderId: order.orderId, amount: 300 })));
    expect(responses.filter((r) => r.status === 201)).toHaveLength(3);
    const refused = responses.filter((r) => r.status !== 201);
    expect(refused).toHaveLength(7);
    refused.forEach((r) => expect(r.body).toMatchObject({ status: 422, type: problemTypeUri('refundExceedsBalance'), refundable: expect.any(Number) }));
    expect(await stripeRefundsOf(order.paymentIntentId!)).toHaveLength(3);
    expect(orderView((await store.getOrder(order.orderId))!)).toMatchObject({ amountRefunded: 900, amountRefundable: 100 });
    expect(Object.keys((await store.getOrder(order.orderId))!.refunds)).toHaveLength(3);
  });

  it('20 concurrent retries of one refund create one Stripe refund', async () => {
    const order = await paidOrder(1000);
    const key = newKey();
    const responses = await Promise.all(Array.from({ length: 20 }, () => postRefund(key, { orderId: order.orderId, amount: 250 })));
    expect(responses.every((r) => r.status === 201 || r.status === 409)).toBe(true);
    expect(responses.filter((r) => r.status === 201 && !r.headers['idempotent-replayed'])).toHaveLength(1);
    expect(await stripeRefundsOf(order.paymentIntentId!)).toHaveLength(1);
    expect(orderView((await store.getOrder(order.orderId))!)).toMatchObject({ amountRefunded: 250 });
  });

  it('keeps the reservation when Stripe fails (503); Stripe replays its saved 500, so the retry looks up and re-sends with a new key', async () => {
    const order = await paidOrder(1000);
    let clock = Date.now();
    const handler = createRefundsHandler({ dynamoDb: h.db.client, ordersTableName: TABLES.orders, idempotencyTableName: TABLES.idempotency, gateway: h.gateway, now: () => new Date(clock) });
    const key = newKey();
    await h.stripe.rawRequest('POST', '/v1/test_helpers/faults', { path: '/v1/refunds', method: 'POST', kind: 'error_500', count: 1 });
    const failed = await postRefund(key, { orderId: order.orderId, amount: 400 }, ALICE, handler);
    expect(failed.status).toBe(503);
    expect(failed.headers['retry-after']).toBeDefined();
    // The outcome at Stripe is unknown, so the money stays reserved (nobody else can spend it)
    // and is shown as pending, never as refunded (finding 4).
    expect(orderView((await store.getOrder(order.orderId))!)).toMatchObject({ status: 'paid', amountRefunded: 0, amountRefundPending: 400, amountRefundable: 600 });
    // Stripe saved the 500 under our key: an immediate retry gets it again, and nothing is created.
    expect((await postRefund(key, { orderId: order.orderId, amount: 400 }, ALICE, handler)).status).toBe(503);
    expect(await stripeRefundsOf(order.paymentIntentId!)).toHaveLength(0);
    clock += 61_000; // the first attempt has surely finished at Stripe
    const retried = await postRefund(key, { orderId: order.orderId, amount: 400 }, ALICE, handler);
    expect(retried.status).toBe(201);
    expect(await stripeRefundsOf(order.paymentIntentId!)).toHaveLength(1);
    const after = (await store.getOrder(order.orderId))!;
    expect(orderView(after)).toMatchObject({ amountRefunded: 400, amountRefundPending: 0, amountRefundable: 600 });
    expect(after.reservations[retried.body.refundId].stripeIdempotencyKey).toMatch(/^refund-v1-[0-9a-f]{64}-r3$/);
  });

  it('releases the reservation when Stripe refuses the refund', async () => {
    const order = await paidOrder(1000);
    // Refunded in the Stripe Dashboard behind our back: Stripe will refuse our refund.
    await h.stripe.refunds.create({ payment_intent: order.paymentIntentId!, amount: 1000 });
    const refused = await postRefund(newKey(), { orderId: order.orderId, amount: 500 });
    expect(refused).toMatchObject({ status: 422, body: { type: problemTypeUri('paymentRequestRejected'), stripeCode: 'charge_already_refunded' } });
    const after = (await store.getOrder(order.orderId))!;
    expect(orderView(after!)).toMatchObject({ amountRefunded: 0, amountRefundable: 1000 });
    expect(Object.values(after.reservations).map((r) => r.releaseReason)).toEqual(['stripe_refused']);
    expect(after.refunds).toEqual({}); // the Dashboard's refund enters the ledger with its own events
  });

  it('after a crash between Stripe and our records, the retry returns the same Stripe refund, counted once', async () => {
    const order = await paidOrder(1000);
    let crashed = false;
    const dying: PaymentGateway = overriding(h.gateway, {
      createCheckoutSession: (input, stripeKey) => h.gateway.createCheckoutSession(input, stripeKey),
      createRefund: async (input, stripeKey) => {
        const refund = await h.gateway.createRefund(input, stripeKey);
        if (!crashed) {
          crashed = true;
          await new Promise(() => undefined); // the process died here
        }
        return refund;
      },
    });
    const handler = refundsWith(dying);
    const key = newKey();
    const invocationMs = 300;
    void call(handler, { path: '/v1/refunds', headers: { 'Idempotency-Key': key }, body: { orderId: order.orderId, amount: 600 }, context: lambdaContext('dying', invocationMs) });
    while (!crashed) await new Promise((resolve) => setTimeout(resolve, 10));
    await new Promise((resolve) => setTimeout(resolve, invocationMs + 100));

    const retried = await postRefund(key, { orderId: order.orderId, amount: 600 }, ALICE, handler);
    expect(retried.status).toBe(201);
    const stripeRefunds = await stripeRefundsOf(order.paymentIntentId!);
    expect(stripeRefunds).toHaveLength(1);
    const after = (await store.getOrder(order.orderId))!;
    expect(orderView(after!)).toMatchObject({ amountRefunded: 600, amountRefundable: 400 });
    expect(after.reservations[retried.body.refundId]).toMatchObject({ stripeRefundId: stripeRefunds[0].id });
    expect(after.refunds[stripeRefunds[0].id]).toMatchObject({ status: 'succeeded', refundId: retried.body.refundId });
  });

  it('gives a refund that fails at the bank back to the balance once (refund.failed webhook)', async () => {
    const order = await paidOrder(1000);
    const created = await postRefund(newKey(), { orderId: order.orderId, amount: 300 });
    const stripeRefundId = created.body.stripeRefundId as string;
    await h.stripe.rawRequest('POST', `/v1/test_helpers/refunds/${stripeRefundId}/fail`, {});
    const failureEvents = h.emulator.state.events.filter((e) => String(e.type).startsWith('refund.') && (e.data as any).object.id === stripeRefundId);
    const processor = createEventProcessor({ dynamoDb: h.db.client, ordersTableName: TABLES.orders, idempotencyTableName: TABLES.idempotency, stripe: h.gateway });
    const bodies = failureEvents.map((e) => JSON.stringify(e));
    await processor(sqsEvent([...bodies, ...bodies]), lambdaContext('events'));
    await processor(sqsEvent(bodies), lambdaContext('events'));
    expect(orderView((await store.getOrder(order.orderId))!)).toMatchObject({ amountRefunded: 0, amountRefundable: 1000 });
    // The balance is refundable again, in full.
    expect((await postRefund(newKey(), { orderId: order.orderId })).body.amount).toBe(1000);
  });
});

it('stores the Stripe key and Stripe id of every refund on the order (the ledger)', async () => {
  const order = await paidOrder(800);
  const key = newKey();
  const created = await postRefund(key, { orderId: order.orderId, amount: 100 });
  const { Item } = await h.db.client.send(new GetItemCommand({ TableName: TABLES.orders, Key: { orderId: { S: order.orderId } } }));
  const record = Item!.reservations.M![created.body.refundId].M!;
  expect(record.stripeIdempotencyKey.S).toMatch(/^refund-v1-[0-9a-f]{64}$/);
  expect(record.stripeRefundId.S).toMatch(/^re_/);
  expect(h.emulator.state.idempotency.has(record.stripeIdempotencyKey.S!)).toBe(true);
});
