import { createHash } from 'node:crypto';
import { PaymentRejectedError } from './errors';
import { derivedId, type IdempotentRequest } from './idempotency-scope';
import {
  applyCheckoutSnapshot, applySubscriptionSnapshot, guardClaimant, holdsGuard, isLive, type SubscriptionRecord, type SubscriptionSnapshot, type SubscriptionStatus,
} from './subscription';
import type { BillingGateway, SubscriptionGuard, SubscriptionStore } from './subscription-ports';
import { validateRequestBody } from './validation';

export interface SubscriptionRequest {
  price: string;
  quantity: number;
  successUrl: string;
  cancelUrl: string;
}

/** Schema check of POST /v1/subscriptions (generated from docs/openapi.yaml). The amount comes from the Stripe Price. */
export function parseSubscriptionRequest(body: unknown): SubscriptionRequest {
  const request = validateRequestBody<Omit<SubscriptionRequest, 'quantity'> & { quantity?: number }>('SubscriptionRequest', body);
  return { ...request, quantity: request.quantity ?? 1 };
}

/** Schema check of POST /v1/billing-portal-sessions. */
export function parsePortalRequest(body: unknown): { returnUrl: string } {
  return validateRequestBody<{ returnUrl: string }>('BillingPortalRequest', body);
}

export interface SubscriptionDeps {
  billing: BillingGateway;
  subscriptions: SubscriptionStore;
  now: () => Date;
  /** An open checkout older than this is expired by us and a new one opened. @default 3600 */
  openCheckoutMaxAgeSeconds?: number;
}

const hashed = (...parts: string[]) => createHash('sha256').update(parts.join('\0')).digest('hex');
/** One key per (tenant, user): every first request for a customer sends Stripe the same create. */
const customerKey = (tenantId: string, userId: string) => `customer-v1-${hashed(tenantId, userId)}`;
/** One key per subscription record: whoever opens its checkout sends Stripe the same create. */
const checkoutKey = (subscriptionId: string) => `subscription-checkout-v1-${subscriptionId}`;

/** A Customer deleted at Stripe (Dashboard, API) is replaced once: every request replacing that one sends the same create. */
const replacementCustomerKey = (tenantId: string, userId: string, deletedCustomerId: string) => `customer-replacing-v1-${hashed(tenantId, userId, deletedCustomerId)}`;

/**
 * The user's one Stripe Customer. The mapping item decides (conditional put, first writer
 * wins); the deterministic Stripe key makes concurrent first requests create one Customer; and
 * a Customer whose mapping write was lost (crash) is found again by its metadata before
 * another is created, also after Stripe pruned the key (24 h).
 * A linked Customer is checked at Stripe (one retrieve): deleted there (Dashboard; its
 * subscriptions were canceled with it) it can open nothing again, so the mapping moves to a new
 * Customer, created under a key naming the deleted one and linked by a write conditional on the
 * deleted one still being linked: concurrent requests create and link one.
 */
export async function ensureCustomer(tenantId: string, userId: string, deps: SubscriptionDeps): Promise<string> {
  const linked = await deps.subscriptions.customerOf(tenantId, userId);
  if (linked) {
    if (await deps.billing.retrieveCustomer(linked)) return linked;
    const replacement = await deps.billing.createCustomer({ tenantId, userId }, replacementCustomerKey(tenantId, userId, linked));
    return deps.subscriptions.relinkCustomer(tenantId, userId, linked, replacement);
  }
  const [found] = await deps.billing.findCustomers(tenantId, userId);
  const customerId = found ?? (await deps.billing.createCustomer({ tenantId, userId }, customerKey(tenantId, userId)));
  return deps.subscriptions.linkCustomer(tenantId, userId, customerId);
}

export type StartOutcome =
  | { kind: 'opened'; record: SubscriptionRecord; createdByThisRequest: boolean }
  | { kind: 'alreadySubscribed'; record: SubscriptionRecord }
  /** This key's own checkout expired, or its subscription ended: a key names one request, never a second checkout. */
  | { kind: 'ended'; record: SubscriptionRecord }
  /** The guard changed hands on every attempt (checkouts ending while others open): retry shortly. */
  | { kind: 'busy' }
  | { kind: 'keyReused' }
  | { kind: 'priceNotRecurring' }
  | { kind: 'rejected'; message: string; code: string | undefined };

const GUARD_ATTEMPTS = 3;

/**
 * POST /v1/subscriptions. The (tenant, user, product) guard is taken with a conditional put
 * holding the request that took it; every request that finds it continues THAT checkout: same
 * record id, same Stripe key, same parameters, so twenty tabs give one session. A guard whose
 * subscription ended or whose checkout expired is freed and taken again, but never by the
 * request that record belongs to: its key has had its checkout (after the 24 h idempotency
 * record expired, a retry of that key lands here), so it is answered `ended`, not given another.
 * Before a checkout is opened, the user's records are read: one live or open on the product
 * (guardClaimant) gets the guard and is the answer (409, or 200 with its checkout), so a guard
 * lost or wrongly freed never lets a second subscription for one product start.
 */
export async function startSubscription({ scope, payload, fingerprint }: IdempotentRequest<SubscriptionRequest>, deps: SubscriptionDeps): Promise<StartOutcome> {
  const { tenantId, userId } = scope;
  const ownId = derivedId('subscription', scope);
  const own = await deps.subscriptions.getSubscription(ownId);
  if (own && own.requestFingerprint !== fingerprint) return { kind: 'keyReused' };
  if (own && !holdsGuard(own.status)) return endedAnswer(own, deps);
  // This key's record decides its product, even if the price was archived since (its session stays payable).
  const product = own?.product ?? (await deps.billing.recurringPriceProduct(payload.price));
  if (!product) return { kind: 'priceNotRecurring' };
  const customerId = own?.stripeCustomerId ?? (await ensureCustomer(tenantId, userId, deps));
  for (let attempt = 1; attempt <= GUARD_ATTEMPTS; attempt++) {
    const guard = await deps.subscriptions.takeGuard({
      tenantId, userId, product, subscriptionId: ownId, ...payload, requestFingerprint: fingerprint, customerId, createdAt: deps.now().toISOString(),
    });
    let record = await deps.subscriptions.getSubscription(guard.subscriptionId);
    if (!record) {
      // The guard is a lock, not the truth: a crash or a plan switch may have left it free while a
      // record of this user is live or open on the product. That record takes it and is the answer.
      const claimant = guardClaimant(await deps.subscriptions.guardClaimantsOf(tenantId, userId, product), product);
      if (claimant) {
        if (!(await deps.subscriptions.handGuard(tenantId, userId, product, guard.subscriptionId, claimant.subscriptionId))) continue;
        record = claimant;
      }
    }
    if (!record) {
      try {
        record = await openCheckout(guard, customerId, deps);
      } catch (error) {
        if (!(error instanceof PaymentRejectedError)) throw error;
        // Stripe said no (price archived meanwhile…): nothing was opened, so the slot must not stay taken.
        await deps.subscriptions.releaseGuard(tenantId, userId, product, guard.subscriptionId);
        if (guard.subscriptionId === ownId) return { kind: 'rejected', message: error.message, code: error.code };
        // Another request's parameters were refused (its price archived before it opened): ours may be fine.
        continue;
      }
    }
    // A checkout of a Customer deleted at Stripe since (replaced above) cannot become a subscription of this user's: replace it too.
    if (record.status === 'checkout_open' && (isAbandoned(record, deps) || record.stripeCustomerId !== customerId)) {
      await deps.billing.expireCheckoutSession(record.checkoutSessionId);
      const session = await deps.billing.retrieveSubscriptionCheckout(record.checkoutSessionId);
      if (session) await deps.subscriptions.mutate(record.subscriptionId, (r) => applyCheckoutSnapshot(r, session), null);
      record = (await deps.subscriptions.getSubscription(record.subscriptionId))!;
    }
    if (!holdsGuard(record.status)) {
      if (record.subscriptionId === ownId) return endedAnswer(record, deps);
      await deps.subscriptions.releaseGuard(tenantId, userId, product, record.subscriptionId);
      continue;
    }
    if (record.product !== product) {
      // Its holder moved to another product (a plan switch) and a crash lost the release: free it.
      // This key's own record on another product is that subscription, live: the answer below.
      if (record.subscriptionId !== ownId) {
        await deps.subscriptions.releaseGuard(tenantId, userId, product, record.subscriptionId);
        continue;
      }
    }
    if (record.status === 'checkout_open') return { kind: 'opened', record, createdByThisRequest: record.subscriptionId === ownId };
    // Live, or incomplete (paid, being set up) or paused (resumable): not a slot for another checkout.
    return { kind: 'alreadySubscribed', record };
  }
  return { kind: 'busy' };
}

/** The key's own record ended: free the guard if a crash left it held by this record, and say so. */
async function endedAnswer(record: SubscriptionRecord, deps: SubscriptionDeps): Promise<StartOutcome> {
  await deps.subscriptions.releaseGuard(record.tenantId, record.userId, record.product, record.subscriptionId);
  return { kind: 'ended', record };
}

const isAbandoned = (record: SubscriptionRecord, deps: SubscriptionDeps) =>
  deps.now().getTime() - Date.parse(record.createdAt) > (deps.openCheckoutMaxAgeSeconds ?? 3600) * 1000;

/** Opens the guard holder's checkout at Stripe (or gets it back: same key) and records it (or finds it recorded). */
async function openCheckout(guard: SubscriptionGuard, callersCustomerId: string, deps: SubscriptionDeps): Promise<SubscriptionRecord> {
  // The holder's Customer, not the caller's: if the caller has just replaced a deleted Customer,
  // the holder's create under the holder's key must still be the same request to Stripe (then
  // its checkout, of the deleted Customer, is expired and replaced like any other).
  const customerId = guard.customerId ?? callersCustomerId;
  const session = await deps.billing.createSubscriptionCheckout({ ...guard, customerId }, checkoutKey(guard.subscriptionId));
  const now = deps.now().toISOString();
  return deps.subscriptions.createSubscription({
    subscriptionId: guard.subscriptionId,
    tenantId: guard.tenantId,
    userId: guard.userId,
    product: guard.product,
    price: guard.price,
    quantity: guard.quantity,
    status: 'checkout_open',
    stripeCustomerId: customerId,
    checkoutSessionId: session.id,
    checkoutUrl: session.url,
    stripeSubscriptionId: null,
    currentPeriodEnd: null,
    cancelAtPeriodEnd: false,
    requestFingerprint: guard.requestFingerprint,
    anomalies: [],
    createdAt: now,
    updatedAt: now,
    version: 1,
  });
}

export type CancelOutcome = { kind: 'canceled'; record: SubscriptionRecord } | { kind: 'notFound' } | { kind: 'notLive'; record: SubscriptionRecord };

/** Terminal at Stripe: a canceled or incomplete_expired subscription never bills again. */
const hasEnded = (status: SubscriptionStatus) => status === 'canceled' || status === 'incomplete_expired';

/**
 * POST /v1/subscriptions/{id}/cancel: at period end. Idempotent on the subscription, not only on
 * the key: one that has ended, or that Stripe already cancels at period end, is answered as it
 * stands with no update at Stripe. The decision is taken on Stripe's current subscription (one
 * read), not on our record, because a resume in the portal may not have reached us yet; the
 * update's key comes from the request, so a cancel after such a resume is a new update, not a replay.
 * A checkout still open has no subscription to cancel yet: `notLive`, like one whose first payment
 * is being set up (incomplete) or that is paused.
 */
export async function cancelSubscription({ scope }: IdempotentRequest<unknown>, subscriptionId: string, deps: SubscriptionDeps): Promise<CancelOutcome> {
  const record = await deps.subscriptions.getSubscription(subscriptionId);
  // Another user's (or tenant's) subscription is answered exactly like a missing one.
  if (!record || record.tenantId !== scope.tenantId || record.userId !== scope.userId) return { kind: 'notFound' };
  if (hasEnded(record.status)) return { kind: 'canceled', record };
  if (!record.stripeSubscriptionId) {
    // An expired checkout never became a subscription: nothing will bill. An open one may still.
    return record.status === 'checkout_expired' ? { kind: 'canceled', record } : { kind: 'notLive', record };
  }
  const stripeSubscriptionId = record.stripeSubscriptionId;
  const current = await deps.billing.retrieveSubscription(stripeSubscriptionId);
  if (!current) throw new Error(`subscription ${subscriptionId} names ${stripeSubscriptionId}, which Stripe does not have`);
  let snapshot: SubscriptionSnapshot = current;
  if (isLive(current.status) && !current.cancelAtPeriodEnd) {
    try {
      snapshot = await deps.billing.cancelAtPeriodEnd(stripeSubscriptionId, `subscription-cancel-v1-${derivedId('subscription-cancel', scope)}`);
    } catch (error) {
      // Ended at Stripe between our read and the update: answer what it is now.
      if (!(error instanceof PaymentRejectedError)) throw error;
      snapshot = (await deps.billing.retrieveSubscription(stripeSubscriptionId)) ?? current;
      if (!hasEnded(snapshot.status)) throw error;
    }
  }
  const change = await deps.subscriptions.mutate(subscriptionId, (r) => applySubscriptionSnapshot(r, snapshot), null);
  const now = change.kind === 'applied' ? change.record : (await deps.subscriptions.getSubscription(subscriptionId))!;
  return snapshot.cancelAtPeriodEnd || hasEnded(snapshot.status) ? { kind: 'canceled', record: now } : { kind: 'notLive', record: now };
}
