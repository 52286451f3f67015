import { ConditionalCheckFailedException, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { guardClaimant, guardConflict, guardMoves, holdsGuard, recordSubscriptionAnomaly, type NewAnomaly, type SubscriptionChange, type SubscriptionRecord } from '../domain/subscription';
import type { SubscriptionGuard, SubscriptionStore } from '../domain/subscription-ports';
import { subscriptionsTable } from '../../lib/tables';

const MAX_WRITE_ATTEMPTS = 12;

// Claims match CLAIM_PATTERN (request-identity.ts: [\w.@:+-], no '#') and Stripe ids never contain '#', so keys never collide.
export const keys = {
  customer: (tenantId: string, userId: string) => `customer#${tenantId}#${userId}`,
  guard: (tenantId: string, userId: string, product: string) => `guard#${tenantId}#${userId}#${product}`,
  subscription: (subscriptionId: string) => `subscription#${subscriptionId}`,
  anomaly: (stripeSubscriptionId: string) => `anomaly#${stripeSubscriptionId}`,
  owner: (tenantId: string, userId: string) => `${tenantId}#${userId}`,
  guardClaim: (tenantId: string, userId: string, product: string) => `${tenantId}#${userId}#${product}`,
};

/**
 * The subscriptions table (lib/tables.ts). Every write that decides something is conditional:
 * the customer link and the guard on absence, records on their version, guard release on its
 * holder. On a failed condition the item DynamoDB found (ALL_OLD) is the answer.
 */
export class DynamoDbSubscriptionStore implements SubscriptionStore {
  private readonly documents: DynamoDBDocumentClient;

  constructor(
    dynamoDb: DynamoDBClient,
    private readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.documents = DynamoDBDocumentClient.from(dynamoDb, { marshallOptions: { removeUndefinedValues: true } });
  }

  private async get<T>(pk: string): Promise<T | undefined> {
    const { Item } = await this.documents.send(new GetCommand({ TableName: this.tableName, Key: { pk }, ConsistentRead: true }));
    return Item as T | undefined;
  }

  /** Puts the item unless one exists under its key; returns whichever is stored. */
  private async putIfAbsent<T extends object>(pk: string, item: T): Promise<T> {
    try {
      await this.documents.send(new PutCommand({
        TableName: this.tableName, Item: { pk, ...item }, ConditionExpression: 'attribute_not_exists(pk)', ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }));
      return item;
    } catch (error) {
      const existing = itemOfFailedCondition<T>(error) ?? (await this.get<T>(pk));
      if (!existing) throw error;
      return existing;
    }
  }

  async customerOf(tenantId: string, userId: string) {
    return (await this.get<{ stripeCustomerId: string }>(keys.customer(tenantId, userId)))?.stripeCustomerId;
  }

  async linkCustomer(tenantId: string, userId: string, stripeCustomerId: string) {
    const linked = await this.putIfAbsent(keys.customer(tenantId, userId), { tenantId, userId, stripeCustomerId, createdAt: this.now().toISOString() });
    return linked.stripeCustomerId;
  }

  async relinkCustomer(tenantId: string, userId: string, deleted: string, replacement: string) {
    try {
      await this.documents.send(new UpdateCommand({
        TableName: this.tableName, Key: { pk: keys.customer(tenantId, userId) },
        UpdateExpression: 'SET stripeCustomerId = :replacement, replacedCustomerIds = list_append(if_not_exists(replacedCustomerIds, :none), :deleted), updatedAt = :at',
        ConditionExpression: 'stripeCustomerId = :old',
        ExpressionAttributeValues: { ':old': deleted, ':replacement': replacement, ':deleted': [deleted], ':none': [], ':at': this.now().toISOString() },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }));
      return replacement;
    } catch (error) {
      const linked = itemOfFailedCondition<{ stripeCustomerId: string }>(error) ?? (await this.get<{ stripeCustomerId: string }>(keys.customer(tenantId, userId)));
      if (!linked) throw error;
      return linked.stripeCustomerId;
    }
  }

  async takeGuard(guard: SubscriptionGuard) {
    return strip(await this.putIfAbsent(keys.guard(guard.tenantId, guard.userId, guard.product), guard));
  }

  async releaseGuard(tenantId: string, userId: string, product: string, subscriptionId: string) {
    try {
      await this.documents.send(new DeleteCommand({
        TableName: this.tableName, Key: { pk: keys.guard(tenantId, userId, product) },
        ConditionExpression: 'subscriptionId = :holder', ExpressionAttributeValues: { ':holder': subscriptionId },
      }));
    } catch (error) {
      // Gone already, or held by another subscription since: not ours to free.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  async getSubscription(subscriptionId: string) {
    const item = await this.get<SubscriptionRecord>(keys.subscription(subscriptionId));
    return item && strip(item);
  }

  async createSubscription(record: SubscriptionRecord) {
    return strip((await this.putIfAbsent(keys.subscription(record.subscriptionId), withIndexKeys(record))) as unknown as SubscriptionRecord);
  }

  async mutate(subscriptionId: string, decide: (record: SubscriptionRecord) => SubscriptionChange, stripeEventId: string | null): Promise<SubscriptionChange> {
    let current = await this.getSubscription(subscriptionId);
    for (let attempt = 1; ; attempt++) {
      if (!current) return { kind: 'foreign', reason: `no subscription ${subscriptionId}` };
      const change = decide(current);
      if (change.kind === 'foreign') return change;
      if (change.kind === 'stale') {
        await this.restoreGuard(current, stripeEventId);
        return change;
      }
      const at = this.now().toISOString();
      let next = change.kind === 'applied'
        ? (change.anomalies ?? []).reduce((r, a) => recordSubscriptionAnomaly(r, { ...a, stripeEventId, at }), change.record)
        : recordSubscriptionAnomaly(current, { ...change.anomaly, stripeEventId, at });
      if (next === current) return change; // the anomaly is already on the record
      next = { ...next, version: current.version + 1, updatedAt: at };
      try {
        await this.documents.send(new PutCommand({
          TableName: this.tableName, Item: { pk: keys.subscription(subscriptionId), ...withIndexKeys(next) },
          ConditionExpression: 'version = :seen', ExpressionAttributeValues: { ':seen': current.version }, ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }));
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException) || attempt >= MAX_WRITE_ATTEMPTS) throw error;
        const found = itemOfFailedCondition<SubscriptionRecord>(error);
        current = found ? strip(found) : await this.getSubscription(subscriptionId);
        continue;
      }
      if (change.kind === 'anomaly') return change;
      const conflict = await this.moveGuard(current, next);
      if (conflict) {
        const recorded = await this.mutate(subscriptionId, () => ({ kind: 'anomaly', anomaly: conflict }), stripeEventId);
        if (recorded.kind === 'anomaly') next = (await this.getSubscription(subscriptionId)) ?? next;
      }
      return { kind: 'applied', record: next };
    }
  }

  /**
   * A stale decision changes nothing, but the step after the last write may have been lost: a
   * record that needs its guard and does not hold it takes it if absent (one consistent read,
   * then one conditional put); an ended one still holding its guard hands it on or frees it.
   * When another record holds it, the conflict is recorded once (same kind and detail).
   */
  private async restoreGuard(record: SubscriptionRecord, stripeEventId: string | null) {
    // A read first (most events end stale with the guard in place): a write only when something is to repair.
    const guard = await this.get<SubscriptionGuard>(keys.guard(record.tenantId, record.userId, record.product));
    const ours = guard?.subscriptionId === record.subscriptionId;
    if (holdsGuard(record.status)) {
      if (ours) return;
      const conflict = await this.moveGuard(record, record);
      if (conflict) await this.mutate(record.subscriptionId, () => ({ kind: 'anomaly', anomaly: conflict }), stripeEventId);
    } else if (ours) {
      await this.leaveGuard(record.tenantId, record.userId, record.product, record.subscriptionId);
    }
  }

  /**
   * Executes `guardMoves` (lambdas/domain/subscription.ts) after a write, and after a stale
   * decision too: a guard lost to a crash between a record write and this step (an SQS retry, a
   * re-sent event then find the record already equal to Stripe) comes back with the next event.
   * Returns the anomaly `guardConflict` names when another record holds the guard this one needs.
   */
  private async moveGuard(before: SubscriptionRecord, after: SubscriptionRecord): Promise<NewAnomaly | undefined> {
    const { tenantId, userId, subscriptionId } = after;
    const { leave, hold } = guardMoves(before, after);
    for (const product of leave) await this.leaveGuard(tenantId, userId, product, subscriptionId);
    if (!hold) return undefined;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const holder = await this.takeGuard({
        tenantId, userId, product: hold, subscriptionId, price: after.price, quantity: after.quantity,
        // Only a guard whose record does not exist yet opens a checkout with these; this one's record exists.
        successUrl: '', cancelUrl: '', requestFingerprint: after.requestFingerprint, createdAt: this.now().toISOString(),
      });
      const conflict = guardConflict(after, holder.subscriptionId, holder.subscriptionId === subscriptionId ? after : await this.getSubscription(holder.subscriptionId));
      if (conflict === 'ours') return undefined;
      if (conflict !== 'free') return conflict;
      await this.releaseGuard(tenantId, userId, hold, holder.subscriptionId);
    }
    throw new Error(`subscription guard of ${tenantId}/${userId}/${hold} kept changing`);
  }

  /** `subscriptionId` no longer needs the guard of `product`: to the user's other record on it (guardClaimant), or freed. */
  private async leaveGuard(tenantId: string, userId: string, product: string, subscriptionId: string) {
    const heir = guardClaimant(await this.guardClaimantsOf(tenantId, userId, product), product, subscriptionId);
    if (heir) await this.handGuard(tenantId, userId, product, subscriptionId, heir.subscriptionId);
    else await this.releaseGuard(tenantId, userId, product, subscriptionId);
  }

  async handGuard(tenantId: string, userId: string, product: string, from: string, to: string) {
    try {
      await this.documents.send(new UpdateCommand({
        TableName: this.tableName, Key: { pk: keys.guard(tenantId, userId, product) },
        UpdateExpression: 'SET subscriptionId = :to', ConditionExpression: 'subscriptionId = :from', ExpressionAttributeValues: { ':from': from, ':to': to },
      }));
      return true;
    } catch (error) {
      // Gone, or held by another subscription since: not ours to hand on.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return false;
    }
  }

  async listByOwner(tenantId: string, userId: string) {
    return this.recordsOf(subscriptionsTable.ownerIndex, 'ownerKey', keys.owner(tenantId, userId));
  }

  /** The user's records that may hold the guard of `product` (live, incomplete, paused, open): a sparse index, not their history. */
  async guardClaimantsOf(tenantId: string, userId: string, product: string) {
    const records = await this.recordsOf(subscriptionsTable.guardClaimIndex, 'guardClaimKey', keys.guardClaim(tenantId, userId, product));
    // The index lags its table: the consistent read of each record decides.
    return records.filter((r) => r.product === product && holdsGuard(r.status));
  }

  /** Every page of a keys-only index query, then each record read consistently by its key; oldest first. */
  private async recordsOf(indexName: string, attribute: string, value: string) {
    const pks: string[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.documents.send(new QueryCommand({
        TableName: this.tableName, IndexName: indexName, ExclusiveStartKey: start,
        KeyConditionExpression: '#key = :value', ExpressionAttributeNames: { '#key': attribute }, ExpressionAttributeValues: { ':value': value },
      }));
      for (const item of page.Items ?? []) pks.push(item.pk as string);
      start = page.LastEvaluatedKey;
    } while (start);
    const records = await Promise.all(pks.map((pk) => this.get<SubscriptionRecord>(pk)));
    return records.filter((r): r is SubscriptionRecord => r !== undefined).map(strip).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async findByStripeSubscription(stripeSubscriptionId: string) {
    const { Items } = await this.documents.send(new QueryCommand({
      TableName: this.tableName, IndexName: subscriptionsTable.stripeSubscriptionIndex,
      KeyConditionExpression: 'stripeSubscriptionId = :id', ExpressionAttributeValues: { ':id': stripeSubscriptionId },
    }));
    const pk = Items?.find((item) => String(item.pk).startsWith('subscription#'))?.pk as string | undefined;
    return pk?.slice('subscription#'.length);
  }

  async recordForeignSubscription(entry: Parameters<SubscriptionStore['recordForeignSubscription']>[0]) {
    await this.putIfAbsent(keys.anomaly(entry.stripeSubscriptionId), { ...entry, at: this.now().toISOString() });
  }

  /** Everything, for reconcile. */
  async scanAll(): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.documents.send(new ScanCommand({ TableName: this.tableName, ExclusiveStartKey: start, ConsistentRead: true }));
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }
}

const withIndexKeys = (record: SubscriptionRecord) => ({
  ...record,
  ownerKey: keys.owner(record.tenantId, record.userId),
  // Sparse: present only while the record may hold its product's guard, so the claimants of a
  // guard are one small query, however many ended checkouts the user has.
  guardClaimKey: holdsGuard(record.status) ? keys.guardClaim(record.tenantId, record.userId, record.product) : undefined,
  // An index key cannot be null: absent until Stripe has a subscription.
  stripeSubscriptionId: record.stripeSubscriptionId ?? undefined,
});

function strip<T>(item: T): T {
  const { pk: _pk, ownerKey: _owner, guardClaimKey: _claim, ...rest } = item as T & { pk?: string; ownerKey?: string; guardClaimKey?: string };
  const record = rest as Record<string, unknown>;
  if ('subscriptionId' in record && 'status' in record && record.stripeSubscriptionId === undefined) record.stripeSubscriptionId = null;
  return record as T;
}

function itemOfFailedCondition<T>(error: unknown): T | undefined {
  if (!(error instanceof ConditionalCheckFailedException)) throw error;
  const item = (error as ConditionalCheckFailedException & { Item?: Record<string, AttributeValue> }).Item;
  return item ? (unmarshall(item) as T) : undefined;
}
