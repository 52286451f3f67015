import { applyStripeEvent, type StripeEvent } from '../../lambdas/domain/stripe-events';
import type { BillingReader } from '../../lambdas/domain/subscription-ports';
import { DynamoDbOrderStore } from '../../lambdas/shared/order-store';
import { StripeBillingGateway } from '../../lambdas/shared/stripe-billing-gateway';
import { DynamoDbSubscriptionStore, keys } from '../../lambdas/shared/subscription-store';
import { createSubscriptionsHandler } from '../../lambdas/subscriptions/create-subscriptions-handler';
import type { StripeObject } from '../../local/stripe-emulator/stripe-objects';
import { call, claimsOf, newKey, startHarness, TABLES, type Harness } from './harness';

export interface SubscriptionWorld {
  h: Harness;
  billing: StripeBillingGateway;
  store: DynamoDbSubscriptionStore;
  handler: ReturnType<typeof createSubscriptionsHandler>;
  /** Two monthly prices of two products (tenant `acme`). */
  basic: { price: string; product: string };
  team: { price: string; product: string };
}

/**
 * The subscription tests' world: a harness (DynamoDB Local, Stripe emulator), the real billing
 * gateway, store and handler, and two products, set up in the calling file's `beforeAll`; plus
 * the steps they share. The world's fields are filled once `beforeAll` has run.
 */
export function subscriptionWorld() {
  const w = {} as SubscriptionWorld;
  beforeAll(async () => {
    w.h = await startHarness({ executionDelayMs: 5 });
    w.billing = new StripeBillingGateway(async () => w.h.stripe);
    w.store = new DynamoDbSubscriptionStore(w.h.db.client, TABLES.subscriptions);
    w.handler = createSubscriptionsHandler({ dynamoDb: w.h.db.client, subscriptionsTableName: TABLES.subscriptions, idempotencyTableName: TABLES.idempotency, billing: w.billing });
    const price = async (name: string, amount: number) => {
      const created = await w.h.stripe.prices.create({ currency: 'eur', unit_amount: amount, recurring: { interval: 'month' }, product_data: { name } });
      return { price: created.id, product: created.product as string };
    };
    w.basic = await price('Basic', 700);
    w.team = await price('Team', 2100);
  }, 60_000);
  afterAll(() => w.h.close());

  /** POST /v1/subscriptions for `userId` of tenant acme, with a fresh key. */
  const subscribe = (userId: string, price: string, via = w.handler) =>
    call(via, { path: '/v1/subscriptions', resource: '/v1/subscriptions', claims: claimsOf('acme', userId), headers: { 'Idempotency-Key': newKey() }, body: { price, successUrl: 'https://x.example/ok', cancelUrl: 'https://x.example/no' } });
  const helper = (path: string, params: Record<string, unknown> = {}) => w.h.stripe.rawRequest('POST', `/v1/test_helpers/${path}`, params);
  /** The events Stripe emitted while `action` ran, in Stripe's order. */
  const eventsOf = async (action: () => Promise<unknown>): Promise<StripeObject[]> => {
    const before = w.h.emulator.state.events.length;
    await action();
    return w.h.emulator.state.events.slice(before);
  };
  /** One event through the processor's rules, as one delivery (another store or Stripe reader to simulate a second processor or a gated read). */
  const apply = (event: StripeObject, options: { store?: DynamoDbSubscriptionStore; reader?: BillingReader } = {}) =>
    applyStripeEvent(event as unknown as StripeEvent, {
      orders: new DynamoDbOrderStore(w.h.db.client, TABLES.orders),
      stripe: w.h.gateway,
      subscriptions: { subscriptions: options.store ?? w.store, billing: options.reader ?? w.billing },
    });
  const record = async (subscriptionId: string) => (await w.store.getSubscription(subscriptionId))!;
  const guardHolder = async (userId: string, product: string) =>
    (await w.store.scanAll()).find((i) => i.pk === keys.guard('acme', userId, product))?.subscriptionId as string | undefined;
  /** The portal's plan switch: the subscription's item moved to `price`. Returns Stripe's events. */
  const switchPlan = async (stripeSubscriptionId: string, price: string, quantity = 1) => {
    const current = await w.h.stripe.subscriptions.retrieve(stripeSubscriptionId);
    return eventsOf(() => w.h.stripe.subscriptions.update(stripeSubscriptionId, { items: [{ id: current.items.data[0].id, price, quantity }] }));
  };
  return { w, subscribe, helper, eventsOf, apply, record, guardHolder, switchPlan };
}
