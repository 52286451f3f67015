import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { StripeEvent } from '../../lambdas/domain/stripe-events';
import { applySubscriptionEvent, MAX_SYNC_ROUNDS, SubscriptionStillChangingError } from '../../lambdas/domain/subscription-events';
import type { BillingReader } from '../../lambdas/domain/subscription-ports';
import { createEventProcessor } from '../../lambdas/events/create-event-processor';
import type { StripeBillingGateway } from '../../lambdas/shared/stripe-billing-gateway';
import { DynamoDbSubscriptionStore, keys } from '../../lambdas/shared/subscription-store';
import { reconcileSubscriptions } from '../../bin/reconcile-subscriptions';
import { lambdaContext } from '../../local/lambda-context';
import type { StripeObject } from '../../local/stripe-emulator/stripe-objects';
import { sqsEvent } from '../support/orders';
import { overriding, TABLES, type Harness } from '../support/harness';
import { subscriptionWorld } from '../support/subscription-world';

/**
 * The record follows ITS Stripe subscription while Stripe keeps changing: plan switches to
 * another product (the guard moves), several items, a processor paused between its Stripe read
 * and its write, Stripe changing faster than the sync loop, and events applied while Stripe is
 * still changing (not only after it settled).
 */
const world = subscriptionWorld();
let h: Harness;
let billing: StripeBillingGateway;
let store: DynamoDbSubscriptionStore;
let basic: { price: string; product: string };
let team: { price: string; product: string };
beforeAll(() => ({ h, billing, store, basic, team } = world.w));

const { subscribe, helper, eventsOf, record, guardHolder, switchPlan } = world;
/** One delivery, reading Stripe through `reader` (a gated one, to pause a processor) when given. */
const apply = (event: StripeObject, reader?: BillingReader) => world.apply(event, { reader });

/** Our record, in the fields Stripe decides, next to Stripe's subscription. */
async function oursAndStripes(subscriptionId: string) {
  const ours = await record(subscriptionId);
  const atStripe = await h.stripe.subscriptions.retrieve(ours.stripeSubscriptionId!);
  const item = atStripe.items.data[0];
  return {
    ours: { status: ours.status, product: ours.product, price: ours.price, quantity: ours.quantity, currentPeriodEnd: ours.currentPeriodEnd, cancelAtPeriodEnd: ours.cancelAtPeriodEnd },
    stripe: { status: atStripe.status, product: item.price.product, price: item.price.id, quantity: item.quantity, currentPeriodEnd: item.current_period_end, cancelAtPeriodEnd: atStripe.cancel_at_period_end },
  };
}
const expectEqualToStripe = async (subscriptionId: string) => {
  const { ours, stripe } = await oursAndStripes(subscriptionId);
  expect(ours).toEqual(stripe);
};

async function paid(userId: string, price = basic.price) {
  const opened = await subscribe(userId, price);
  expect(opened.status).toBe(201);
  const completion = await eventsOf(() => helper(`checkout/sessions/${opened.body.checkoutSessionId}/complete`));
  for (const event of completion) await apply(event);
  const subscriptionId = opened.body.subscriptionId as string;
  const stripeSubscriptionId = (await record(subscriptionId)).stripeSubscriptionId!;
  expect((await record(subscriptionId)).status).toBe('active');
  return { subscriptionId, stripeSubscriptionId, completion };
}

describe('plan switch to another product', () => {
  it('the record follows Stripe (product, price, quantity, then status/period/cancel), and the guard moves: the old product is free, the new one taken', async () => {
    const { subscriptionId, stripeSubscriptionId } = await paid('switcher');
    expect(await guardHolder('switcher', basic.product)).toBe(subscriptionId);
    const switched = await switchPlan(stripeSubscriptionId, team.price, 2);
    for (const event of switched) await apply(event);
    expect(await record(subscriptionId)).toMatchObject({ product: team.product, price: team.price, quantity: 2, status: 'active', anomalies: [] });
    expect(await guardHolder('switcher', team.product)).toBe(subscriptionId);
    expect(await guardHolder('switcher', basic.product)).toBeUndefined();
    // The old code froze the record here: later renewals and a cancellation must still apply.
    for (const event of await eventsOf(() => helper(`subscriptions/${stripeSubscriptionId}/renew`, { outcome: 'failed' }))) await apply(event);
    for (const event of await eventsOf(() => h.stripe.subscriptions.update(stripeSubscriptionId, { cancel_at_period_end: true }))) await apply(event);
    await expectEqualToStripe(subscriptionId);
    expect((await record(subscriptionId)).status).toBe('past_due');
    // Subscribed to Team (409); Basic is free again, and one checkout for it opens.
    expect(await subscribe('switcher', team.price)).toMatchObject({ status: 409, body: { type: 'urn:payments:problem:already-subscribed', subscriptionId } });
    const basicAgain = await subscribe('switcher', basic.price);
    expect(basicAgain.status).toBe(201);
    expect(await guardHolder('switcher', basic.product)).toBe(basicAgain.body.subscriptionId);
    // The period ends (cancel at period end): the Team guard is released too.
    for (const event of await eventsOf(() => helper(`subscriptions/${stripeSubscriptionId}/renew`))) await apply(event);
    expect((await record(subscriptionId)).status).toBe('canceled');
    expect(await guardHolder('switcher', team.product)).toBeUndefined();
  });

  it('a crash lost the old product\'s guard release after a switch: the next checkout for that product frees it and opens', async () => {
    const { subscriptionId, stripeSubscriptionId } = await paid('crashed-switch');
    const oldGuard = (await store.scanAll()).find((i) => i.pk === keys.guard('acme', 'crashed-switch', basic.product))!;
    for (const event of await switchPlan(stripeSubscriptionId, team.price)) await apply(event);
    expect(await guardHolder('crashed-switch', basic.product)).toBeUndefined();
    // The record moved to Team, but the Basic guard is back as if its release had never run.
    await DynamoDBDocumentClient.from(h.db.client).send(new PutCommand({ TableName: TABLES.subscriptions, Item: oldGuard }));
    expect(await guardHolder('crashed-switch', basic.product)).toBe(subscriptionId);
    const sessionsBefore = h.emulator.state.sessions.size;
    const basicAgain = await subscribe('crashed-switch', basic.price);
    expect(basicAgain.status).toBe(201);
    expect(h.emulator.state.sessions.size).toBe(sessionsBefore + 1);
    expect(await guardHolder('crashed-switch', basic.product)).toBe(basicAgain.body.subscriptionId);
    expect(await guardHolder('crashed-switch', team.product)).toBe(subscriptionId);
  });

  it('switching to a product the user already holds live: Stripe\'s state is applied and the two-live anomaly recorded (and shown by reconcile), never merged', async () => {
    const onBasic = await paid('doubler', basic.price);
    const onTeam = await paid('doubler', team.price);
    const switched = await switchPlan(onBasic.stripeSubscriptionId, team.price);
    for (const event of switched) await apply(event);
    const moved = await record(onBasic.subscriptionId);
    expect(moved).toMatchObject({ product: team.product, price: team.price, status: 'active', stripeSubscriptionId: onBasic.stripeSubscriptionId });
    expect(moved.anomalies.map((a) => a.kind)).toEqual(['duplicate_live_subscription']);
    // The other record is untouched and keeps its guard; the moved one released Basic's.
    expect(await record(onTeam.subscriptionId)).toMatchObject({ product: team.product, stripeSubscriptionId: onTeam.stripeSubscriptionId, anomalies: [] });
    expect(await guardHolder('doubler', team.product)).toBe(onTeam.subscriptionId);
    expect(await guardHolder('doubler', basic.product)).toBeUndefined();
    // The anomaly does not freeze the record: a later change still applies, the anomaly is kept once.
    for (const event of await eventsOf(() => helper(`subscriptions/${onBasic.stripeSubscriptionId}/renew`))) await apply(event);
    await expectEqualToStripe(onBasic.subscriptionId);
    expect((await record(onBasic.subscriptionId)).anomalies).toHaveLength(1);
    const { drift } = await reconcileSubscriptions({ stripe: h.stripe, dynamoDb: h.db.client, subscriptionsTableName: TABLES.subscriptions });
    const mine = drift.filter((d) => JSON.stringify(d).includes(onBasic.stripeSubscriptionId) || JSON.stringify(d).includes(onBasic.subscriptionId));
    expect(mine.map((d) => d.kind).sort()).toEqual(['duplicate_live_subscriptions', 'subscription_anomaly']);
    // When the other one ends, the guard goes to the moved record at once: never free while it is live on Team.
    for (const event of await eventsOf(() => h.stripe.subscriptions.cancel(onTeam.stripeSubscriptionId))) await apply(event);
    expect(await guardHolder('doubler', team.product)).toBe(onBasic.subscriptionId);
    for (const event of await eventsOf(() => helper(`subscriptions/${onBasic.stripeSubscriptionId}/renew`))) await apply(event);
    expect(await guardHolder('doubler', team.product)).toBe(onBasic.subscriptionId);
  });

  it('several items (added through the API): a multiple_items anomaly, and status/period/cancel keep following Stripe', async () => {
    const { subscriptionId, stripeSubscriptionId } = await paid('bundler');
    for (const event of await eventsOf(() => h.stripe.subscriptions.update(stripeSubscriptionId, { items: [{ price: team.price, quantity: 1 }] }))) await apply(event);
    expect((await record(subscriptionId)).anomalies.map((a) => a.kind)).toEqual(['multiple_items']);
    expect(await record(subscriptionId)).toMatchObject({ product: basic.product, price: basic.price });
    for (const event of await eventsOf(() => helper(`subscriptions/${stripeSubscriptionId}/renew`, { outcome: 'failed' }))) await apply(event);
    for (const event of await eventsOf(() => h.stripe.subscriptions.update(stripeSubscriptionId, { cancel_at_period_end: true }))) await apply(event);
    const atStripe = await h.stripe.subscriptions.retrieve(stripeSubscriptionId);
    expect(await record(subscriptionId)).toMatchObject({ status: 'past_due', cancelAtPeriodEnd: true, currentPeriodEnd: atStripe.items.data[0].current_period_end });
    expect((await record(subscriptionId)).anomalies).toHaveLength(1);
  });
});

describe('the fetch-write-refetch loop', () => {
  it('a processor paused between its Stripe read and its write, while Stripe changes and another processor applies the newer state: the record ends equal to Stripe', async () => {
    const { subscriptionId, stripeSubscriptionId } = await paid('paused-reader');
    let releaseSlow!: () => void;
    let slowHasRead!: () => void;
    const slowRead = new Promise<void>((resolve) => { slowHasRead = resolve; });
    const gate = new Promise<void>((resolve) => { releaseSlow = resolve; });
    let slowReads = 0;
    const slowReader = overriding(billing, {
      retrieveSubscription: async (id: string) => {
        const snapshot = await billing.retrieveSubscription(id);
        if (++slowReads === 1) {
          slowHasRead();
          await gate; // holds the snapshot it read while Stripe moves on
        }
        return snapshot;
      },
    });
    const renewal = await eventsOf(() => helper(`subscriptions/${stripeSubscriptionId}/renew`));
    const slow = apply(renewal.find((e) => e.type === 'invoice.paid')!, slowReader);
    await slowRead;
    // Stripe moves on: cancellation at period end, then a plan switch; a fast processor applies them.
    const later = [...await eventsOf(() => h.stripe.subscriptions.update(stripeSubscriptionId, { cancel_at_period_end: true })), ...await switchPlan(stripeSubscriptionId, team.price, 3)];
    for (const event of later) await apply(event);
    await expectEqualToStripe(subscriptionId);
    const beforeSlowWrite = await record(subscriptionId);
    releaseSlow();
    expect((await slow).outcome).toBe('applied'); // it wrote its old snapshot back…
    expect(slowReads).toBeGreaterThanOrEqual(2); // …then read Stripe again and restored the newer state
    await expectEqualToStripe(subscriptionId);
    expect(await record(subscriptionId)).toMatchObject({ cancelAtPeriodEnd: true, product: team.product, quantity: 3 });
    expect((await record(subscriptionId)).version).toBeGreaterThan(beforeSlowWrite.version);
    expect(await guardHolder('paused-reader', team.product)).toBe(subscriptionId);
    expect(await guardHolder('paused-reader', basic.product)).toBeUndefined();
  });

  it(`Stripe changing after every write for ${MAX_SYNC_ROUNDS} rounds: the event fails (the queue retries it), never acked with a stale record; the retry converges`, async () => {
    const { subscriptionId, stripeSubscriptionId } = await paid('churner');
    let churning = true;
    let reads = 0;
    // Each read is followed at once by a change at Stripe, so every write is already behind.
    const churningReader = overriding(billing, {
      retrieveSubscription: async (id: string) => {
        const snapshot = await billing.retrieveSubscription(id);
        reads++;
        if (churning) await h.stripe.subscriptions.update(id, { cancel_at_period_end: !snapshot!.cancelAtPeriodEnd });
        return snapshot;
      },
    });
    const [updated] = await eventsOf(() => h.stripe.subscriptions.update(stripeSubscriptionId, { cancel_at_period_end: true }));
    await expect(applySubscriptionEvent(updated as unknown as StripeEvent, { subscriptions: store, billing: churningReader })).rejects.toBeInstanceOf(SubscriptionStillChangingError);
    expect(reads).toBe(MAX_SYNC_ROUNDS);
    const { ours, stripe } = await oursAndStripes(subscriptionId);
    expect(ours.cancelAtPeriodEnd).not.toBe(stripe.cancelAtPeriodEnd); // what acking now would have left behind

    // Through the processor: the message is reported failed (SQS redelivers it), not acknowledged.
    const processor = createEventProcessor({
      dynamoDb: h.db.client, ordersTableName: TABLES.orders, idempotencyTableName: TABLES.idempotency, stripe: h.gateway,
      subscriptions: { tableName: TABLES.subscriptions, billing: overriding(billing, { retrieveSubscription: churningReader.retrieveSubscription }) },
    });
    const batch = sqsEvent([JSON.stringify(updated)]);
    expect((await processor(batch, lambdaContext('events'))).batchItemFailures).toEqual([{ itemIdentifier: batch.Records[0].messageId }]);
    // Stripe settles; the redelivered message now converges and is acknowledged.
    churning = false;
    expect((await processor(batch, lambdaContext('events'))).batchItemFailures).toEqual([]);
    await expectEqualToStripe(subscriptionId);
  });
});

/** A tiny seeded generator: each schedule is reproducible from its seed. */
const random = (seed: number) => () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
  return seed / 2 ** 31;
};

describe('events applied while Stripe is still changing', () => {
  const SCHEDULES = 12;
  it(`${SCHEDULES} schedules: renewal, plan switch, pause/resume, failed renewal, cancel at period end, un-cancel — each followed by a shuffled, duplicated part of what is pending; the record ends equal to Stripe and older events re-delivered change nothing`, async () => {
    for (let schedule = 1; schedule <= SCHEDULES; schedule++) {
      const next = random(schedule * 7919);
      const { subscriptionId, stripeSubscriptionId, completion } = await paid(`interleaved-${schedule}`);
      const actions: (() => Promise<unknown>)[] = [
        () => helper(`subscriptions/${stripeSubscriptionId}/renew`),
        () => switchPlan(stripeSubscriptionId, team.price, 2),
        () => helper(`subscriptions/${stripeSubscriptionId}/pause`),
        () => h.stripe.subscriptions.resume(stripeSubscriptionId),
        () => helper(`subscriptions/${stripeSubscriptionId}/renew`, { outcome: 'failed' }),
        () => h.stripe.subscriptions.update(stripeSubscriptionId, { cancel_at_period_end: true }),
        () => h.stripe.subscriptions.update(stripeSubscriptionId, { cancel_at_period_end: false }),
        () => switchPlan(stripeSubscriptionId, basic.price, 1),
      ];
      const all: StripeObject[] = [...completion];
      let pending: StripeObject[] = [];
      for (const action of actions) {
        const emitted = await eventsOf(action);
        all.push(...emitted);
        pending.push(...emitted);
        // Deliver a random part of what is pending, shuffled, some twice; the rest waits.
        const shuffled = pending.map((event) => ({ event, key: next() })).sort((a, b) => a.key - b.key).map((x) => x.event);
        const now = shuffled.slice(0, Math.floor(next() * (shuffled.length + 1)));
        const twice = now.filter(() => next() < 0.3);
        await Promise.all([...now, ...twice].map((event) => apply(event)));
        pending = pending.filter((event) => !now.includes(event));
      }
      for (const event of pending.reverse()) await apply(event);
      await expectEqualToStripe(subscriptionId);
      const settled = await record(subscriptionId);
      expect(settled).toMatchObject({ status: 'past_due', cancelAtPeriodEnd: false, product: basic.product, anomalies: [] });
      // Every older event once more, oldest first: nothing regresses, nothing is written.
      for (const event of all) await apply(event);
      expect((await record(subscriptionId)).version).toBe(settled.version);
      expect(await guardHolder(`interleaved-${schedule}`, basic.product)).toBe(subscriptionId);
      expect(await guardHolder(`interleaved-${schedule}`, team.product)).toBeUndefined();
    }
  }, 120_000);
});
