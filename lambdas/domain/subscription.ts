/**
 * Subscriptions as pure rules: no AWS, no Stripe imports. The store persists what a rule
 * decides with one write conditional on the version the rule saw (as orders do, ledger.ts).
 *
 * Order independence: fetch-latest, not a lattice. A subscription's status is not monotonic
 * (active → past_due → active, cancel_at_period_end set and unset, a new period every cycle),
 * so no rank can tell an old snapshot from a new one, and event `created` seconds tie. Instead
 * every event is only a notification: the processor fetches the subscription from Stripe and
 * applies that snapshot (applySubscriptionSnapshot), then fetches again after its write and
 * repeats while the two differ (subscription-events.ts; if Stripe outruns it, the event fails
 * and the queue retries it rather than acknowledging a stale record). Whoever writes last has read Stripe
 * after writing, so the record ends equal to Stripe whatever the delivery order, duplicates or
 * concurrent processors; and any later change at Stripe emits another event.
 *
 * Ownership: a Stripe subscription applies to a record only when its customer is the Stripe
 * Customer we created for that (tenant, user); a second Stripe subscription reaching a record
 * that already has one is an anomaly, recorded, never merged.
 *
 * Plan changes: the record follows ITS Stripe subscription, also to a price of another product
 * (a switch in the billing portal is ordinary Stripe behaviour); the (tenant, user, product)
 * guard moves with it as `guardMoves`/`guardClaimant`/`guardConflict` below decide (the store executes). What Stripe does that we cannot represent (several
 * items) is recorded as an anomaly AND the snapshot still applied: an anomaly never keeps
 * status, period or cancellation from matching Stripe.
 */

export type StripeSubscriptionStatus = 'incomplete' | 'incomplete_expired' | 'trialing' | 'active' | 'past_due' | 'canceled' | 'unpaid' | 'paused';
/** Ours before Stripe has a subscription: a checkout is open, or it expired unpaid. */
export type SubscriptionStatus = 'checkout_open' | 'checkout_expired' | StripeSubscriptionStatus;

const STRIPE_STATUSES: readonly StripeSubscriptionStatus[] = ['incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'canceled', 'unpaid', 'paused'];
export const isStripeSubscriptionStatus = (value: unknown): value is StripeSubscriptionStatus => STRIPE_STATUSES.includes(value as StripeSubscriptionStatus);

/** Still billing, or still trying to: the user is subscribed (409 already-subscribed). */
export const LIVE_STATUSES: readonly SubscriptionStatus[] = ['active', 'trialing', 'past_due', 'unpaid'];
export const isLive = (status: SubscriptionStatus) => LIVE_STATUSES.includes(status);
/**
 * Whether the record keeps the (tenant, user, product) guard: an open checkout, a subscription
 * whose first payment is under way (incomplete), a live one, or a paused one (it can resume).
 */
export const holdsGuard = (status: SubscriptionStatus) => status === 'checkout_open' || status === 'incomplete' || status === 'paused' || isLive(status);

export interface SubscriptionAnomaly {
  kind: string;
  detail: string;
  stripeEventId: string | null;
  at: string;
}

export interface SubscriptionRecord {
  /** Ours (`sbr_…`), known from the first answer, before Stripe has a subscription. */
  subscriptionId: string;
  tenantId: string;
  userId: string;
  product: string;
  price: string;
  quantity: number;
  status: SubscriptionStatus;
  stripeCustomerId: string;
  checkoutSessionId: string;
  checkoutUrl: string | null;
  stripeSubscriptionId: string | null;
  /** Epoch seconds, from Stripe's subscription item. */
  currentPeriodEnd: number | null;
  cancelAtPeriodEnd: boolean;
  requestFingerprint: string;
  anomalies: SubscriptionAnomaly[];
  createdAt: string;
  updatedAt: string;
  version: number;
}

/** One item (price × quantity) of a Stripe Subscription. */
export interface SubscriptionItemSnapshot {
  price: string;
  product: string;
  quantity: number;
}

/** What a fetched Stripe Subscription says, in our terms. */
export interface SubscriptionSnapshot {
  id: string;
  customerId: string;
  status: StripeSubscriptionStatus;
  /** Of the first item (Stripe's order); see `items` for a subscription with several. */
  price: string;
  product: string;
  quantity: number;
  currentPeriodEnd: number | null;
  cancelAtPeriodEnd: boolean;
  /** Every item, when the reader saw more than one; absent means the one item above. */
  items?: SubscriptionItemSnapshot[];
}

/** What a subscription-mode Checkout Session says. */
export interface CheckoutSnapshot {
  id: string;
  status: 'open' | 'complete' | 'expired';
  customerId: string | null;
  subscriptionId: string | null;
}

export type NewAnomaly = Omit<SubscriptionAnomaly, 'at' | 'stripeEventId'>;

export type SubscriptionChange =
  /** `anomalies`: what Stripe's state has that we record besides applying it (the store adds them once). */
  | { kind: 'applied'; record: SubscriptionRecord; anomalies?: NewAnomaly[] }
  | { kind: 'stale'; reason: string }
  | { kind: 'foreign'; reason: string }
  | { kind: 'anomaly'; anomaly: NewAnomaly };

const stale = (reason: string): SubscriptionChange => ({ kind: 'stale', reason });
const anomaly = (kind: string, detail: string): SubscriptionChange => ({ kind: 'anomaly', anomaly: { kind, detail } });

const SNAPSHOT_FIELDS = ['stripeSubscriptionId', 'status', 'product', 'price', 'quantity', 'currentPeriodEnd', 'cancelAtPeriodEnd'] as const;

const hasAnomaly = (record: SubscriptionRecord, entry: NewAnomaly) => record.anomalies.some((a) => a.kind === entry.kind && a.detail === entry.detail);

/**
 * The item the record follows. One item: that one, whatever its product (a plan switch moves the
 * record, and the store its guard). Several (made with the API or Dashboard; our checkout and
 * the portal make one): the item of the record's product if there still is one, else Stripe's
 * first; either way a `multiple_items` anomaly, because one record cannot hold two products.
 */
function followedItem(record: SubscriptionRecord, snapshot: SubscriptionSnapshot): { item: SubscriptionItemSnapshot; anomaly?: NewAnomaly } {
  const items = snapshot.items && snapshot.items.length > 0 ? snapshot.items : [{ price: snapshot.price, product: snapshot.product, quantity: snapshot.quantity }];
  if (items.length === 1) return { item: items[0] };
  const item = items.find((i) => i.product === record.product) ?? items[0];
  const listed = items.map((i) => `${i.price}×${i.quantity}`).join(', ');
  return { item, anomaly: { kind: 'multiple_items', detail: `Stripe subscription ${snapshot.id} has ${items.length} items (${listed}); ${record.subscriptionId} follows ${item.price}` } };
}

/** Stripe's current subscription, applied to the record it belongs to. */
export function applySubscriptionSnapshot(record: SubscriptionRecord, snapshot: SubscriptionSnapshot): SubscriptionChange {
  if (snapshot.customerId !== record.stripeCustomerId) {
    return { kind: 'foreign', reason: `subscription ${snapshot.id} belongs to customer ${snapshot.customerId}, not ${record.stripeCustomerId}` };
  }
  if (record.stripeSubscriptionId !== null && record.stripeSubscriptionId !== snapshot.id) {
    return anomaly('second_subscription', `Stripe subscription ${snapshot.id} also claims ${record.subscriptionId}, which is ${record.stripeSubscriptionId}`);
  }
  const { item, anomaly: itemsAnomaly } = followedItem(record, snapshot);
  const next: SubscriptionRecord = {
    ...record,
    stripeSubscriptionId: snapshot.id,
    status: snapshot.status,
    product: item.product,
    price: item.price,
    quantity: item.quantity,
    currentPeriodEnd: snapshot.currentPeriodEnd,
    cancelAtPeriodEnd: snapshot.cancelAtPeriodEnd,
  };
  const newAnomalies = itemsAnomaly && !hasAnomaly(record, itemsAnomaly) ? [itemsAnomaly] : [];
  if (SNAPSHOT_FIELDS.every((field) => next[field] === record[field])) {
    return newAnomalies.length > 0 ? { kind: 'anomaly', anomaly: newAnomalies[0] } : stale('already equal to Stripe');
  }
  return { kind: 'applied', record: next, anomalies: newAnomalies };
}

/**
 * The record's own Checkout Session: expiry frees the guard (`checkout_expired`); completion
 * names the Stripe subscription (its state follows from the subscription snapshot).
 */
export function applyCheckoutSnapshot(record: SubscriptionRecord, session: CheckoutSnapshot): SubscriptionChange {
  if (session.id !== record.checkoutSessionId) return { kind: 'foreign', reason: `session ${session.id} is not the checkout of ${record.subscriptionId}` };
  if (session.customerId !== null && session.customerId !== record.stripeCustomerId) {
    return anomaly('checkout_customer_mismatch', `session ${session.id} completed for ${session.customerId}, not ${record.stripeCustomerId}`);
  }
  if (session.status === 'expired') {
    return record.status === 'checkout_open' ? { kind: 'applied', record: { ...record, status: 'checkout_expired', checkoutUrl: null } } : stale(`already ${record.status}`);
  }
  if (session.status === 'complete' && session.subscriptionId) {
    if (record.stripeSubscriptionId === session.subscriptionId) return stale('subscription already known');
    if (record.stripeSubscriptionId !== null) {
      return anomaly('second_subscription', `session ${session.id} created ${session.subscriptionId}, ${record.subscriptionId} is ${record.stripeSubscriptionId}`);
    }
    // Paid, but its subscription not fetched yet: `incomplete` keeps the guard and the record leaves checkout_open.
    return { kind: 'applied', record: { ...record, stripeSubscriptionId: session.subscriptionId, status: record.status === 'checkout_open' ? 'incomplete' : record.status, checkoutUrl: null } };
  }
  return stale(`session is ${session.status}`);
}

/** Adds an anomaly once (same kind and detail). */
export function recordSubscriptionAnomaly(record: SubscriptionRecord, entry: SubscriptionAnomaly): SubscriptionRecord {
  if (record.anomalies.some((a) => a.kind === entry.kind && a.detail === entry.detail)) return record;
  return { ...record, anomalies: [...record.anomalies, entry] };
}

/**
 * The (tenant, user, product) guard: which record keeps it. A record holding a guard needs the one
 * of its product; the guard itself is the lock that makes two checkouts for one product impossible.
 * The records, not the guard, are the truth: a guard lost (a crash between the record write and
 * the guard write) is taken again for the record that should hold it, and a guard whose holder
 * ends or moves goes to another record of the user still on that product, never freed under it.
 */
export interface GuardMoves {
  /** Products whose guard this record no longer needs: handed to `guardClaimant` of that product, or freed. */
  leave: string[];
  /** The product whose guard this record needs (taken if absent; see `guardConflict` if another holds it). */
  hold: string | undefined;
}

/** What a change of a record (or none: `before === after`, a stale event) means for its guards. */
export function guardMoves(before: SubscriptionRecord, after: SubscriptionRecord): GuardMoves {
  const leave = holdsGuard(before.status) && (before.product !== after.product || !holdsGuard(after.status)) ? [before.product] : [];
  return { leave, hold: holdsGuard(after.status) ? after.product : undefined };
}

/** Live first (the user pays for it), then one being set up or paused, then an open checkout; oldest first. */
const claimRank = (status: SubscriptionStatus) => (isLive(status) ? 0 : status === 'checkout_open' ? 2 : 1);

/**
 * Among a user's records, the one that should hold the guard of `product` (apart from
 * `excluding`, the record leaving it): undefined when none is live, incomplete, paused or open
 * on that product, and only then may the guard be freed or a new checkout opened.
 */
export function guardClaimant(records: readonly SubscriptionRecord[], product: string, excluding?: string): SubscriptionRecord | undefined {
  return records
    .filter((r) => r.subscriptionId !== excluding && r.product === product && holdsGuard(r.status))
    .sort((a, b) => claimRank(a.status) - claimRank(b.status) || a.createdAt.localeCompare(b.createdAt))[0];
}

/**
 * `record` needs the guard of its product, which `holder` holds (`holderRecord`: its record,
 * undefined while that request is still opening its checkout). `free`: the holder no longer
 * needs it (ended, or moved to another product): free it and take it. Otherwise the anomaly to
 * record on `record`: two subscriptions of the user on one product at Stripe, shown by
 * reconcile, never merged; the holder keeps the guard.
 */
export function guardConflict(record: SubscriptionRecord, holder: string, holderRecord: SubscriptionRecord | undefined): 'ours' | 'free' | NewAnomaly {
  if (holder === record.subscriptionId) return 'ours';
  if (holderRecord && (!holdsGuard(holderRecord.status) || holderRecord.product !== record.product)) return 'free';
  return {
    kind: holderRecord && holderRecord.status !== 'checkout_open' ? 'duplicate_live_subscription' : 'product_guard_held_by_checkout',
    detail: `Stripe subscription ${record.stripeSubscriptionId} of ${record.subscriptionId} moved to ${record.product}, which ${holder} holds for this user`,
  };
}

export interface SubscriptionView {
  subscriptionId: string;
  status: SubscriptionStatus;
  product: string;
  price: string;
  quantity: number;
  currentPeriodEnd: string | null;
  cancelAtPeriodEnd: boolean;
  createdAt: string;
  updatedAt: string;
}

export function subscriptionView(record: SubscriptionRecord): SubscriptionView {
  return {
    subscriptionId: record.subscriptionId,
    status: record.status,
    product: record.product,
    price: record.price,
    quantity: record.quantity,
    currentPeriodEnd: record.currentPeriodEnd === null ? null : new Date(record.currentPeriodEnd * 1000).toISOString(),
    cancelAtPeriodEnd: record.cancelAtPeriodEnd,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

/** The answer to POST /v1/subscriptions while a checkout is open. */
export function openCheckoutView(record: SubscriptionRecord) {
  return { subscriptionId: record.subscriptionId, status: 'checkout_open' as const, checkoutSessionId: record.checkoutSessionId, checkoutUrl: record.checkoutUrl };
}
