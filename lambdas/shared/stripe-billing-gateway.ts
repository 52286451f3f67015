import Stripe from 'stripe';
import { StripeKeyInUseError } from '../domain/errors';
import { type CheckoutSnapshot, type SubscriptionSnapshot } from '../domain/subscription';
import type { BillingGateway, SubscriptionCheckoutInput } from '../domain/subscription-ports';
import { retrieve, stripeClient, translateStripeError } from './stripe-gateway';

const idOf = (value: string | { id: string } | null | undefined) => (typeof value === 'string' ? value : (value?.id ?? null));

/** Stripe's 409 for a key another request is executing: not an outcome, so never a 5xx of ours. */
const isKeyInUse = (error: unknown) => error instanceof Stripe.errors.StripeError && error.code === 'idempotency_key_in_use';

export function subscriptionSnapshotOf(subscription: Stripe.Subscription): SubscriptionSnapshot & { metadata: Record<string, string> } {
  const items = subscription.items.data.map((item) => ({
    price: item.price.id,
    product: idOf(item.price.product as string | { id: string }) ?? '',
    quantity: item.quantity ?? 1,
  }));
  const first = subscription.items.data[0];
  return {
    id: subscription.id,
    customerId: idOf(subscription.customer)!,
    // An unknown future status is kept as Stripe says it; only known ones are typed.
    status: subscription.status as SubscriptionSnapshot["status"],
    price: items[0]?.price ?? '',
    product: items[0]?.product ?? '',
    quantity: items[0]?.quantity ?? 1,
    // Stripe bills all items of a subscription on one cycle: the first item's period is the subscription's.
    currentPeriodEnd: first?.current_period_end ?? null,
    cancelAtPeriodEnd: subscription.cancel_at_period_end,
    // Several items (API or Dashboard made) are not silently read as the first: the domain records them.
    ...(items.length > 1 ? { items } : {}),
    metadata: subscription.metadata ?? {},
  };
}

/** Customers, subscription Checkout, subscriptions and the portal at Stripe, for lambdas/domain/subscription-steps.ts. */
export class StripeBillingGateway implements BillingGateway {
  constructor(private readonly client: () => Promise<Stripe> = stripeClient) {}

  private async call<T>(what: string, run: (stripe: Stripe) => Promise<T>): Promise<T> {
    const stripe = await this.client();
    try {
      return await run(stripe);
    } catch (error) {
      if (isKeyInUse(error)) throw new StripeKeyInUseError(what);
      return translateStripeError(error);
    }
  }

  async recurringPriceProduct(priceId: string) {
    const stripe = await this.client();
    const price = await retrieve(() => stripe.prices.retrieve(priceId));
    if (!price || !price.active || price.type !== 'recurring') return undefined;
    return idOf(price.product as string | { id: string }) ?? undefined;
  }

  findCustomers(tenantId: string, userId: string) {
    return this.call('a customer search', async (stripe) => {
      // Quotes cannot occur in claims (request-identity.ts), so the query needs no escaping.
      const found = await stripe.customers.search({ query: `metadata['tenantId']:'${tenantId}' AND metadata['userId']:'${userId}'`, limit: 100 });
      return found.data.sort((a, b) => a.created - b.created).map((c) => c.id);
    });
  }

  createCustomer(input: { tenantId: string; userId: string }, stripeIdempotencyKey: string) {
    return this.call('the customer', async (stripe) =>
      (await stripe.customers.create({ metadata: { tenantId: input.tenantId, userId: input.userId } }, { idempotencyKey: stripeIdempotencyKey })).id);
  }

  createSubscriptionCheckout(input: SubscriptionCheckoutInput, stripeIdempotencyKey: string) {
    const metadata = { subscriptionId: input.subscriptionId, tenantId: input.tenantId, userId: input.userId };
    return this.call('the subscription checkout', async (stripe) => {
      const session = await stripe.checkout.sessions.create({
        mode: 'subscription',
        customer: input.customerId,
        line_items: [{ price: input.price, quantity: input.quantity }],
        success_url: input.successUrl,
        cancel_url: input.cancelUrl,
        client_reference_id: input.subscriptionId,
        metadata,
        // Copied onto the subscription: its events name the record, which then checks the customer.
        subscription_data: { metadata },
      }, { idempotencyKey: stripeIdempotencyKey });
      return { id: session.id, url: session.url };
    });
  }

  async expireCheckoutSession(checkoutSessionId: string) {
    const stripe = await this.client();
    try {
      await stripe.checkout.sessions.expire(checkoutSessionId);
    } catch (error) {
      if (error instanceof Stripe.errors.StripeInvalidRequestError) return; // complete or expired already
      translateStripeError(error);
    }
  }

  cancelAtPeriodEnd(stripeSubscriptionId: string, stripeIdempotencyKey: string) {
    return this.call('the cancellation', async (stripe) =>
      subscriptionSnapshotOf(await stripe.subscriptions.update(stripeSubscriptionId, { cancel_at_period_end: true }, { idempotencyKey: stripeIdempotencyKey })));
  }

  createPortalSession(customerId: string, returnUrl: string) {
    return this.call('the portal session', async (stripe) => (await stripe.billingPortal.sessions.create({ customer: customerId, return_url: returnUrl })).url);
  }

  async retrieveSubscription(stripeSubscriptionId: string) {
    const stripe = await this.client();
    const subscription = await retrieve(() => stripe.subscriptions.retrieve(stripeSubscriptionId));
    return subscription ? subscriptionSnapshotOf(subscription) : undefined;
  }

  async retrieveSubscriptionCheckout(checkoutSessionId: string): Promise<(CheckoutSnapshot & { metadata: Record<string, string> }) | undefined> {
    const stripe = await this.client();
    const session = await retrieve(() => stripe.checkout.sessions.retrieve(checkoutSessionId));
    if (!session) return undefined;
    return {
      id: session.id,
      status: (session.status ?? 'open') as CheckoutSnapshot['status'],
      customerId: idOf(session.customer as string | { id: string } | null),
      subscriptionId: idOf(session.subscription as string | { id: string } | null),
      metadata: session.metadata ?? {},
    };
  }

  async retrieveCustomer(customerId: string) {
    const stripe = await this.client();
    const customer = await retrieve(() => stripe.customers.retrieve(customerId));
    if (!customer || customer.deleted) return undefined;
    return { id: customer.id, metadata: customer.metadata ?? {} };
  }
}
