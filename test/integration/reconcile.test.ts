import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { formatReport, reconcile } from '../../bin/reconcile';
import { createCheckoutHandler } from '../../lambdas/checkout/create-checkout-handler';
import { createRefundsHandler } from '../../lambdas/refunds/create-refunds-handler';
import { call, createPrice, newKey, startHarness, TABLES, type Harness } from '../support/harness';
import { paidOrder } from '../support/paid-order';

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
  expect(report.checked).toEqual({ stripeSessions: 3, stripeRefunds: 1, orders: 2, foreignSessions: 1 });
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
      { kind: 'refund_total_mismatch', orderId: refundedBehindOurBack.orderId, paymentIntentId: refundedBehindOurBack.paymentIntentId, stripe: 200, ours: 0 },
      { kind: 'status_mismatch', orderId: pending.body.orderId, checkoutSessionId: pending.body.checkoutSessionId, stripe: 'expired', ours: 'pending' },
      { kind: 'stripe_session_without_order', checkoutSessionId: orphan.id, orderId: 'ord_deadbeefdeadbeefdeadbeefdeadbeef' },
    ]),
  );
  expect(report.drift).toHaveLength(3);

  const { port: stripePort } = new URL(h.emulator.url);
  const cli = await promisify(execFile)('npx', ['tsx', 'bin/reconcile.ts', '--json'], {
    env: { ...process.env, STRIPE_SECRET_KEY: 'sk_test_reconcile', STRIPE_API_BASE: `http://127.0.0.1:${stripePort}`, DYNAMODB_ENDPOINT: h.db.endpoint, ORDERS_TABLE_NAME: TABLES.orders, AWS_ACCESS_KEY_ID: h.db.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: h.db.credentials.secretAccessKey },
  }).then(
    () => ({ code: 0, stdout: '' }),
    (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
  );
  expect(cli.code).toBe(1);
  expect(JSON.parse(cli.stdout).drift).toHaveLength(3);
}, 60_000);
