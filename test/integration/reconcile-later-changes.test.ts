import { formatReport, reconcile } from '../../bin/reconcile';
import { createEventProcessor } from '../../lambdas/events/create-event-processor';
import { DynamoDbOrderStore } from '../../lambdas/shared/order-store';
import { lambdaContext } from '../../local/lambda-context';
import { startHarness, TABLES, type Harness } from '../support/harness';
import { sqsEvent } from '../support/orders';
import { paidOrder } from '../support/paid-order';

/**
 * Reconcile's window on older orders: a refund that fails, or a dispute that closes, days after
 * it was created (its webhook lost) is reported in the window it changed in, and a window with
 * no session and no order of its own still prints the drift it found. The emulator's clock and
 * ours move a day at a time.
 */
let h: Harness;
let store: DynamoDbOrderStore;
beforeAll(async () => {
  h = await startHarness();
  store = new DynamoDbOrderStore(h.db.client, TABLES.orders);
});
afterAll(() => h.close());

const HOUR = 3_600_000;
let daysOn = 0;
const nextDay = async () => {
  await h.stripe.rawRequest('POST', '/v1/test_helpers/clock', { advance_seconds: 24 * 3600 });
  daysOn++;
};
/** A window of ±2 h around "now" on the moved clock. */
const windowNow = () => {
  const at = Date.now() + daysOn * 24 * HOUR;
  return { since: new Date(at - 2 * HOUR), until: new Date(at + 2 * HOUR), now: new Date(at + 2 * HOUR) };
};
const delivered = async (action: () => Promise<unknown>) => {
  const before = h.emulator.state.events.length;
  const result = await action();
  const deps = { dynamoDb: h.db.client, ordersTableName: TABLES.orders, idempotencyTableName: TABLES.idempotency, stripe: h.gateway };
  await createEventProcessor(deps)(sqsEvent(h.emulator.state.events.slice(before).map((e) => JSON.stringify(e))), lambdaContext('events'));
  return result;
};

it('reports a refund that failed and a dispute lost after the window they were created in, and prints them although the window has no order of its own', async () => {
  const refunded = await paidOrder(h, 900);
  const disputed = await paidOrder(h, 900);
  // Day 1: a pending Dashboard refund and a dispute, both applied.
  await nextDay();
  await h.stripe.rawRequest('POST', '/v1/test_helpers/refunds/next_pending', { payment_intent: refunded.paymentIntentId! });
  const refund = (await delivered(() => h.stripe.refunds.create({ payment_intent: refunded.paymentIntentId!, amount: 300 }))) as { id: string };
  const dispute = (await delivered(() => h.stripe.rawRequest('POST', `/v1/test_helpers/payment_intents/${disputed.paymentIntentId}/dispute`, {}))) as unknown as { id: string };
  expect((await store.getOrder(refunded.orderId))!.refunds[refund.id]?.status).toBe('pending');
  expect((await store.getOrder(disputed.orderId))!.disputes[dispute.id]?.status).toBe('needs_response');
  expect((await reconcile({ stripe: h.stripe, dynamoDb: h.db.client, ordersTableName: TABLES.orders, ...windowNow() })).drift).toEqual([]);

  // Day 2: the refund fails and the dispute is lost at Stripe; both webhooks are lost.
  await nextDay();
  await h.stripe.rawRequest('POST', `/v1/test_helpers/refunds/${refund.id}/fail`, {});
  await h.stripe.rawRequest('POST', `/v1/test_helpers/disputes/${dispute.id}/close`, { outcome: 'lost' });
  const report = await reconcile({ stripe: h.stripe, dynamoDb: h.db.client, ordersTableName: TABLES.orders, ...windowNow() });
  expect(report.checked).toMatchObject({ stripeSessions: 0, orders: 0, olderOrders: 2 });
  const kinds = (orderId: string) => report.drift.filter((d) => d.orderId === orderId).map((d) => d.kind).sort();
  expect(kinds(refunded.orderId)).toEqual(['refund_status_mismatch', 'refund_total_mismatch']);
  expect(kinds(disputed.orderId)).toEqual(['dispute_mismatch']);
  const text = formatReport(report);
  expect(text).toContain('DRIFT: 3');
  expect(text).not.toContain('NOTHING CHECKED');
});
