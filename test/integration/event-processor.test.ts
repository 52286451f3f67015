import { createEventProcessor } from '../../lambdas/events/create-event-processor';
import { applyRefundFact, orderView } from '../../lambdas/domain/ledger';
import { refundFactOf } from '../../lambdas/domain/stripe-events';
import { DynamoDbOrderStore } from '../../lambdas/shared/order-store';
import { lambdaContext } from '../../local/lambda-context';
import type { StripeObject } from '../../local/stripe-emulator/stripe-objects';
import { sqsEvent } from '../support/orders';
import { countItems, createPrice, startHarness, TABLES, type Harness } from '../support/harness';
import { checkoutOrder } from '../support/paid-order';

/**
 * The processor against real Stripe objects: every event here was emitted by the emulator for
 * something done through the real SDK, then delivered duplicated, reordered or foreign.
 */
let h: Harness;
let store: DynamoDbOrderStore;
let processor: ReturnType<typeof createEventProcessor>;

beforeAll(async () => {
  h = await startHarness();
  store = new DynamoDbOrderStore(h.db.client, TABLES.orders);
  processor = createEventProcessor({ dynamoDb: h.db.client, ordersTableName: TABLES.orders, idempotencyTableName: TABLES.idempotency, stripe: h.gateway });
});
afterAll(() => h.close());

const bodyOf = (event: StripeObject) => JSON.stringify(event);
const objectOf = (event: StripeObject) => (event.data as { object: StripeObject }).object;
/** Events emitted by whatever `action` did at Stripe. */
async function eventsOf(action: () => Promise<unknown>): Promise<StripeObject[]> {
  const before = h.emulator.state.events.length;
  await action();
  return h.emulator.state.events.slice(before);
}
const helper = (path: string, params: Record<string, unknown> = {}) => h.stripe.rawRequest('POST', `/v1/test_helpers/${path}`, params);

async function process(events: StripeObject[]) {
  const response = await processor(sqsEvent(events.map(bodyOf)), lambdaContext('events'));
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

/** An order paid at Stripe, with the events of the payment not yet delivered. */
async function paidAtStripe(amount = 1000) {
  const order = await checkoutOrder(h, amount);
  const events = await eventsOf(() => helper(`checkout/sessions/${order.checkoutSessionId}/complete`));
  const paymentIntentId = objectOf(events.find((e) => e.type === 'checkout.session.completed')!).payment_intent as string;
  return { order, events, paymentIntentId };
}

const view = async (orderId: string) => orderView((await store.getOrder(orderId))!);

describe('event processor', () => {
  it('marks the order paid on its own session completing, and indexes the payment intent', async () => {
    const { order, events, paymentIntentId } = await paidAtStripe();
    expect(await process(events)).toBe(0);
    expect(await view(order.orderId)).toMatchObject({ status: 'paid', paymentIntentId, amountTotal: 1000, amountRefundable: 1000 });
    expect(await store.findOrderIdByPaymentIntent(paymentIntentId)).toBe(order.orderId);
  });

  it('applies the same event delivered 5 times exactly once', async () => {
    const { order, events } = await paidAtStripe();
    const completed = events.filter((e) => e.type === 'checkout.session.completed');
    const recordsBefore = await countItems(h.db.client, TABLES.idempotency);
    expect(await process(completed)).toBe(0);
    const afterFirst = await store.getOrder(order.orderId);
    for (let i = 0; i < 4; i++) expect(await process(completed)).toBe(0);
    expect(await store.getOrder(order.orderId)).toEqual(afterFirst); // same version: no second write
    expect(await countItems(h.db.client, TABLES.idempotency)).toBe(recordsBefore + 1);
  });

  it('absorbs 5 copies of one event in a single batch: one applies, the rest wait or replay', async () => {
    const { order, events } = await paidAtStripe();
    const body = bodyOf(events.find((e) => e.type === 'checkout.session.completed')!);
    expect(await deliverUntilSettled([body, body, body, body, body])).toEqual([]);
    expect((await store.getOrder(order.orderId))!.version).toBe(2);
  });

  // Finding 1: a session that merely names our order (a Payment Link with ?client_reference_id=)
  it('never lets another session pay for an order: acknowledged as foreign, the real payment still applies', async () => {
    const order = await checkoutOrder(h, 100_000);
    const cheap = await createPrice(h.stripe, 100);
    const foreign = await h.stripe.checkout.sessions.create({ mode: 'payment', line_items: [{ price: cheap, quantity: 1 }], success_url: 'https://evil.example', client_reference_id: order.orderId });
    const attack = await eventsOf(() => helper(`checkout/sessions/${foreign.id}/complete`));
    expect(await process(attack)).toBe(0);
    const afterAttack = (await store.getOrder(order.orderId))!;
    expect(orderView(afterAttack)).toMatchObject({ status: 'pending', amountTotal: 100_000, paymentIntentId: null });
    expect(afterAttack.anomalies).toEqual([]); // foreign: counted, nothing written, nobody paged
    expect(afterAttack.version).toBe(order.version);

    const real = await eventsOf(() => helper(`checkout/sessions/${order.checkoutSessionId}/complete`));
    expect(await process(real)).toBe(0);
    expect(await view(order.orderId)).toMatchObject({ status: 'paid', amountTotal: 100_000, amountRefundable: 100_000 });
  });

  // Finding 5: events about payments we did not create are acknowledged, never retried or applied.
  it('acknowledges foreign sessions, refunds and disputes without a write or a retry', async () => {
    const price = await createPrice(h.stripe, 500);
    const other = await h.stripe.checkout.sessions.create({ mode: 'payment', line_items: [{ price, quantity: 1 }], success_url: 'https://other.example', client_reference_id: 'ord_00000000000000000000000000000000' });
    const paid = await eventsOf(() => helper(`checkout/sessions/${other.id}/complete`));
    const intent = (await h.stripe.checkout.sessions.retrieve(other.id)).payment_intent as string;
    const refunded = await eventsOf(() => h.stripe.refunds.create({ payment_intent: intent, amount: 100 }));
    const disputed = await eventsOf(() => helper(`payment_intents/${intent}/dispute`));
    const ordersBefore = await countItems(h.db.client, TABLES.orders);
    expect(await process([...paid, ...refunded, ...disputed])).toBe(0);
    expect(await countItems(h.db.client, TABLES.orders)).toBe(ordersBefore);
  });

  // Finding 3: refunds made outside the API are ledger entries like ours, whatever the order of events.
  it('counts a Dashboard refund, and uncounts it when it fails, in every delivery order', async () => {
    const finals = new Set<string>();
    const permutations = <T>(items: T[]): T[][] =>
      items.length <= 1 ? [items] : items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
    for (const sequence of permutations(['paid', 'refunded', 'failed', 'disputed'])) {
      const { order, events: paid, paymentIntentId } = await paidAtStripe();
      const refunded = await eventsOf(() => h.stripe.refunds.create({ payment_intent: paymentIntentId, amount: 300 })); // no metadata: Dashboard
      const refundId = objectOf(refunded[0]).id;
      const failed = await eventsOf(() => helper(`refunds/${refundId}/fail`));
      const outside = await eventsOf(() => h.stripe.refunds.create({ payment_intent: paymentIntentId, amount: 200 }));
      const disputed = await eventsOf(() => helper(`payment_intents/${paymentIntentId}/dispute`));
      const byName: Record<string, StripeObject[]> = { paid, refunded: [...refunded, ...outside], failed, disputed };
      const leftOver: string[] = [];
      for (const name of sequence) {
        const batch = sqsEvent(byName[name].map(bodyOf));
        const { batchItemFailures } = await processor(batch, lambdaContext('events'));
        const failedIds = new Set(batchItemFailures.map((f) => f.itemIdentifier));
        leftOver.push(...batch.Records.filter((r) => failedIds.has(r.messageId)).map((r) => r.body));
      }
      expect(await deliverUntilSettled(leftOver)).toEqual([]);
      const { amountRefunded, amountRefundable, status, disputes, refunds } = await view(order.orderId);
      finals.add(JSON.stringify({ amountRefunded, amountRefundable, status, disputes: disputes.map((d) => d.outcome), refunds: refunds.map((r) => `${r.amount}:${r.status}:${r.source}`).sort() }));
    }
    expect([...finals].map((f) => JSON.parse(f))).toEqual([
      { amountRefunded: 200, amountRefundable: 800, status: 'partially_refunded', disputes: ['open'], refunds: ['200:succeeded:outside', '300:failed:outside'] },
    ]);
  });

  // Finding 9: an unknown refund status is recorded, not dead-lettered.
  it('records a refund status it does not know as an anomaly and acknowledges the event', async () => {
    const { order, events, paymentIntentId } = await paidAtStripe();
    await process(events);
    const refunded = await eventsOf(() => h.stripe.refunds.create({ payment_intent: paymentIntentId, amount: 100 }));
    const odd = structuredClone(refunded.find((e) => e.type === 'refund.created')!);
    Object.assign(odd, { id: `${odd.id}x`, type: 'refund.updated' });
    objectOf(odd).status = 'in_transit_to_mars';
    expect(await process([odd])).toBe(0);
    const stored = (await store.getOrder(order.orderId))!;
    expect(stored.anomalies.map((a) => a.kind)).toEqual(['unknown_refund_status']);
    expect(orderView(stored).amountRefunded).toBe(0);
  });

  it('brings an order up to date from Stripe when a refund arrives before the payment event', async () => {
    const { order, events, paymentIntentId } = await paidAtStripe();
    const refunded = await eventsOf(() => h.stripe.refunds.create({ payment_intent: paymentIntentId, amount: 250 }));
    expect(await process(refunded)).toBe(0); // no retry needed: the session was fetched from Stripe
    expect(await view(order.orderId)).toMatchObject({ status: 'partially_refunded', amountRefunded: 250, paymentIntentId });
    expect(await process(events)).toBe(0);
    expect(await view(order.orderId)).toMatchObject({ status: 'partially_refunded', amountRefunded: 250 });
  });

  it('follows an asynchronous payment: completed unpaid, then async_payment_succeeded, never backwards', async () => {
    const order = await checkoutOrder(h, 1000);
    const completed = await eventsOf(() => helper(`checkout/sessions/${order.checkoutSessionId}/complete`, { payment_status: 'unpaid' }));
    const succeeded = await eventsOf(() => helper(`checkout/sessions/${order.checkoutSessionId}/async_payment`, { outcome: 'succeeded' }));
    expect(await process(succeeded)).toBe(0);
    expect(await process(completed)).toBe(0);
    expect((await view(order.orderId)).status).toBe('paid');
  });

  it('marks a failed asynchronous payment as failed', async () => {
    const order = await checkoutOrder(h, 1000);
    const events = await eventsOf(async () => {
      await helper(`checkout/sessions/${order.checkoutSessionId}/complete`, { payment_status: 'unpaid' });
      await helper(`checkout/sessions/${order.checkoutSessionId}/async_payment`, { outcome: 'failed' });
    });
    expect(await process(events.reverse())).toBe(0);
    expect((await view(order.orderId)).status).toBe('failed');
  });

  it('fails only the poison records of a batch, never their neighbours', async () => {
    const { order, events } = await paidAtStripe();
    const event = sqsEvent([
      bodyOf(events.find((e) => e.type === 'checkout.session.completed')!),
      'this is not JSON',
      JSON.stringify({ hello: 'world' }),
      JSON.stringify({ id: 'evt_1', object: 'event', type: 'customer.created', created: 1, data: { object: { id: 'cus_1', object: 'customer' } } }),
    ]);
    const { batchItemFailures } = await processor(event, lambdaContext('events'));
    expect(batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual([event.Records[1], event.Records[2]].map((r) => r.messageId).sort());
    expect((await view(order.orderId)).status).toBe('paid');
  });

  it('keeps the failures of concurrent invocations apart (one process, many pollers)', async () => {
    const batches: ReturnType<typeof sqsEvent>[] = [];
    for (let i = 0; i < 8; i++) {
      const paid = [await paidAtStripe(), await paidAtStripe()]; // one at a time: eventsOf slices a shared log
      batches.push(sqsEvent([...paid.map((p) => bodyOf(p.events.find((e) => e.type === 'checkout.session.completed')!)), 'poison']));
    }
    const responses = await Promise.all(batches.map((batch, i) => processor(batch, lambdaContext(`poller-${i}`))));
    responses.forEach((response, i) => expect(response.batchItemFailures).toEqual([{ itemIdentifier: batches[i].Records[2].messageId }]));
  });

  it('fetches an event the webhook enqueued as a pointer (too large for the queue) from Stripe', async () => {
    const { order, events } = await paidAtStripe();
    const completed = events.find((e) => e.type === 'checkout.session.completed')!;
    const pointer = JSON.stringify({ object: 'event_pointer', id: completed.id, type: completed.type, created: completed.created });
    expect((await processor(sqsEvent([pointer]), lambdaContext('events'))).batchItemFailures).toEqual([]);
    expect((await view(order.orderId)).status).toBe('paid');
  });
});

describe('order store', () => {
  // Issue 11: "stale" was decided from a read made after the failed condition, so a refund could
  // be lost to a concurrent write. Now the decision runs again on the item the condition saw.
  it('re-decides on the item the failed condition saw when another writer lands in between', async () => {
    const { order, events, paymentIntentId } = await paidAtStripe();
    await process(events);
    const factOf = async (amount: number) => {
      const batch = await eventsOf(() => h.stripe.refunds.create({ payment_intent: paymentIntentId, amount }));
      return refundFactOf(objectOf(batch.find((e) => e.type === 'refund.created')!))!;
    };
    const [ours, theirs] = [await factOf(100), await factOf(200)];

    const client = h.db.newClient();
    const other = new DynamoDbOrderStore(h.db.newClient(), TABLES.orders);
    const reads: string[] = [];
    let raced = false;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        reads.push(context.commandName as string);
        // The competing write lands after our decision and before our conditional write.
        if (context.commandName === 'PutItemCommand' && !raced) {
          raced = true;
          await other.mutate(order.orderId, (o) => applyRefundFact(o, theirs), null);
        }
        return next(args);
      },
      { step: 'initialize', name: 'interleave' },
    );
    const racing = new DynamoDbOrderStore(client, TABLES.orders);
    const change = await racing.mutate(order.orderId, (o) => applyRefundFact(o, ours), null);

    expect(change.kind).toBe('applied');
    expect(await view(order.orderId)).toMatchObject({ amountRefunded: 300 });
    // One read before deciding, then: DynamoDB returns the item with the failure (no read);
    // dynalite cannot, so there (only) one fresh read replaces it.
    expect(reads).toEqual(['GetItemCommand', 'PutItemCommand', ...(h.db.backend === 'dynalite' ? ['GetItemCommand'] : []), 'PutItemCommand']);
  });
});
