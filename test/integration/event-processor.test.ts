import { createEventProcessor } from '../../lambdas/events/create-event-processor';
import type { Order } from '../../lambdas/domain/order';
import { DynamoDbOrderStore } from '../../lambdas/shared/order-store';
import { createTables, type LocalDynamoDb } from '../../local/dynamodb';
import { testDynamoDb } from '../support/dynamodb';
import { lambdaContext } from '../../local/lambda-context';
import * as stripe from '../../local/stripe-emulator/stripe-objects';
import { pendingOrder, sqsEvent } from '../support/orders';
import { countItems, TABLES } from '../support/harness';

let db: LocalDynamoDb;
let store: DynamoDbOrderStore;
let processor: ReturnType<typeof createEventProcessor>;

beforeAll(async () => {
  db = await testDynamoDb();
  await createTables(db.client);
  store = new DynamoDbOrderStore(db.client, TABLES.orders);
  processor = createEventProcessor({ dynamoDb: db.client, ordersTableName: TABLES.orders, idempotencyTableName: TABLES.idempotency });
});
afterAll(() => db.close());

const noRequest = { id: null, idempotencyKey: null };

/** Stripe's objects for one paid checkout of `order`, built like the emulator builds them. */
function paidCheckout(order: Order) {
  const metadata = { orderId: order.orderId, tenantId: order.tenantId };
  const intent = stripe.paymentIntent({ amount: order.amountTotal, currency: order.currency, metadata, status: 'succeeded' });
  const session = {
    ...stripe.checkoutSession({ amountTotal: order.amountTotal, currency: order.currency, successUrl: 'https://x', cancelUrl: null, clientReferenceId: order.orderId, customerEmail: null, metadata, paymentUrlBase: 'http://local' }),
    status: 'complete',
    payment_status: 'paid',
    payment_intent: intent.id,
  };
  const charge = stripe.charge({ amount: order.amountTotal, currency: order.currency, paymentIntentId: intent.id, paymentMethodId: 'pm_1', metadata: {} });
  return { intent, session, charge };
}
const eventBody = (type: string, object: stripe.StripeObject) => JSON.stringify(stripe.event(type, object, noRequest));

async function process(bodies: string[]) {
  const response = await processor(sqsEvent(bodies), lambdaContext('events'));
  return response.batchItemFailures.length;
}

/** Delivers like SQS does: failed records come back until they apply, or the rounds run out. */
async function deliverUntilSettled(bodies: string[], rounds = 6) {
  let pending = bodies;
  for (let round = 0; round < rounds && pending.length > 0; round++) {
    const event = sqsEvent(pending);
    const { batchItemFailures } = await processor(event, lambdaContext('events'));
    const failed = new Set(batchItemFailures.map((f) => f.itemIdentifier));
    pending = event.Records.filter((r) => failed.has(r.messageId)).map((r) => r.body);
  }
  return pending;
}

describe('event processor', () => {
  it('marks the order paid on checkout.session.completed and records what Stripe charged', async () => {
    const order = await store.createOrder(pendingOrder());
    const { session, intent } = paidCheckout(order);
    expect(await process([eventBody('checkout.session.completed', session)])).toBe(0);
    expect(await store.getOrder(order.orderId)).toMatchObject({ paymentStatus: 'paid', paymentIntentId: intent.id, amountRefundable: 1000 });
    expect(await store.findOrderIdByPaymentIntent(intent.id)).toBe(order.orderId);
  });

  it('applies the same event delivered 5 times exactly once', async () => {
    const order = await store.createOrder(pendingOrder());
    const body = eventBody('checkout.session.completed', paidCheckout(order).session);
    const recordsBefore = await countItems(db.client, TABLES.idempotency);
    expect(await process([body])).toBe(0);
    const afterFirst = await store.getOrder(order.orderId);
    for (let i = 0; i < 4; i++) expect(await process([body])).toBe(0);
    // updatedAt moves on every write: equal means no second write happened.
    expect(await store.getOrder(order.orderId)).toEqual(afterFirst);
    expect(await countItems(db.client, TABLES.idempotency)).toBe(recordsBefore + 1);
  });

  it('absorbs 5 copies of one event in a single batch: one applies, the rest wait or replay', async () => {
    const order = await store.createOrder(pendingOrder());
    const body = eventBody('checkout.session.completed', paidCheckout(order).session);
    expect(await deliverUntilSettled([body, body, body, body, body])).toEqual([]);
    expect((await store.getOrder(order.orderId))?.paymentStatus).toBe('paid');
  });

  it('ends in the same state for every order of completed, refunded, disputed and expired', async () => {
    const permutations = <T>(items: T[]): T[][] =>
      items.length <= 1 ? [items] : items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
    const finals = new Set<string>();
    for (const sequence of permutations(['completed', 'refunded', 'disputed', 'expired'])) {
      const order = await store.createOrder(pendingOrder());
      const { session, charge, intent } = paidCheckout(order);
      const refundedCharge = { ...charge, amount_refunded: 300 };
      const byName: Record<string, string> = {
        completed: eventBody('checkout.session.completed', session),
        refunded: eventBody('charge.refunded', refundedCharge),
        disputed: eventBody('charge.dispute.created', stripe.dispute({ amount: 1000, currency: 'eur', chargeId: charge.id, paymentIntentId: intent.id })),
        expired: eventBody('checkout.session.expired', { ...session, status: 'expired' }),
      };
      // One at a time in this order; whatever cannot apply yet is redelivered afterwards.
      const leftOver: string[] = [];
      for (const name of sequence) if ((await process([byName[name]])) > 0) leftOver.push(byName[name]);
      expect(await deliverUntilSettled(leftOver)).toEqual([]);
      const final = (await store.getOrder(order.orderId))!;
      finals.add(JSON.stringify({ status: final.paymentStatus, refunded: final.amountRefunded, refundable: final.amountRefundable, disputed: final.disputed }));
    }
    expect([...finals]).toEqual([JSON.stringify({ status: 'paid', refunded: 300, refundable: 700, disputed: true })]);
  });

  it('never moves an order backwards: expired after completed changes nothing', async () => {
    const order = await store.createOrder(pendingOrder());
    const { session } = paidCheckout(order);
    await process([eventBody('checkout.session.completed', session)]);
    expect(await process([eventBody('checkout.session.expired', { ...session, status: 'expired' })])).toBe(0);
    expect((await store.getOrder(order.orderId))?.paymentStatus).toBe('paid');
  });

  it('follows an asynchronous payment: completed unpaid, then async_payment_succeeded', async () => {
    const order = await store.createOrder(pendingOrder());
    const { session, intent } = paidCheckout(order);
    await process([eventBody('checkout.session.completed', { ...session, payment_status: 'unpaid' })]);
    expect(await store.getOrder(order.orderId)).toMatchObject({ paymentStatus: 'pending', paymentIntentId: intent.id });
    await process([eventBody('checkout.session.async_payment_succeeded', session)]);
    expect((await store.getOrder(order.orderId))?.paymentStatus).toBe('paid');
  });

  it('marks a failed asynchronous payment as failed', async () => {
    const order = await store.createOrder(pendingOrder());
    const { session } = paidCheckout(order);
    await process([eventBody('checkout.session.async_payment_failed', { ...session, payment_status: 'unpaid' })]);
    expect((await store.getOrder(order.orderId))?.paymentStatus).toBe('failed');
  });

  it('fails only the poison record of a batch, and the unknown-order one, never their neighbours', async () => {
    const good = await store.createOrder(pendingOrder());
    const stranger = pendingOrder(); // never stored: its events must be retried, not dropped
    const event = sqsEvent([
      eventBody('checkout.session.completed', paidCheckout(good).session),
      'this is not JSON',
      JSON.stringify({ hello: 'world' }),
      eventBody('checkout.session.completed', paidCheckout(stranger).session),
      eventBody('customer.created', { id: 'cus_1', object: 'customer' }),
    ]);
    const { batchItemFailures } = await processor(event, lambdaContext('events'));
    expect(batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual([event.Records[1], event.Records[2], event.Records[3]].map((r) => r.messageId).sort());
    expect((await store.getOrder(good.orderId))?.paymentStatus).toBe('paid');
  });

  it('keeps the failures of concurrent invocations apart (one process, many pollers)', async () => {
    // Each batch: two events that apply and one for an unknown order. Run together, each
    // response must name exactly its own failing record.
    const batches = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const known = [await store.createOrder(pendingOrder()), await store.createOrder(pendingOrder())];
        return sqsEvent([...known.map((o) => eventBody('checkout.session.completed', paidCheckout(o).session)), eventBody('checkout.session.completed', paidCheckout(pendingOrder()).session)]);
      }),
    );
    const responses = await Promise.all(batches.map((batch, i) => processor(batch, lambdaContext(`poller-${i}`))));
    responses.forEach((response, i) => expect(response.batchItemFailures).toEqual([{ itemIdentifier: batches[i].Records[2].messageId }]));
  });

  it('gives a failed refund its amount back exactly once, however often Stripe reports it', async () => {
    const order = await store.createOrder(pendingOrder());
    const { session, intent } = paidCheckout(order);
    await process([eventBody('checkout.session.completed', session)]);
    const refundId = 'rfd_0123456789abcdef0123456789abcdef';
    const now = new Date().toISOString();
    await store.reserveRefund(order.orderId, 'acme', { refundId, amount: 400, reason: null, status: 'reserved', stripeRefundId: null, stripeIdempotencyKey: 'refund-v1-x', createdAt: now, updatedAt: now });
    const refund = stripe.refund({ amount: 400, currency: 'eur', chargeId: 'ch_1', paymentIntentId: intent.id, reason: null, metadata: { orderId: order.orderId, refundId } });
    await process([eventBody('refund.created', refund)]);
    expect(await store.getOrder(order.orderId)).toMatchObject({ amountRefunded: 400, amountRefundable: 600 });
    const failed = { ...refund, status: 'failed' };
    // Two distinct events (refund.updated and refund.failed) report the same failure.
    await process([eventBody('refund.updated', failed), eventBody('refund.failed', failed)]);
    await process([eventBody('refund.failed', failed)]);
    const final = await store.getOrder(order.orderId);
    expect(final).toMatchObject({ amountRefunded: 0, amountRefundable: 1000 });
    expect(final?.refunds[refundId]).toMatchObject({ status: 'failed', stripeRefundId: refund.id });
  });
});
