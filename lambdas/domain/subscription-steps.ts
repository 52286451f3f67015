import { createHash } from 'node:crypto';
import { PaymentRejectedError } from './errors';
import { derivedId, type IdempotentRequest } from './idempotency-scope';
import { applyCheckoutSnapshot, applySubscriptionSnapshot, holdsGuard, isLive, type SubscriptionRecord } from './subscription';
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

/**
 * The user's one Stripe Customer. The mapping item decides (conditional put, first writer
 * wins); the deterministic Stripe key makes concurrent first requests create one Customer; and
 * a Customer whose mapping write was lost (crash) is found again by its metadata before
 * another is created, also after Stripe pruned the key (24 h).
 */
export async function ensureCustomer(tenantId: string, userId: string, deps: SubscriptionDeps): Promise<string> {
  const linked = await deps.subscriptions.customerOf(tenantId, userId);
  if (linked) return linked;
  const [found] = await deps.billing.findCustomers(tenantId, userId);
  const customerId = found ?? (await deps.billing.createCustomer({ tenantId, userId }, customerKey(tenantId, userId)));
  return deps.subscriptions.linkCustomer(tenantId, userId, customerId);
}

export type StartOutcome =
  | { kind: 'opened'; record: SubscriptionRecord; createdByThisRequest: boolean }
  | { kind: 'alreadySubscribed'; record: SubscriptionRecord }
  | { kind: 'keyReused' }
  | { kind: 'priceNotRecurring' }
  | { kind: 'rejected'; message: string; code: string | undefined };

/**
 * POST /v1/subscriptions. The (tenant, user, product) guard is taken with a conditional put
 * holding the request that took it; every request that finds it continues THAT checkout: same
 * record id, same Stripe key, same parameters, so twenty tabs give one session. A guard whose
 * subscription ended or whose checkout expired is freed and taken again.
 */
export async function startSubscription({ scope, payload, fingerprint }: IdempotentRequest<SubscriptionRequest>, deps: SubscriptionDeps): Promise<StartOutcome> {
  const { tenantId, userId } = scope;
  const ownId = derivedId('subscription', scope);
  const own = await deps.subscriptions.getSubscription(ownId);
  if (own && own.requestFingerprint !== fingerprint) return { kind: 'keyReused' };
  const product = await deps.billing.recurringPriceProduct(payload.price);
  if (!product) return { kind: 'priceNotRecurring' };
  const customerId = await ensureCustomer(tenantId, userId, deps);
  for (let attempt = 1; attempt <= 3; attempt++) {
    const guard = await deps.subscriptions.takeGuard({
      tenantId, userId, product, subscriptionId: ownId, ...payload, requestFingerprint: fingerprint, createdAt: deps.now().toISOString(),
    });
    let record = await deps.subscriptions.getSubscription(guard.subscriptionId);
    if (!record) {
      try {
        record = await openCheckout(guard, customerId, deps);
      } catch (error) {
        if (!(error instanceof PaymentRejectedError)) throw error;
        // Stripe said no (price archived meanwhile…): nothing was opened, so the slot must not stay taken.
        await deps.subscriptions.releaseGuard(tenantId, userId, product, guard.subscriptionId);
        return { kind: 'rejected', message: error.message, code: error.code };
      }
    }
    if (record.status === 'checkout_open' && isAbandoned(record, deps)) {
      await deps.billing.expireCheckoutSession(record.checkoutSessionId);
      const session = await deps.billing.retrieveSubscriptionCheckout(record.checkoutSessionId);
      if (session) await deps.subscriptions.mutate(record.subscriptionId, (r) => applyCheckoutSnapshot(r, session), null);
      record = (await deps.subscriptions.getSubscription(record.subscriptionId))!;
    }
    if (!holdsGuard(record.status)) {
      await deps.subscriptions.releaseGuard(tenantId, userId, product, record.subscriptionId);
      continue;
    }
    if (record.status === 'checkout_open') return { kind: 'opened', record, createdByThisRequest: record.subscriptionId === ownId };
    // Live, or incomplete (paid, being set up) or paused (resumable): not a slot for another checkout.
    return { kind: 'alreadySubscribed', record };
  }
  throw new Error(`subscription guard of ${tenantId}/${userId}/${product} kept changing`);
}

const isAbandoned = (record: SubscriptionRecord, deps: SubscriptionDeps) =>
  deps.now().getTime() - Date.parse(record.createdAt) > (deps.openCheckoutMaxAgeSeconds ?? 3600) * 1000;

/** Opens the guard holder's checkout at Stripe (or gets it back: same key) and records it (or finds it recorded). */
async function openCheckout(guard: SubscriptionGuard, customerId: string, deps: SubscriptionDeps): Promise<SubscriptionRecord> {
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

/**
 * POST /v1/subscriptions/{id}/cancel: at period end, at Stripe first (key from the request, so
 * a cancel after a resume in the portal is a new update, not a replay), then Stripe's answer applied.
 */
export async function cancelSubscription({ scope }: IdempotentRequest<unknown>, subscriptionId: string, deps: SubscriptionDeps): Promise<CancelOutcome> {
  const record = await deps.subscriptions.getSubscription(subscriptionId);
  // Another user's (or tenant's) subscription is answered exactly like a missing one.
  if (!record || record.tenantId !== scope.tenantId || record.userId !== scope.userId) return { kind: 'notFound' };
  if (!record.stripeSubscriptionId || !isLive(record.status)) return { kind: 'notLive', record };
  const snapshot = await deps.billing.cancelAtPeriodEnd(record.stripeSubscriptionId, `subscription-cancel-v1-${derivedId('subscription-cancel', scope)}`);
  const change = await deps.subscriptions.mutate(subscriptionId, (r) => applySubscriptionSnapshot(r, snapshot), null);
  return { kind: 'canceled', record: change.kind === 'applied' ? change.record : (await deps.subscriptions.getSubscription(subscriptionId))! };
}
