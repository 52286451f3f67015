import { GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { createCheckoutHandler } from '../../lambdas/checkout/create-checkout-handler';
import { createEventProcessor } from '../../lambdas/events/create-event-processor';
import { createRefundsHandler } from '../../lambdas/refunds/create-refunds-handler';
import type { JournalEntry } from '../../lambdas/domain/journal';
import { DynamoDbJournal } from '../../lambdas/shared/journal-store';
import { DynamoDbOrderStore } from '../../lambdas/shared/order-store';
import { lambdaContext } from '../../local/lambda-context';
import type { StripeObject } from '../../local/stripe-emulator/stripe-objects';
import { call, createPrice, newKey, startHarness, TABLES, type Harness } from '../support/harness';
import { sqsEvent } from '../support/orders';
import { checkoutOrder } from '../support/paid-order';

/** The journal against dynalite and the Stripe emulator: what is written, and that it never decides anything. */
let h: Harness;
let journal: DynamoDbJournal;
let store: DynamoDbOrderStore;
const deps = () => ({ dynamoDb: h.db.client, ordersTableName: TABLES.orders, idempotencyTableName: TABLES.idempotency });

beforeAll(async () => {
  h = await startHarness();
  journal = new DynamoDbJournal(h.db.client, TABLES.journal);
  store = new DynamoDbOrderStore(h.db.client, TABLES.orders);
});
afterAll(() => h.close());

const entry = async (entryId: string) => (await h.db.client.send(new GetCommand({ TableName: TABLES.journal, Key: { entryId } }))).Item;
const journalSize = async () => ((await h.db.client.send(new ScanCommand({ TableName: TABLES.journal, Select: 'COUNT' }))).Count ?? 0);
const helper = (path: string, params: Record<string, unknown> = {}) => h.stripe.rawRequest('POST', `/v1/test_helpers/${path}`, params);
async function completedEvent(orderId: string, sessionId: string): Promise<StripeObject> {
  await helper(`checkout/sessions/${sessionId}/complete`);
  return h.emulator.state.events.find((e) => e.type === 'checkout.session.completed' && JSON.stringify(e).includes(orderId))!;
}

it('journals an applied event once with its ids, outcome and payload; a duplicate adds an attempt, not an entry', async () => {
  const order = await checkoutOrder(h, 1200);
  const event = await completedEvent(order.orderId, order.checkoutSessionId);
  const processor = createEventProcessor({ ...deps(), stripe: h.gateway, journal });
  const before = await journalSize();
  expect((await processor(sqsEvent([JSON.stringify(event)]), lambdaContext('events'))).batchItemFailures).toEqual([]);
  const first = await entry(`event#${event.id}`);
  expect(first).toMatchObject({
    kind: 'stripe_event', type: 'checkout.session.completed', created: event.created, orderId: order.orderId, outcome: 'applied', attempts: 1, payloadAt: 'journal',
    objectIds: { 'checkout.session': order.checkoutSessionId, payment_intent: expect.stringMatching(/^pi_/) },
  });
  expect(first!.receivedAt).toEqual(expect.any(String));
  expect(first!.expiresAt - Date.now() / 1000).toBeGreaterThan(399 * 86_400);
  expect(JSON.parse((await journal.payloadOf(event.id as string))!)).toEqual(event);
  expect(await journalSize()).toBe(before + 2); // the entry and its payload

  await processor(sqsEvent([JSON.stringify(event)]), lambdaContext('events'));
  expect(await entry(`event#${event.id}`)).toMatchObject({ outcome: 'applied', attempts: 2, duplicates: 1, firstProcessedAt: first!.firstProcessedAt });
  expect(await journalSize()).toBe(before + 2);
});

it('journals a failed attempt with its error, and the outcome once a retry applies it', async () => {
  const order = await checkoutOrder(h, 1300);
  const event = await completedEvent(order.orderId, order.checkoutSessionId);
  const broken = createEventProcessor({ ...deps(), ordersTableName: 'no-such-table', stripe: h.gateway, journal });
  expect((await broken(sqsEvent([JSON.stringify(event)]), lambdaContext('events'))).batchItemFailures).toHaveLength(1);
  expect(await entry(`event#${event.id}`)).toMatchObject({ outcome: 'failed', attempts: 1, error: expect.stringContaining('ResourceNotFound') });
  expect((await journal.eventStates([event.id as string])).get(event.id as string)).toEqual({ stripeEventId: event.id, outcome: 'failed' });

  const processor = createEventProcessor({ ...deps(), stripe: h.gateway, journal });
  await processor(sqsEvent([JSON.stringify(event)]), lambdaContext('events'));
  expect(await entry(`event#${event.id}`)).toMatchObject({ outcome: 'applied', attempts: 2, orderId: order.orderId });
  // A late failure (a concurrent copy) never overwrites the outcome reached.
  await broken(sqsEvent([JSON.stringify(event)]), lambdaContext('events'));
  expect(await entry(`event#${event.id}`)).toMatchObject({ outcome: 'applied', attempts: 3 });
});

it('a journal that cannot be written changes no payment outcome: the event applies and is acknowledged', async () => {
  const order = await checkoutOrder(h, 1400);
  const event = await completedEvent(order.orderId, order.checkoutSessionId);
  const before = await journalSize();
  const processor = createEventProcessor({ ...deps(), stripe: h.gateway, journal: new DynamoDbJournal(h.db.client, 'no-such-journal') });
  expect((await processor(sqsEvent([JSON.stringify(event)]), lambdaContext('events'))).batchItemFailures).toEqual([]);
  expect((await store.getOrder(order.orderId))!.paymentStatus).toBe('paid');
  expect(await journalSize()).toBe(before);

  const sessionsBefore = h.emulator.state.executedCreates.get('/v1/checkout/sessions') ?? 0;
  const price = await createPrice(h.stripe, 500);
  const created = await call(createCheckoutHandler({ ...deps(), gateway: h.gateway, journal: new DynamoDbJournal(h.db.client, 'no-such-journal') }), {
    path: '/v1/checkouts',
    headers: { 'Idempotency-Key': newKey() },
    body: { lineItems: [{ price, quantity: 1 }], successUrl: 'https://shop.example/ok', cancelUrl: 'https://shop.example/no' },
  });
  expect(created.status).toBe(201);
  expect(h.emulator.state.executedCreates.get('/v1/checkout/sessions')).toBe(sessionsBefore + 1);
});

it('journals each write sent to Stripe: the session and the refund with key and Stripe id, a refusal as rejected', async () => {
  const key = newKey();
  const price = await createPrice(h.stripe, 2000);
  const checkout = createCheckoutHandler({ ...deps(), gateway: h.gateway, journal });
  const body = { lineItems: [{ price, quantity: 1 }], successUrl: 'https://shop.example/ok', cancelUrl: 'https://shop.example/no' };
  const created = await call(checkout, { path: '/v1/checkouts', headers: { 'Idempotency-Key': key }, body });
  const order = (await store.getOrder(created.body.orderId))!;
  expect(await entry(`call#create_checkout_session#${order.stripeIdempotencyKey}`)).toMatchObject({
    kind: 'stripe_call', operation: 'create_checkout_session', orderId: order.orderId, tenantId: 'acme', ourId: order.orderId,
    stripeIdempotencyKey: order.stripeIdempotencyKey, stripeObjectId: order.checkoutSessionId, outcome: 'succeeded', attempts: 1,
  });

  const event = await completedEvent(order.orderId, order.checkoutSessionId);
  await createEventProcessor({ ...deps(), stripe: h.gateway, journal })(sqsEvent([JSON.stringify(event)]), lambdaContext('events'));
  const refunds = createRefundsHandler({ ...deps(), gateway: h.gateway, journal });
  const refund = await call(refunds, { path: '/v1/refunds', headers: { 'Idempotency-Key': newKey() }, body: { orderId: order.orderId, amount: 700 } });
  expect(refund.status).toBe(201);
  const reservation = Object.values((await store.getOrder(order.orderId))!.reservations)[0];
  expect(await entry(`call#create_refund#${reservation.stripeIdempotencyKey}`)).toMatchObject({
    operation: 'create_refund', ourId: reservation.refundId, stripeObjectId: refund.body.stripeRefundId, outcome: 'succeeded',
  });

  // Stripe refuses: a dispute blocks refunds (charge_disputed).
  await helper(`payment_intents/${(await store.getOrder(order.orderId))!.paymentIntentId}/dispute`, { amount: 1300 });
  const refused = await call(refunds, { path: '/v1/refunds', headers: { 'Idempotency-Key': newKey() }, body: { orderId: order.orderId, amount: 100 } });
  expect(refused.status).toBeGreaterThanOrEqual(400);
  const calls = (await journal.entriesOfOrder(order.orderId)).filter((e): e is Extract<JournalEntry, { kind: 'stripe_call' }> => e.kind === 'stripe_call' && e.operation === 'create_refund');
  expect(calls.map((c) => c.outcome).sort()).toEqual(['rejected', 'succeeded']);
  const rejected = calls.find((c) => c.outcome === 'rejected')!;
  expect(rejected.error).toContain('PaymentRejected');
  expect(rejected.stripeObjectId).toBeUndefined();
});

it('a Stripe call retried keeps the Stripe id once known, its first time, and counts attempts', async () => {
  const base = { operation: 'create_refund' as const, orderId: 'ord_x', tenantId: 'acme', ourId: 'ref_x', stripeIdempotencyKey: `k-${newKey()}`, error: null };
  await journal.recordStripeCall({ ...base, stripeObjectId: null, outcome: 'unknown', error: 'timeout', at: '2026-11-23T10:00:00.000Z' });
  await journal.recordStripeCall({ ...base, stripeObjectId: 're_1', outcome: 'succeeded', at: '2026-11-23T10:01:00.000Z' });
  await journal.recordStripeCall({ ...base, stripeObjectId: null, outcome: 'unknown', error: 'timeout', at: '2026-11-23T10:02:00.000Z' });
  expect(await entry(`call#create_refund#${base.stripeIdempotencyKey}`)).toMatchObject({
    stripeObjectId: 're_1', outcome: 'unknown', attempts: 3, firstAt: '2026-11-23T10:00:00.000Z', at: '2026-11-23T10:02:00.000Z',
  });
});
