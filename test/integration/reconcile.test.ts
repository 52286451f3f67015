import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { DRIFT_MEANING, formatReport, reconcile } from '../../bin/reconcile';
import { createEventProcessor } from '../../lambdas/events/create-event-processor';
import { lambdaContext } from '../../local/lambda-context';
import { sqsEvent } from '../support/orders';
import { createCheckoutHandler } from '../../lambdas/checkout/create-checkout-handler';
import { createRefundsHandler } from '../../lambdas/refunds/create-refunds-handler';
import { call, createPrice, newKey, startHarness, TABLES, type Harness } from '../support/harness';
import { checkoutOrder, paidOrder } from '../support/paid-order';
import { DynamoDbOrderStore } from '../../lambdas/shared/order-store';

/** Drift created on purpose in the Stripe emulator, behind the backend's back. */
let h: Harness;
const window = () => ({ since: new Date(Date.now() - 3_600_000), until: new Date(Date.now() + 60_000) });
const run = () => reconcile({ stripe: h.stripe, dynamoDb: h.db.client, ordersTableName: TABLES.orders, ...window() });

beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

it('finds no drift when every change went through the API and its webhooks', async () => {
  const deps = { dynamoDb: h.db.client, ordersTableName: TABLES.orders, idempotencyTableName: TABLES.idempotency, gateway: h.gateway };
  const paid = await paidOrder(h, 1000);
  await call(createRefundsHandler(deps), { path: '/v1/refunds', headers: { 'Idempotency-Key': newKey() }, body: { orderId: paid.orderId, amount: 300 } });
  const price = await createPrice(h.stripe, 500);
  await call(createCheckoutHandler(deps), { path: '/v1/checkouts', headers: { 'Idempotency-Key': newKey() }, body: { lineItems: [{ price, quantity: 1 }], successUrl: 'https://s.example/', cancelUrl: 'https://s.example/' } });
  await h.stripe.checkout.sessions.create({ mode: 'payment', line_items: [{ price, quantity: 1 }], success_url: 'https://other.example/' }); // another integration's

  const report = await run();
  expect(report.drift).toEqual([]);
  expect(report.checked).toEqual({ stripeSessions: 3, stripeRefunds: 1, orders: 2, olderOrders: 0, foreignSessions: 1 });
  expect(formatReport(report)).toContain('no drift');
});

it('reports each kind of drift, and the command exits 1 with it as JSON', async () => {
  const deps = { dynamoDb: h.db.client, ordersTableName: TABLES.orders, idempotencyTableName: TABLES.idempotency, gateway: h.gateway };
  // 1. A Dashboard refund whose webhook never arrived.
  const refundedBehindOurBack = await paidOrder(h, 800);
  await h.stripe.refunds.create({ payment_intent: refundedBehindOurBack.paymentIntentId!, amount: 200 });
  // 2. A session expired at Stripe whose webhook never arrived.
  const price = await createPrice(h.stripe, 700);
  const pending = await call(createCheckoutHandler(deps), { path: '/v1/checkouts', headers: { 'Idempotency-Key': newKey() }, body: { lineItems: [{ price, quantity: 1 }], successUrl: 'https://s.example/', cancelUrl: 'https://s.example/' } });
  await h.stripe.checkout.sessions.expire(pending.body.checkoutSessionId);
  // 3. A session that claims an order we never wrote.
  const orphan = await h.stripe.checkout.sessions.create({ mode: 'payment', line_items: [{ price, quantity: 1 }], success_url: 'https://s.example/', metadata: { orderId: 'ord_deadbeefdeadbeefdeadbeefdeadbeef' } });

  const report = await run();
  expect(report.drift).toEqual(
    expect.arrayContaining([
      { kind: 'refund_missing_from_ledger', orderId: refundedBehindOurBack.orderId, stripeRefundId: expect.stringMatching(/^re_/), amount: 200, status: 'succeeded' },
      { kind: 'refund_total_mismatch', orderId: refundedBehindOurBack.orderId, paymentIntentId: refundedBehindOurBack.paymentIntentId, stripe: 200, ours: 0 },
      { kind: 'status_mismatch', orderId: pending.body.orderId, checkoutSessionId: pending.body.checkoutSessionId, stripe: 'expired', ours: 'pending' },
      { kind: 'stripe_session_without_order', checkoutSessionId: orphan.id, orderId: 'ord_deadbeefdeadbeefdeadbeefdeadbeef' },
    ]),
  );
  expect(report.drift).toHaveLength(4);

  const { port: stripePort } = new URL(h.emulator.url);
  const cli = await promisify(execFile)('npx', ['tsx', 'bin/reconcile.ts', '--json'], {
    env: { ...process.env, STRIPE_SECRET_KEY: 'sk_test_reconcile', STRIPE_API_BASE: `http://127.0.0.1:${stripePort}`, DYNAMODB_ENDPOINT: h.db.endpoint, ORDERS_TABLE_NAME: TABLES.orders, AWS_ACCESS_KEY_ID: h.db.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: h.db.credentials.secretAccessKey },
  }).then(
    () => ({ code: 0, stdout: '' }),
    (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
  );
  expect(cli.code).toBe(1);
  expect(JSON.parse(cli.stdout).drift).toHaveLength(4);
}, 60_000);

it('reports anomalies, double refunds for one request, unresolved reservations and dispute drift', async () => {
  const deps = { dynamoDb: h.db.client, ordersTableName: TABLES.orders, idempotencyTableName: TABLES.idempotency, gateway: h.gateway };
  const processor = createEventProcessor({ ...deps, stripe: h.gateway });
  const deliver = async (action: () => Promise<unknown>) => {
    const before = h.emulator.state.events.length;
    await action();
    await processor(sqsEvent(h.emulator.state.events.slice(before).map((e) => JSON.stringify(e))), lambdaContext('events'));
  };
  // A second session carrying our metadata for an order that has its own (e.g. one left behind by
  // a crash), paid: recorded as an anomaly, not applied.
  const named = await checkoutOrder(h, 5000);
  const cheap = await createPrice(h.stripe, 100);
  const foreign = await h.stripe.checkout.sessions.create({ mode: 'payment', line_items: [{ price: cheap, quantity: 1 }], success_url: 'https://evil.example/', metadata: { orderId: named.orderId, tenantId: named.tenantId } });
  await deliver(() => h.stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${foreign.id}/complete`, {}));
  // Two Stripe refunds carrying one of our refund ids (a retry after Stripe pruned the key, elsewhere).
  const doubled = await paidOrder(h, 1000);
  for (let i = 0; i < 2; i++) await h.stripe.refunds.create({ payment_intent: doubled.paymentIntentId!, amount: 100, metadata: { refundId: 'rfd_twice' } });
  // A reservation whose outcome stayed unknown (Stripe 500) with no recovery function running.
  const stuck = await paidOrder(h, 1000);
  await h.stripe.rawRequest('POST', '/v1/test_helpers/faults', { path: '/v1/refunds', method: 'POST', kind: 'error_500', count: 1 });
  expect((await call(createRefundsHandler(deps), { path: '/v1/refunds', headers: { 'Idempotency-Key': newKey() }, body: { orderId: stuck.orderId, amount: 300 } })).status).toBe(503);
  // A dispute whose webhook never arrived.
  const disputed = await paidOrder(h, 1000);
  await h.stripe.rawRequest('POST', `/v1/test_helpers/payment_intents/${disputed.paymentIntentId}/dispute`, {});

  const report = await reconcile({ stripe: h.stripe, dynamoDb: h.db.client, ordersTableName: TABLES.orders, ...window(), now: new Date(Date.now() + 3_600_000) });
  const kinds = (orderId: string) => report.drift.filter((d) => d.orderId === orderId).map((d) => d.kind).sort();
  expect(kinds(named.orderId)).toEqual(['anomaly']);
  expect(report.drift).toContainEqual(expect.objectContaining({ kind: 'anomaly', orderId: named.orderId, anomaly: 'session_not_the_orders' }));
  expect(kinds(doubled.orderId)).toEqual(['duplicate_refund_for_request', 'refund_missing_from_ledger', 'refund_missing_from_ledger', 'refund_total_mismatch']);
  expect(kinds(stuck.orderId)).toEqual(['unresolved_reservation']);
  expect(kinds(disputed.orderId)).toEqual(['dispute_mismatch']);
  for (const d of report.drift) expect(DRIFT_MEANING[d.kind]).toBeTruthy();
}, 60_000);

// Last in this file: it moves the emulator's clock an hour on.
it('checks the refunds and disputes made in the window on older orders, and reports each anomaly in the window it was recorded in', async () => {
  const refundedLater = await paidOrder(h, 900);
  const disputedLater = await paidOrder(h, 900);
  const untouched = await paidOrder(h, 900);
  const before = await reconcile({ stripe: h.stripe, dynamoDb: h.db.client, ordersTableName: TABLES.orders, ...window(), now: new Date(Date.now() + 3_600_000) });
  const anomaliesBefore = before.drift.filter((d) => d.kind === 'anomaly').length;
  expect(anomaliesBefore).toBeGreaterThan(0); // the previous test's, recorded now

  // An hour later (Stripe's clock and ours): a Dashboard refund and a dispute whose webhooks never arrived, and an anomaly recorded.
  await h.stripe.rawRequest('POST', '/v1/test_helpers/clock', { advance_seconds: 3600 });
  await h.stripe.refunds.create({ payment_intent: refundedLater.paymentIntentId!, amount: 250 });
  await h.stripe.rawRequest('POST', `/v1/test_helpers/payment_intents/${disputedLater.paymentIntentId}/dispute`, {});
  const later = new DynamoDbOrderStore(h.db.client, TABLES.orders, () => new Date(Date.now() + 3_600_000));
  await later.mutate(untouched.orderId, () => ({ kind: 'anomaly', anomaly: { kind: 'test_anomaly', detail: 'recorded an hour after the order' } }), 'evt_later');

  const nextWindow = { since: new Date(Date.now() + 1_800_000), until: new Date(Date.now() + 7_200_000) };
  const report = await reconcile({ stripe: h.stripe, dynamoDb: h.db.client, ordersTableName: TABLES.orders, ...nextWindow, now: new Date(Date.now() + 7_200_000) });
  expect(report.checked).toMatchObject({ orders: 0, olderOrders: 2 });
  const kinds = (orderId: string) => report.drift.filter((d) => d.orderId === orderId).map((d) => d.kind).sort();
  expect(kinds(refundedLater.orderId)).toEqual(['refund_missing_from_ledger', 'refund_total_mismatch']);
  expect(kinds(disputedLater.orderId)).toEqual(['dispute_mismatch']);
  // Only the anomaly recorded in this window; the earlier ones were the earlier window's.
  expect(report.drift.filter((d) => d.kind === 'anomaly')).toEqual([
    { kind: 'anomaly', orderId: untouched.orderId, anomaly: 'test_anomaly', stripeEventId: 'evt_later', detail: 'recorded an hour after the order' },
  ]);
  // The reservation stuck since the previous test is still reported: its order is older, but it is still unresolved.
  expect(report.drift.filter((d) => d.kind === 'unresolved_reservation')).toHaveLength(1);
}, 60_000);
