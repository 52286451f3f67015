/**
 * The (tenant, user, product) guard against the records it protects: a guard lost to a crash, a
 * guard freed while another live record of the product still needs it, and a Customer deleted at
 * Stripe. Each counts what reached Stripe and the table, not only the status code.
 */
import { DynamoDbSubscriptionStore } from '../../lambdas/shared/subscription-store';
import { createSubscriptionsHandler } from '../../lambdas/subscriptions/create-subscriptions-handler';
import type { StripeBillingGateway } from '../../lambdas/shared/stripe-billing-gateway';
import type { StripeObject } from '../../local/stripe-emulator/stripe-objects';
import { call, claimsOf, newKey, overriding, TABLES, type Harness } from '../support/harness';
import { subscriptionWorld } from '../support/subscription-world';

const world = subscriptionWorld();
let h: Harness;
let billing: StripeBillingGateway;
let store: DynamoDbSubscriptionStore;
let handler: ReturnType<typeof createSubscriptionsHandler>;
let basic: { price: string; product: string };
let team: { price: string; product: string };
beforeAll(() => ({ h, billing, store, handler, basic, team } = world.w));

const { subscribe, helper, eventsOf, record, guardHolder, switchPlan } = world;
/** One delivery, through `s` (a store that crashes at a chosen call) when given. */
const apply = (event: StripeObject, s?: DynamoDbSubscriptionStore) => world.apply(event, { store: s });
async function paid(userId: string, price: string) {
  const opened = await subscribe(userId, price);
  expect(opened.status).toBe(201);
  for (const event of await eventsOf(() => helper(`checkout/sessions/${opened.body.checkoutSessionId}/complete`))) await apply(event);
  const r = await record(opened.body.subscriptionId);
  expect(r.status).toBe('active');
  return { subscriptionId: r.subscriptionId, stripeSubscriptionId: r.stripeSubscriptionId! };
}
const liveAtStripe = async (customer: string, product: string) =>
  (await h.stripe.subscriptions.list({ customer, status: 'all' })).data.filter((s) => s.status === 'active' && s.items.data[0].price.product === product).map((s) => s.id);
/** What one user has in the table: records (by status), guards (product → holder), the customer link. */
async function itemsOf(userId: string) {
  const items = (await store.scanAll()).filter((i) => i.userId === userId);
  const guards = Object.fromEntries(items.filter((i) => String(i.pk).startsWith('guard#')).map((i) => [i.product, i.subscriptionId]));
  const records = items.filter((i) => String(i.pk).startsWith('subscription#')).length;
  return { items: items.length, records, guards };
}
/** Stripe creates executed since `before` (the emulator's count, by path). */
const creates = () => {
  const at = (path: string) => h.emulator.state.executedCreates.get(path) ?? 0;
  const before = { customers: at('/v1/customers'), sessions: at('/v1/checkout/sessions') };
  return () => ({ customers: at('/v1/customers') - before.customers, sessions: at('/v1/checkout/sessions') - before.sessions });
};

describe('a guard lost in a crash during a plan switch', () => {
  it('comes back with the SQS retry although the record is already equal to Stripe (stale), and a second Team checkout is refused', async () => {
    const { subscriptionId, stripeSubscriptionId } = await paid('crash-take', basic.price);
    const switched = await switchPlan(stripeSubscriptionId, team.price);
    // The processor dies after the record write and the release of Basic, when taking Team.
    let crashes = 0;
    const crashing = overriding(store, {
      takeGuard: async (guard) => {
        if (guard.product === team.product) { crashes++; throw new Error('Lambda timed out'); }
        return store.takeGuard(guard);
      },
    });
    const first = switched.find((e) => e.type === 'customer.subscription.updated')!;
    await expect(apply(first, crashing)).rejects.toThrow('Lambda timed out');
    expect(crashes).toBe(1);
    expect((await itemsOf('crash-take')).guards).toEqual({});
    // SQS retries the failed message (stale now), and Stripe re-sends everything: all with the real store.
    await apply(first);
    expect((await itemsOf('crash-take')).guards).toEqual({ [team.product]: subscriptionId });
    for (const event of switched) await apply(event);
    expect(await record(subscriptionId)).toMatchObject({ product: team.product, status: 'active', anomalies: [] });
    const made = creates();
    const again = await subscribe('crash-take', team.price);
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ type: 'urn:payments:problem:already-subscribed', subscriptionId });
    expect(made()).toEqual({ customers: 0, sessions: 0 });
    expect(await itemsOf('crash-take')).toEqual({ items: 3, records: 1, guards: { [team.product]: subscriptionId } });
  }, 60_000);

  it('POST /v1/subscriptions reads the user\'s records before opening: a live record whose guard is gone (no event since) gets it back, 409', async () => {
    const { subscriptionId } = await paid('no-event', team.price);
    await store.releaseGuard('acme', 'no-event', team.product, subscriptionId); // as a crash in the processor leaves it
    const made = creates();
    const answers = await Promise.all([subscribe('no-event', team.price), subscribe('no-event', team.price), subscribe('no-event', team.price)]);
    expect(answers.map((a) => a.status)).toEqual([409, 409, 409]);
    expect(answers.map((a) => a.body.subscriptionId)).toEqual([subscriptionId, subscriptionId, subscriptionId]);
    expect(made()).toEqual({ customers: 0, sessions: 0 });
    expect(await itemsOf('no-event')).toEqual({ items: 3, records: 1, guards: { [team.product]: subscriptionId } });
  }, 60_000);

  it('an open checkout whose guard is gone is the answer (200, same session) to another key, not a second session', async () => {
    const opened = await subscribe('open-lost', basic.price);
    expect(opened.status).toBe(201);
    await store.releaseGuard('acme', 'open-lost', basic.product, opened.body.subscriptionId);
    const made = creates();
    const again = await subscribe('open-lost', basic.price);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ subscriptionId: opened.body.subscriptionId, checkoutSessionId: opened.body.checkoutSessionId, status: 'checkout_open' });
    expect(made()).toEqual({ customers: 0, sessions: 0 });
    expect(await itemsOf('open-lost')).toEqual({ items: 3, records: 1, guards: { [basic.product]: opened.body.subscriptionId } });
  }, 60_000);
});

describe('two live subscriptions of one product (a plan switch onto a product the user holds)', () => {
  it('when the guard holder is canceled the guard goes to the moved record, still live on Team: a third subscription is refused', async () => {
    const onBasic = await paid('doubler', basic.price);
    const onTeam = await paid('doubler', team.price);
    for (const event of await switchPlan(onBasic.stripeSubscriptionId, team.price)) await apply(event);
    expect((await record(onBasic.subscriptionId)).anomalies.map((a) => a.kind)).toEqual(['duplicate_live_subscription']);
    expect((await itemsOf('doubler')).guards).toEqual({ [team.product]: onTeam.subscriptionId });
    for (const event of await eventsOf(() => h.stripe.subscriptions.cancel(onTeam.stripeSubscriptionId))) await apply(event);
    expect((await record(onTeam.subscriptionId)).status).toBe('canceled');
    expect((await record(onBasic.subscriptionId)).status).toBe('active');
    expect(await itemsOf('doubler')).toEqual({ items: 4, records: 2, guards: { [team.product]: onBasic.subscriptionId } });
    const made = creates();
    const again = await subscribe('doubler', team.price);
    expect(again.status).toBe(409);
    expect(again.body.subscriptionId).toBe(onBasic.subscriptionId);
    expect(made()).toEqual({ customers: 0, sessions: 0 });
    const customer = (await record(onBasic.subscriptionId)).stripeCustomerId;
    expect(await liveAtStripe(customer, team.product)).toEqual([onBasic.stripeSubscriptionId]);
    // Basic is free again: the moved record left it.
    expect((await subscribe('doubler', basic.price)).status).toBe(201);
  }, 60_000);

  it('a crash between the holder\'s end and the hand-over: the retry (stale) hands the guard on; once both have ended it is free', async () => {
    const onBasic = await paid('doubler-crash', basic.price);
    const onTeam = await paid('doubler-crash', team.price);
    for (const event of await switchPlan(onBasic.stripeSubscriptionId, team.price)) await apply(event);
    const canceled = await eventsOf(() => h.stripe.subscriptions.cancel(onTeam.stripeSubscriptionId));
    const died = async () => { throw new Error('Lambda timed out'); };
    const crashing = overriding(store, { listByOwner: died, releaseGuard: died, handGuard: died });
    await expect(apply(canceled[0], crashing)).rejects.toThrow('Lambda timed out');
    expect((await record(onTeam.subscriptionId)).status).toBe('canceled');
    for (const event of canceled) await apply(event);
    expect((await itemsOf('doubler-crash')).guards).toEqual({ [team.product]: onBasic.subscriptionId });
    const made = creates();
    expect((await subscribe('doubler-crash', team.price)).status).toBe(409);
    expect(made()).toEqual({ customers: 0, sessions: 0 });
    for (const event of await eventsOf(() => h.stripe.subscriptions.cancel(onBasic.stripeSubscriptionId))) await apply(event);
    expect((await itemsOf('doubler-crash')).guards).toEqual({});
    const fresh = await subscribe('doubler-crash', team.price);
    expect(fresh.status).toBe(201);
    expect(made()).toEqual({ customers: 0, sessions: 1 });
    expect(await itemsOf('doubler-crash')).toEqual({ items: 5, records: 3, guards: { [team.product]: fresh.body.subscriptionId } });
  }, 60_000);
});

describe('a Customer deleted at Stripe (Dashboard)', () => {
  it('is replaced by one new Customer however many requests race; the portal answers 404 meanwhile, never a 5xx', async () => {
    const { subscriptionId } = await paid('deleted-cus', basic.price);
    const deletedCustomer = (await record(subscriptionId)).stripeCustomerId;
    for (const event of await eventsOf(() => h.stripe.customers.del(deletedCustomer))) await apply(event);
    expect((await record(subscriptionId)).status).toBe('canceled');
    expect((await itemsOf('deleted-cus')).guards).toEqual({});
    const portal = () => call(handler, { path: '/v1/billing-portal-sessions', resource: '/v1/billing-portal-sessions', claims: claimsOf('acme', 'deleted-cus'), headers: { 'Idempotency-Key': newKey() }, body: { returnUrl: 'https://x.example/back' } });
    const before = await portal();
    expect(before.status).toBe(404);
    expect(before.body.type).toBe('urn:payments:problem:not-found');
    const made = creates();
    const answers = await Promise.all([subscribe('deleted-cus', basic.price), subscribe('deleted-cus', basic.price), subscribe('deleted-cus', team.price), subscribe('deleted-cus', team.price)]);
    // A request that met another's Stripe create in flight answers 409 in-progress and is retried.
    for (const busy of answers.filter((a) => a.status === 409)) expect(busy.body.type).toBe('urn:payments:problem:subscription-checkout-in-progress');
    expect(answers.filter((a) => a.status === 201).length).toBeLessThanOrEqual(2);
    const [basicAgain, teamAgain] = [await subscribe('deleted-cus', basic.price), await subscribe('deleted-cus', team.price)];
    // 200 (the session one of the racing requests opened), or 201 when every request for that product met a create in flight.
    for (const settled of [basicAgain, teamAgain]) expect([200, 201]).toContain(settled.status);
    const sessions = new Set([...answers.filter((a) => a.status !== 409), basicAgain, teamAgain].map((a) => a.body.checkoutSessionId));
    expect([...sessions].sort()).toEqual([basicAgain.body.checkoutSessionId, teamAgain.body.checkoutSessionId].sort());
    expect(made()).toEqual({ customers: 1, sessions: 2 });
    const replacement = (await store.customerOf('acme', 'deleted-cus'))!;
    expect(replacement).not.toBe(deletedCustomer);
    const opened = await Promise.all([basicAgain, teamAgain].map((a) => record(a.body.subscriptionId)));
    expect(opened.map((r) => r.stripeCustomerId)).toEqual([replacement, replacement]);
    expect(await h.stripe.customers.retrieve(replacement)).toMatchObject({ id: replacement, metadata: { tenantId: 'acme', userId: 'deleted-cus' } });
    const after = await portal();
    expect(after.status).toBe(201);
    expect(h.emulator.state.billing.portalSessions.size).toBeGreaterThan(0);
    expect([...h.emulator.state.billing.portalSessions.values()].at(-1)!.customer).toBe(replacement);
  }, 60_000);
  it('an open checkout of the deleted Customer is expired and replaced by one of the new Customer, not handed out again', async () => {
    const opened = await subscribe('deleted-open', basic.price);
    expect(opened.status).toBe(201);
    const deletedCustomer = (await record(opened.body.subscriptionId)).stripeCustomerId;
    for (const event of await eventsOf(() => h.stripe.customers.del(deletedCustomer))) await apply(event);
    const made = creates();
    const again = await subscribe('deleted-open', basic.price);
    expect(again.status).toBe(201);
    expect(again.body.checkoutSessionId).not.toBe(opened.body.checkoutSessionId);
    expect(made()).toEqual({ customers: 1, sessions: 1 });
    expect(h.emulator.state.sessions.get(opened.body.checkoutSessionId)!.status).toBe('expired');
    expect((await record(opened.body.subscriptionId)).status).toBe('checkout_expired');
    expect((await record(again.body.subscriptionId)).stripeCustomerId).toBe(await store.customerOf('acme', 'deleted-open'));
    expect(await itemsOf('deleted-open')).toEqual({ items: 4, records: 2, guards: { [basic.product]: again.body.subscriptionId } });
  }, 60_000);
});

describe('a Customer deleted while another request holds the guard', () => {
  const handlerWith = (b: StripeBillingGateway) => createSubscriptionsHandler({ dynamoDb: h.db.client, subscriptionsTableName: TABLES.subscriptions, idempotencyTableName: TABLES.idempotency, billing: b });

  it('a crash after Stripe opened the holder\'s checkout, then the Customer deleted: the next request expires that checkout and opens its own for the new Customer', async () => {
    const crashing = overriding(billing, {
      createSubscriptionCheckout: async (input, key) => {
        await billing.createSubscriptionCheckout(input, key);
        throw new Error('Lambda timed out');
      },
    });
    expect((await subscribe('crash-deleted', team.price, handlerWith(crashing))).status).toBe(500);
    const deleted = (await store.customerOf('acme', 'crash-deleted'))!;
    for (const event of await eventsOf(() => h.stripe.customers.del(deleted))) await apply(event);

    const made = creates();
    const next = await subscribe('crash-deleted', team.price);
    expect(next.status).toBe(201);
    // One new Customer, one new session (the holder's create was Stripe's replay of the crashed one).
    expect(made()).toEqual({ customers: 1, sessions: 1 });
    const replacement = (await store.customerOf('acme', 'crash-deleted'))!;
    expect(replacement).not.toBe(deleted);
    expect((await record(next.body.subscriptionId)).stripeCustomerId).toBe(replacement);
    expect(await guardHolder('crash-deleted', team.product)).toBe(next.body.subscriptionId);
    // The crashed request's checkout, of the deleted Customer, is recorded and expired: nobody can pay it.
    const open = (await h.stripe.checkout.sessions.list({ limit: 100 })).data.filter((s) => s.status === 'open' && [deleted, replacement].includes(s.customer as string));
    expect(open.map((s) => s.id)).toEqual([next.body.checkoutSessionId]);
  });

  it('no crash: the Customer deleted while the holder is between Stripe and its record write; a second tab gets no 422, and one checkout of the new Customer is open at the end', async () => {
    const seed = await subscribe('race-deleted', basic.price); // links a Customer
    expect(seed.status).toBe(201);
    let release!: () => void;
    const stalled = new Promise<void>((resolve) => (release = resolve));
    let reachedStripe!: () => void;
    const atStripe = new Promise<void>((resolve) => (reachedStripe = resolve));
    const slow = overriding(billing, {
      createSubscriptionCheckout: async (input, key) => {
        const session = await billing.createSubscriptionCheckout(input, key);
        reachedStripe();
        await stalled;
        return session;
      },
    });
    const holder = subscribe('race-deleted', team.price, handlerWith(slow));
    await atStripe;
    const deleted = (await store.customerOf('acme', 'race-deleted'))!;
    for (const event of await eventsOf(() => h.stripe.customers.del(deleted))) await apply(event);
    const secondTab = await subscribe('race-deleted', team.price);
    release();
    await holder;
    expect(secondTab.status).not.toBe(422);
    expect([200, 201, 409]).toContain(secondTab.status);
    const again = await subscribe('race-deleted', team.price);
    expect([200, 201]).toContain(again.status);
    const replacement = (await store.customerOf('acme', 'race-deleted'))!;
    // Team checkouts still open for this user at Stripe (the seed's Basic one is another product's).
    const open = (await h.stripe.checkout.sessions.list({ limit: 100 })).data.filter((s) => s.status === 'open' && s.metadata?.userId === 'race-deleted' && s.amount_total === 2100);
    expect(open).toHaveLength(1);
    expect(open[0].customer).toBe(replacement);
    expect(await guardHolder('race-deleted', team.product)).toBe(again.body.subscriptionId);
  });
});

describe('cost per request and per event', () => {
  it('stays flat however many ended checkouts the user has (the guard\'s claimants are a sparse index, not the history)', async () => {
    const gets = jest.spyOn(DynamoDbSubscriptionStore.prototype as unknown as { get: () => Promise<unknown> }, 'get');
    const perPost: number[] = [];
    const perExpiry: number[] = [];
    try {
      for (let i = 0; i < 12; i++) {
        gets.mockClear();
        const opened = await subscribe('many-abandoned', basic.price);
        expect(opened.status).toBe(201);
        perPost.push(gets.mock.calls.length);
        const expired = (await eventsOf(() => h.stripe.checkout.sessions.expire(opened.body.checkoutSessionId))).filter((e) => e.type === 'checkout.session.expired');
        gets.mockClear();
        for (const event of expired) await apply(event);
        perExpiry.push(gets.mock.calls.length);
      }
    } finally {
      gets.mockRestore();
    }
    // Reading the user's whole history made both grow by one read per earlier checkout.
    expect(perPost[11]).toBe(perPost[1]);
    expect(perExpiry[11]).toBe(perExpiry[1]);
    expect((await store.listByOwner('acme', 'many-abandoned')).map((r) => r.status)).toEqual(Array(12).fill('checkout_expired'));
  });
});
