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

/** Orders, with their refunds as a map on the item so one conditional write covers both. */
export const ordersTable = {
  partitionKey: 'orderId',
  indexes: [{ name: 'byPaymentIntent', partitionKey: 'paymentIntentId' }],
  paymentIntentIndex: 'byPaymentIntent',
} as const satisfies TableSchema & { paymentIntentIndex: string };
