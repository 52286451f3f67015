import type { CheckoutSnapshot, NewAnomaly, SubscriptionChange, SubscriptionRecord, SubscriptionSnapshot } from './subscription';

/** What subscriptions need from Stripe. Implemented by lambdas/shared/stripe-billing-gateway.ts. */
export interface BillingReader {
  retrieveSubscription(stripeSubscriptionId: string): Promise<(SubscriptionSnapshot & { metadata: Record<string, string> }) | undefined>;
  retrieveSubscriptionCheckout(checkoutSessionId: string): Promise<(CheckoutSnapshot & { metadata: Record<string, string> }) | undefined>;
  retrieveCustomer(customerId: string): Promise<{ id: string; metadata: Record<string, string> } | undefined>;
}

export interface BillingGateway extends BillingReader {
  /** A recurring price's product, or undefined when the price does not exist, is inactive or is one-time. */
  recurringPriceProduct(priceId: string): Promise<string | undefined>;
  /** Customers whose metadata names this (tenant, user), oldest first. */
  findCustomers(tenantId: string, userId: string): Promise<string[]>;
  createCustomer(input: { tenantId: string; userId: string }, stripeIdempotencyKey: string): Promise<string>;
  createSubscriptionCheckout(input: SubscriptionCheckoutInput, stripeIdempotencyKey: string): Promise<{ id: string; url: string | null }>;
  /** Closes an open session (already closed: nothing to do). */
  expireCheckoutSession(checkoutSessionId: string): Promise<void>;
  cancelAtPeriodEnd(stripeSubscriptionId: string, stripeIdempotencyKey: string): Promise<SubscriptionSnapshot>;
  createPortalSession(customerId: string, returnUrl: string): Promise<string>;
}

export interface SubscriptionCheckoutInput {
  subscriptionId: string;
  tenantId: string;
  userId: string;
  customerId: string;
  price: string;
  quantity: number;
  successUrl: string;
  cancelUrl: string;
}

/** The (tenant, user, product) slot: who holds it, and what its checkout is to be opened with. */
export interface SubscriptionGuard {
  tenantId: string;
  userId: string;
  product: string;
  subscriptionId: string;
  price: string;
  quantity: number;
  successUrl: string;
  cancelUrl: string;
  requestFingerprint: string;
  /** The Customer the holder opens its checkout for: every request continuing it sends Stripe the same create. */
  customerId?: string;
  createdAt: string;
}

export interface SubscriptionStore {
  customerOf(tenantId: string, userId: string): Promise<string | undefined>;
  /** Links the user to a Stripe Customer unless already linked; returns the linked customer (the first writer wins). */
  linkCustomer(tenantId: string, userId: string, stripeCustomerId: string): Promise<string>;
  /** Links the user to `replacement` if `deleted` is still linked; returns the linked customer. */
  relinkCustomer(tenantId: string, userId: string, deleted: string, replacement: string): Promise<string>;
  /** Takes the slot, or returns who holds it. */
  takeGuard(guard: SubscriptionGuard): Promise<SubscriptionGuard>;
  /** Gives the slot to `to` if `from` still holds it; false when it does not. */
  handGuard(tenantId: string, userId: string, product: string, from: string, to: string): Promise<boolean>;
  /** Frees the slot if `subscriptionId` still holds it. */
  releaseGuard(tenantId: string, userId: string, product: string, subscriptionId: string): Promise<void>;
  getSubscription(subscriptionId: string): Promise<SubscriptionRecord | undefined>;
  /** Creates the record, or returns the one already stored under its id. */
  createSubscription(record: SubscriptionRecord): Promise<SubscriptionRecord>;
  /**
   * Applies `decide` with one write conditional on the version it saw; re-decides on conflict.
   * Moves the guard with the record (guardMoves in subscription.ts), also on a stale decision.
   */
  mutate(subscriptionId: string, decide: (record: SubscriptionRecord) => SubscriptionChange, stripeEventId: string | null): Promise<SubscriptionChange>;
  listByOwner(tenantId: string, userId: string): Promise<SubscriptionRecord[]>;
  /** The user's records that may hold the guard of `product` (live, incomplete, paused or open on it). */
  guardClaimantsOf(tenantId: string, userId: string, product: string): Promise<SubscriptionRecord[]>;
  findByStripeSubscription(stripeSubscriptionId: string): Promise<string | undefined>;
  /** A subscription of our customer that no request of ours created: kept for reconcile, once per Stripe subscription. */
  recordForeignSubscription(entry: { stripeSubscriptionId: string; tenantId: string; userId: string; anomaly: NewAnomaly; stripeEventId: string | null }): Promise<void>;
}
