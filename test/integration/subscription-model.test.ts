import fc from 'fast-check';
import { createEventProcessor } from '../../lambdas/events/create-event-processor';
import { subscriptionView } from '../../lambdas/domain/subscription';
import { StripeBillingGateway } from '../../lambdas/shared/stripe-billing-gateway';
import { DynamoDbSubscriptionStore } from '../../lambdas/shared/subscription-store';
import { createSubscriptionsHandler } from '../../lambdas/subscriptions/create-subscriptions-handler';
import { lambdaContext } from '../../local/lambda-context';
import type { StripeObject } from '../../local/stripe-emulator/stripe-objects';
import { call, claimsOf, newKey, startHarness, TABLES, type Harness } from '../support/harness';
import { sqsEvent } from '../support/orders';

/**
 * Model-based test for subscriptions: random interleavings of users subscribing (several tabs at
 * once, other keys), paying, abandoning checkouts, renewals paid or failed, retried invoices,
 * cancellations, and events delivered late, duplicated and reordered. After settling, Stripe (the
 * emulator) is the oracle: every record equals its Stripe subscription, no user has two
 * Customers, no customer two live subscriptions to one product, no more than one open session
 * per (user, product).
 */
const RUNS = Number(process.env.SUBSCRIPTION_MODEL_RUNS ?? 25);
const SEED = Number(process.env.MODEL_SEED ?? 20261123);
const USERS = ['u0', 'u1'];

let h: Harness;
let store: DynamoDbSubscriptionStore;
let handler: ReturnType<typeof createSubscriptionsHandler>;
let processor: ReturnType<typeof createEventProcessor>;
let prices: string[];
let run = 0;

beforeAll(async () => {
  h = await startHarness({ webhookRetryScheduleMs: [], executionDelayMs: 5 });
  const billing = new StripeBillingGateway(async () => h.stripe);
  store = new DynamoDbSubscriptionStore(h.db.client, TABLES.subscriptions);
  handler = createSubscriptionsHandler({ dynamoDb: h.db.client, subscriptionsTableName: TABLES.subscriptions, idempotencyTableName: TABLES.idempotency, billing });
  processor = createEventProcessor({
    dynamoDb: h.db.client, ordersTableName: TABLES.orders, idempotencyTableName: TABLES.idempotency, stripe: h.gateway, subscriptions: { tableName: TABLES.subscriptions, billing },
  });
  const product = (name: string) => h.stripe.prices.create({ currency: 'eur', unit_amount: 700, recurring: { interval: 'month' }, product_data: { name } });
  prices = [(await product('Basic')).id, (await product('Team')).id];
}, 60_000);
afterAll(() => h.close());

type Step =
  | { kind: 'subscribe'; user: number; price: number; tabs: number }
  // `pick` chooses among what exists in this run (open checkouts, Stripe subscriptions, records).
  | { kind: 'pay'; pick: number }
  | { kind: 'expire'; pick: number }
  | { kind: 'renew'; pick: number; outcome: 'paid' | 'failed' }
  | { kind: 'retryInvoice'; pick: number; outcome: 'paid' | 'failed' }
  | { kind: 'cancel'; pick: number }
  | { kind: 'deliver'; count: number; duplicate: boolean; seed: number };

const target = { user: fc.nat(USERS.length - 1), price: fc.nat(1) };
// Weighted so that sequences often reach paid subscriptions and their renewals.
const step: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('subscribe' as const), ...target, tabs: fc.integer({ min: 1, max: 4 }) }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('pay' as const), pick: fc.nat() }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('expire' as const), pick: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('renew' as const), pick: fc.nat(), outcome: fc.constantFrom('paid' as const, 'failed' as const) }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('retryInvoice' as const), pick: fc.nat(), outcome: fc.constantFrom('paid' as const, 'failed' as const) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('deliver' as const), count: fc.integer({ min: 1, max: 6 }), duplicate: fc.boolean(), seed: fc.nat() }), weight: 3 },
);

const helper = (path: string, params: Record<string, unknown> = {}) => h.stripe.rawRequest('POST', `/v1/test_helpers/${path}`, params).catch(() => undefined);

it('after any interleaving, our subscriptions equal Stripe\'s and nothing is doubled', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 4, maxLength: 20 }), async (steps) => {
      run++;
      const users = USERS.map((u) => `${u}-r${run}`);
      const pending: StripeObject[] = [];
      const track = async (action: () => Promise<unknown>) => {
        const before = h.emulator.state.events.length;
        await action();
        pending.push(...h.emulator.state.events.slice(before));
      };
      const deliver = async (events: StripeObject[]) => {
        let bodies = events.map((e) => JSON.stringify(e));
        for (let round = 0; round < 8 && bodies.length > 0; round++) {
          const batch = sqsEvent(bodies);
          const failed = new Set((await processor(batch, lambdaContext('events'))).batchItemFailures.map((f) => f.itemIdentifier));
          bodies = batch.Records.filter((r) => failed.has(r.messageId)).map((r) => r.body);
        }
        expect(bodies).toEqual([]);
      };
      const records = async () => (await Promise.all(users.map((u) => store.listByOwner('acme', u)))).flat();
      const pickOf = <T>(items: T[], pick: number) => (items.length === 0 ? undefined : items[pick % items.length]);
      const openCheckout = async (pick: number) => pickOf((await records()).filter((r) => h.emulator.state.sessions.get(r.checkoutSessionId)?.status === 'open'), pick);
      const stripeSubscription = async (pick: number) =>
        pickOf((await records()).map((r) => h.emulator.state.sessions.get(r.checkoutSessionId)?.subscription as string | null).filter((id): id is string => Boolean(id)), pick);

      for (const s of steps) {
        switch (s.kind) {
          case 'subscribe': {
            const answers = await Promise.all(Array.from({ length: s.tabs }, () =>
              call(handler, { path: '/v1/subscriptions', resource: '/v1/subscriptions', claims: claimsOf('acme', users[s.user]), headers: { 'Idempotency-Key': newKey() }, body: { price: prices[s.price], successUrl: 'https://x.example/ok', cancelUrl: 'https://x.example/no' } })));
            const sessions = new Set(answers.filter((a) => a.status < 300).map((a) => a.body.checkoutSessionId));
            expect(sessions.size).toBeLessThanOrEqual(1);
            for (const a of answers) expect([200, 201, 409]).toContain(a.status);
            break;
          }
          case 'pay': {
            const record = await openCheckout(s.pick);
            if (record) await track(() => helper(`checkout/sessions/${record.checkoutSessionId}/complete`));
            break;
          }
          case 'expire': {
            const record = await openCheckout(s.pick);
            if (record) await track(() => h.stripe.checkout.sessions.expire(record.checkoutSessionId).catch(() => undefined));
            break;
          }
          case 'renew': {
            const id = await stripeSubscription(s.pick);
            if (id) await track(() => helper(`subscriptions/${id}/renew`, { outcome: s.outcome }));
            break;
          }
          case 'retryInvoice': {
            const id = await stripeSubscription(s.pick);
            const open = id ? (await h.stripe.invoices.list({ subscription: id, status: 'open' })).data[0] : undefined;
            if (open) await track(() => helper(`invoices/${open.id}/retry`, { outcome: s.outcome }));
            break;
          }
          case 'cancel': {
            const record = pickOf(await records(), s.pick);
            if (record) {
              await track(() => call(handler, {
                path: `/v1/subscriptions/${record.subscriptionId}/cancel`, resource: '/v1/subscriptions/{subscriptionId}/cancel',
                pathParameters: { subscriptionId: record.subscriptionId }, claims: claimsOf('acme', record.userId), headers: { 'Idempotency-Key': newKey() },
              }));
            }
            break;
          }
          case 'deliver': {
            const random = fc.sample(fc.shuffledSubarray(pending.map((_, i) => i), { minLength: Math.min(s.count, pending.length), maxLength: Math.min(s.count, pending.length) }), { numRuns: 1, seed: s.seed })[0] ?? [];
            const picked = random.map((i) => pending[i]);
            await deliver(s.duplicate ? [...picked, ...picked.slice().reverse()] : picked);
            break;
          }
        }
      }
      // Settle: every event once more, newest first.
      await deliver([...pending].reverse());

      for (const user of users) {
        const customers = [...h.emulator.state.billing.customers.values()].filter((c) => (c.metadata as Record<string, string>).userId === user);
        expect(customers.length).toBeLessThanOrEqual(1);
        const records = await store.listByOwner('acme', user);
        for (const record of records) {
          if (!record.stripeSubscriptionId) {
            const session = h.emulator.state.sessions.get(record.checkoutSessionId)!;
            expect(`${record.subscriptionId} ${record.status}`).toBe(`${record.subscriptionId} ${session.status === 'expired' ? 'checkout_expired' : 'checkout_open'}`);
            continue;
          }
          const atStripe = await h.stripe.subscriptions.retrieve(record.stripeSubscriptionId);
          expect(subscriptionView(record)).toMatchObject({
            status: atStripe.status, cancelAtPeriodEnd: atStripe.cancel_at_period_end,
            currentPeriodEnd: new Date(atStripe.items.data[0].current_period_end * 1000).toISOString(),
          });
        }
        for (const price of prices) {
          const product = (await h.stripe.prices.retrieve(price)).product as string;
          const mine = records.filter((r) => r.product === product);
          expect(mine.filter((r) => r.status === 'checkout_open').length).toBeLessThanOrEqual(1);
          const live = mine.filter((r) => ['active', 'trialing', 'past_due', 'unpaid', 'incomplete', 'checkout_open'].includes(r.status));
          expect(live.length).toBeLessThanOrEqual(1);
          if (customers[0]) {
            const liveAtStripe = (await h.stripe.subscriptions.list({ customer: customers[0].id, price, limit: 100 })).data.filter((x) => ['active', 'trialing', 'past_due', 'unpaid'].includes(x.status));
            expect(liveAtStripe.length).toBeLessThanOrEqual(1);
          }
        }
      }
    }),
    { numRuns: RUNS, seed: SEED, endOnFailure: true },
  );
}, 600_000);
