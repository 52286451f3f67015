import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import Stripe from 'stripe';
import { reconcile } from '../../bin/reconcile';
import { sqsClientFor } from '../../bin/dlq';
import { SUBSCRIBED_EVENT_TYPES } from '../../lambdas/domain/stripe-events';
import { LOCAL_TABLE_NAMES } from '../../local/dynamodb';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { apiClient, eventually } from '../support/http-client';

/**
 * The journal end to end: a disabled endpoint loses events, backfill brings every order back
 * to what Stripe holds (and a second run enqueues nothing), the history tells an order's story
 * to its tenant only, and replay re-applies on purpose without changing anything.
 */
const WEBHOOK_SECRET = 'whsec_journal';
// Asynchronous on purpose: the emulators live in this process and must keep answering the child,
// which gets the stack's configuration explicitly (jest's process.env is not the real one).
const cli = async (args: string[]) => {
  try {
    return { code: 0, stdout: (await promisify(execFile)('npx', ['tsx', ...args], { encoding: 'utf8', env: { ...process.env } })).stdout };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout + failed.stderr };
  }
};
let stack: LocalStack;
let stripe: Stripe;
let api: ReturnType<typeof apiClient>;

beforeAll(async () => {
  stack = await startLocalStack({ ports: { api: 0, stripe: 0, sqs: 0, dynamodb: 0 }, webhookSecret: WEBHOOK_SECRET, queueVisibilitySeconds: 1, webhookRetryScheduleMs: [100, 200] });
  const { hostname, port } = new URL(stack.stripeUrl!);
  stripe = new Stripe('sk_test_journal', { host: hostname, port, protocol: 'http' });
  api = apiClient(stack.apiUrl);
}, 60_000);
afterAll(() => stack?.stop());

const helper = (path: string, params: Record<string, unknown> = {}) => stripe.rawRequest('POST', `/v1/test_helpers/${path}`, params);
const checkoutBody = (price: string) => ({ lineItems: [{ price, quantity: 1 }], successUrl: 'https://shop.example/ok', cancelUrl: 'https://shop.example/cancel' });
async function newOrder(amount: number): Promise<{ orderId: string; checkoutSessionId: string }> {
  const price = (await stripe.prices.create({ currency: 'eur', unit_amount: amount, product_data: { name: `Journal ${amount}` } })).id;
  const created = await api.post('/v1/checkouts', checkoutBody(price));
  expect(created.status).toBe(201);
  return created.body;
}
const order = async (orderId: string) => (await api.get(`/v1/orders/${orderId}`)).body;
const paidOrder = async (amount: number) => {
  const created = await newOrder(amount);
  await helper(`checkout/sessions/${created.checkoutSessionId}/complete`);
  return eventually(async () => {
    const current = await order(created.orderId);
    return current.status === 'paid' && current;
  });
};
const queueDepth = async () => {
  const sqs = sqsClientFor(stack.queueUrl);
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: stack.queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'] }));
  sqs.destroy();
  return Number(Attributes!.ApproximateNumberOfMessages) + Number(Attributes!.ApproximateNumberOfMessagesNotVisible) + Number(Attributes!.ApproximateNumberOfMessagesDelayed);
};
const journalItems = async () => (await stack.dynamoDb.client.send(new ScanCommand({ TableName: LOCAL_TABLE_NAMES.journal }))).Items ?? [];
const driftOf = async (since: Date, orderIds: string[]) =>
  (await reconcile({ stripe, dynamoDb: stack.dynamoDb.client, ordersTableName: LOCAL_TABLE_NAMES.orders, since, until: new Date(Date.now() + 60_000) })).drift.filter(
    (d) => orderIds.includes(d.orderId),
  );
const handled = (type: unknown) => (SUBSCRIBED_EVENT_TYPES as readonly string[]).includes(type as string);

it('backfill: events a disabled endpoint never delivered are enqueued once, every order then equals Stripe, a second run enqueues nothing', async () => {
  const start = new Date(Date.now() - 2000);
  const refundedByApi = await paidOrder(1000);
  await eventually(async () => (await queueDepth()) === 0);
  const eventsBefore = stack.stripe!.state.events.length;

  // The endpoint disabled at Stripe (or its secret wrong): events are recorded, never delivered.
  const [endpoint] = (await stripe.webhookEndpoints.list()).data;
  expect((await stripe.webhookEndpoints.update(endpoint.id, { disabled: true })).status).toBe('disabled');
  // Payments while disabled: paid at Stripe, pending with us.
  const unpaidWithUs = [await newOrder(2000), await newOrder(3000)];
  for (const o of unpaidWithUs) await helper(`checkout/sessions/${o.checkoutSessionId}/complete`);
  // A refund through our API (recorded from Stripe's answer as pending), which then succeeds at
  // Stripe; and a refund made outside our API (the Dashboard), which only events tell us about.
  await helper('refunds/next_pending', { payment_intent: refundedByApi.paymentIntentId });
  const refund = await api.post('/v1/refunds', { orderId: refundedByApi.orderId, amount: 300 });
  expect(refund.status).toBe(201);
  await helper(`refunds/${refund.body.stripeRefundId}/succeed`);
  await stripe.refunds.create({ payment_intent: refundedByApi.paymentIntentId, amount: 200 });
  expect((await stripe.webhookEndpoints.update(endpoint.id, { disabled: false })).status).toBe('enabled');

  const missed = stack.stripe!.state.events.slice(eventsBefore).filter((e) => handled(e.type));
  const attempted = new Set(stack.stripe!.webhooks.attempts.map((a) => a.eventId));
  expect(missed.filter((e) => attempted.has(e.id as string))).toEqual([]); // none was delivered
  const orderIds = [refundedByApi.orderId, ...unpaidWithUs.map((o) => o.orderId)];
  for (const o of unpaidWithUs) expect((await order(o.orderId)).status).toBe('pending');
  expect((await order(refundedByApi.orderId)).amountRefunded).toBe(300); // ours pending; the outside 200 unknown
  const staleDrift = (await driftOf(start, orderIds)).map((d) => d.kind);
  expect(staleDrift.filter((k) => k === 'status_mismatch')).toHaveLength(2);
  expect(staleDrift).toEqual(expect.arrayContaining(['refund_missing_from_ledger', 'refund_status_mismatch']));

  const refundsAtStripe = (await stripe.refunds.list({ limit: 100 })).data.length;
  const first = await cli(['bin/events.ts', 'backfill', '--since', start.toISOString()]);
  expect(first.code).toBe(0);
  expect(first.stdout).toContain(`enqueued ${missed.length}\n`);
  expect(first.stdout).toContain(`${missed.length} never received, 0 failed`);

  await eventually(async () => (await queueDepth()) === 0 && (await driftOf(start, orderIds)).length === 0, 30_000);
  for (const o of unpaidWithUs) expect((await order(o.orderId)).status).toBe('paid');
  expect(await order(refundedByApi.orderId)).toMatchObject({ amountRefunded: 500, amountRefundPending: 0, amountRefundable: 500 });
  expect((await stripe.refunds.list({ limit: 100 })).data.length).toBe(refundsAtStripe); // backfill never writes to Stripe

  const eventEntries = (await journalItems()).filter((i) => i.kind === 'stripe_event');
  for (const e of missed) expect(eventEntries.filter((i) => i.stripeEventId === e.id)).toHaveLength(1);
  const second = await cli(['bin/events.ts', 'backfill', '--since', start.toISOString()]);
  expect(second.code).toBe(0);
  expect(second.stdout).toContain('enqueued 0\n');
  expect(await queueDepth()).toBe(0);
  const dry = await cli(['bin/events.ts', 'backfill', '--since', start.toISOString(), '--dry-run']);
  expect(dry.stdout).toContain('would enqueue 0');
}, 120_000);

it('history: an order paid, partly refunded and disputed lists each step in order with its outcome; another tenant gets 404', async () => {
  const paid = await paidOrder(1000);
  const refund = await api.post('/v1/refunds', { orderId: paid.orderId, amount: 300 });
  expect(refund.status).toBe(201);
  await helper(`payment_intents/${paid.paymentIntentId}/dispute`, { amount: 700 });
  await eventually(async () => (await order(paid.orderId)).disputed === true);
  await eventually(async () => (await queueDepth()) === 0);

  const history = await api.get(`/v1/orders/${paid.orderId}/history`);
  expect(history.status).toBe(200);
  const steps = history.body.steps as { at: string; kind: string; what: string; outcome: string; detail: Record<string, unknown> }[];
  const summary = steps.map((s) => `${s.kind} ${s.what}: ${s.outcome}`);
  const expectedInOrder = [
    /^request checkout accepted: accepted$/,
    /^stripe_call create checkout session: succeeded$/,
    /^stripe_event checkout\.session\.completed: applied$/,
    /^request refund requested: accepted$/,
    /^stripe_call create refund: succeeded$/,
    // Stale when Stripe's answer was recorded first, applied when the webhook won the race: both happen.
    /^stripe_event refund\.created: (stale|applied)$/,
    // created and funds_withdrawn carry the same dispute snapshot: whichever is processed first applies it.
    /^stripe_event charge\.dispute\.created: (applied|stale)$/,
  ];
  const positions = expectedInOrder.map((line) => summary.findIndex((s) => line.test(s)));
  expect(positions.every((p) => p >= 0)).toBe(true);
  expect([...positions].sort((a, b) => a - b)).toEqual(positions);
  const disputeOutcomes = summary.filter((line) => /^stripe_event charge\.dispute\.(created|funds_withdrawn): /.test(line)).map((line) => line.split(': ')[1]);
  expect(disputeOutcomes.sort()).toEqual(['applied', 'stale']); // one snapshot, applied exactly once
  for (let i = 1; i < steps.length; i++) expect(steps[i].at >= steps[i - 1].at.slice(0, 19)).toBe(true);
  // Only the events of this order: no other order's, no foreign ones.
  for (const s of steps.filter((x) => x.kind === 'stripe_event')) {
    expect(Object.values(s.detail.objectIds as object).some((id) => id === paid.paymentIntentId || id === paid.checkoutSessionId)).toBe(true);
  }
  const call = steps.find((s) => s.what === 'create refund')!;
  expect(call.detail).toMatchObject({ stripeObjectId: refund.body.stripeRefundId, attempts: 1 });
  expect(call.detail.stripeIdempotencyKey).toEqual(expect.any(String));

  const otherTenant = await apiClient(stack.apiUrl, 'globex', 'mallory').get(`/v1/orders/${paid.orderId}/history`);
  const missing = await api.get(`/v1/orders/ord_${'0'.repeat(32)}/history`);
  expect(otherTenant.status).toBe(404);
  expect(otherTenant.body).toEqual(missing.body);

  const printed = await cli(['bin/order-history.ts', paid.orderId]);
  expect(printed.code).toBe(0);
  expect(printed.stdout).toContain(`Order ${paid.orderId} (tenant acme)`);
  expect(printed.stdout.trim().split('\n')).toHaveLength(steps.length + 1);
  expect(printed.stdout).toMatch(/stripe_call\s+create refund\s+succeeded/);
}, 60_000);

it('replay re-applies an order\'s journaled events on purpose and changes nothing that was right', async () => {
  const paid = await paidOrder(1500);
  await api.post('/v1/refunds', { orderId: paid.orderId, amount: 500 });
  await eventually(async () => (await queueDepth()) === 0);
  const before = await order(paid.orderId);
  const journaled = (await journalItems()).filter((i) => i.kind === 'stripe_event' && i.orderId === paid.orderId);
  expect(journaled.length).toBeGreaterThanOrEqual(2);

  const replayed = await cli(['bin/events.ts', 'replay', '--order', paid.orderId]);
  expect(replayed).toMatchObject({ code: 0 });
  expect(replayed.stdout).toContain(`enqueued ${journaled.length} (${journaled.length} from the journal`);
  await eventually(async () => {
    const items = (await journalItems()).filter((i) => i.kind === 'stripe_event' && i.orderId === paid.orderId);
    return items.every((i) => i.replays === 1) && (await queueDepth()) === 0;
  });
  expect(await order(paid.orderId)).toEqual(before);
  const after = (await journalItems()).filter((i) => i.kind === 'stripe_event' && i.orderId === paid.orderId);
  for (const i of after) expect(i.outcome).toBe('stale');
}, 60_000);

it('the CLIs answer --help, and bad options with usage and exit 2', async () => {
  expect((await cli(['bin/events.ts', '--help'])).code).toBe(0);
  expect((await cli(['bin/events.ts', 'backfill'])).code).toBe(2);
  expect((await cli(['bin/events.ts', 'replay', '--order', 'ord_1', '--since', '2026-01-01'])).code).toBe(2);
  expect((await cli(['bin/order-history.ts', 'nope'])).code).toBe(2);
}, 60_000);
