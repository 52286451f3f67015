/**
 * Table schemas, the single source of truth for the CDK stack (lib/payments-stack.ts) and the
 * local stack (local/dynamodb.ts). Plain data: no CDK import, so Lambda code can read it too.
 */
export interface TableSchema {
  /** Partition key attribute (string). */
  readonly partitionKey: string;
  /** Attribute holding the expiry in epoch seconds, if DynamoDB TTL should delete items. */
  readonly ttlAttribute?: string;
  /** Global secondary indexes, each keyed by one string attribute, projecting keys only. */
  readonly indexes: readonly { readonly name: string; readonly partitionKey: string }[];
}

/** Powertools idempotency records (its default attribute names: `id`, `expiration`). */
export const idempotencyTable = {
  partitionKey: 'id',
  ttlAttribute: 'expiration',
  indexes: [],
} as const satisfies TableSchema;

/**
 * Orders, with their refund ledger, reservations and disputes on the item so one conditional
 * write covers them all. `byRecoveryDue` is sparse: only orders waiting on Stripe carry the
 * attribute, so the recovery function reads its work list without scanning every order.
 */
export const ordersTable = {
  partitionKey: 'orderId',
  indexes: [
    { name: 'byPaymentIntent', partitionKey: 'paymentIntentId' },
    { name: 'byRecoveryDue', partitionKey: 'recoveryDue' },
  ],
  paymentIntentIndex: 'byPaymentIntent',
  recoveryIndex: 'byRecoveryDue',
} as const satisfies TableSchema & { paymentIntentIndex: string; recoveryIndex: string };

/**
 * The journal: one item per Stripe event received (`event#evt_…`), one per write we sent to
 * Stripe (`call#<operation>#<key or object>`), and the event's payload in its own item
 * (`payload#evt_…`) so the payload can expire sooner than the record of what happened.
 * `byOrder` is sparse (foreign events name no order) and keys-only: the history reads the keys,
 * then the items.
 */
export const journalTable = {
  partitionKey: 'entryId',
  ttlAttribute: 'expiresAt',
  indexes: [{ name: 'byOrder', partitionKey: 'orderId' }],
  orderIndex: 'byOrder',
} as const satisfies TableSchema & { orderIndex: string };

/** How long journal entries live: 13 months, an audit year plus the month it closes in. */
export const JOURNAL_ENTRY_TTL_SECONDS = 400 * 86_400;
/** How long an event's payload lives: longer than Stripe keeps events (30 days), so backfill and replay can always read it from one place. */
export const JOURNAL_PAYLOAD_TTL_SECONDS = 35 * 86_400;
/** Payloads above this stay at Stripe (a pointer): DynamoDB items are at most 400 KB, and the payload item also holds keys. */
export const JOURNAL_MAX_INLINE_PAYLOAD_BYTES = 350 * 1024;

/**
 * Subscriptions and what guards them, one item per key prefix (`pk`):
 * `customer#{tenant}#{user}` the user's one Stripe Customer; `guard#{tenant}#{user}#{product}`
 * the one live-or-open subscription slot, taken with a conditional put; `subscription#{id}` the
 * subscription record; `anomaly#{stripe subscription id}` a subscription of our customer that
 * no request of ours created. A table of its own, not the orders table: its keys are not order
 * ids, and the recovery function and reconcile scan the orders table as orders only.
 */
export const subscriptionsTable = {
  partitionKey: 'pk',
  indexes: [
    { name: 'byOwner', partitionKey: 'ownerKey' },
    { name: 'byStripeSubscription', partitionKey: 'stripeSubscriptionId' },
    { name: 'byGuardClaim', partitionKey: 'guardClaimKey' },
  ],
  ownerIndex: 'byOwner',
  stripeSubscriptionIndex: 'byStripeSubscription',
  /** Sparse: only records that may hold their product's guard (live, incomplete, paused, open), per (tenant, user, product). */
  guardClaimIndex: 'byGuardClaim',
} as const satisfies TableSchema & { ownerIndex: string; stripeSubscriptionIndex: string; guardClaimIndex: string };
