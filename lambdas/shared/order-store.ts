import { ConditionalCheckFailedException, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { OrderNotFoundError, OrderNotReadyError } from '../domain/errors';
import { recordAnomaly, withRecoveryDue, type Change } from '../domain/ledger';
import type { Order } from '../domain/order';
import type { OrderStore, RequestClaim } from '../domain/ports';
import { ordersTable } from '../../lib/tables';

/** Optimistic-concurrency retries before giving up (the caller's retry then starts afresh). */
const MAX_WRITE_ATTEMPTS = 12;

/**
 * The orders table. The rules are pure functions (lambdas/domain/ledger.ts); this store only
 * persists what a rule decided, with one write conditional on the version the rule saw. When
 * the condition fails, the rule runs again on the item DynamoDB found
 * (ReturnValuesOnConditionCheckFailure: ALL_OLD), never on a later read: "did it apply, and if
 * not why" is always decided on the state the write was refused against.
 */
export class DynamoDbOrderStore implements OrderStore {
  private readonly documents: DynamoDBDocumentClient;

  constructor(
    dynamoDb: DynamoDBClient,
    private readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.documents = DynamoDBDocumentClient.from(dynamoDb, { marshallOptions: { removeUndefinedValues: true } });
  }

  async createOrder(order: Order): Promise<Order> {
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: withRecoveryDue(order),
          ConditionExpression: 'attribute_not_exists(orderId)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return order;
    } catch (error) {
      const existing = this.itemOfFailedCondition(error) ?? (await this.getOrder(order.orderId));
      if (!existing) throw error;
      return existing;
    }
  }

  async claimRequest(requestId: string, claim: RequestClaim): Promise<RequestClaim | undefined> {
    // Kept in the orders table under a key no order can have (`request#…`); no createdAt, tenant or
    // recoveryDue, so reconcile, the recovery index and the views never take it for an order.
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { orderId: `request#${requestId}`, forOrderId: claim.orderId, requestFingerprint: claim.requestFingerprint, claimedAt: this.now().toISOString() },
          ConditionExpression: 'attribute_not_exists(orderId)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return undefined;
    } catch (error) {
      const item = (this.itemOfFailedCondition(error) as unknown as Record<string, string> | undefined) ??
        ((await this.documents.send(new GetCommand({ TableName: this.tableName, Key: { orderId: `request#${requestId}` }, ConsistentRead: true }))).Item as Record<string, string> | undefined);
      if (!item) throw error;
      return { orderId: item.forOrderId, requestFingerprint: item.requestFingerprint };
    }
  }

  async getOrder(orderId: string): Promise<Order | undefined> {
    const { Item } = await this.documents.send(new GetCommand({ TableName: this.tableName, Key: { orderId }, ConsistentRead: true }));
    return Item as Order | undefined;
  }

  async findOrderIdByPaymentIntent(paymentIntentId: string): Promise<string | undefined> {
    const { Items } = await this.documents.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: ordersTable.paymentIntentIndex,
        KeyConditionExpression: 'paymentIntentId = :pi',
        ExpressionAttributeValues: { ':pi': paymentIntentId },
        ProjectionExpression: 'orderId',
        Limit: 1,
      }),
    );
    return Items?.[0]?.orderId as string | undefined;
  }

  /** Ids of the orders the recovery function should look at (a sparse index: only those). */
  async ordersDueForRecovery(): Promise<string[]> {
    const ids: string[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.documents.send(
        new ScanCommand({ TableName: this.tableName, IndexName: ordersTable.recoveryIndex, ExclusiveStartKey: start }),
      );
      for (const item of page.Items ?? []) ids.push(item.orderId as string);
      start = page.LastEvaluatedKey;
    } while (start);
    return ids;
  }

  async mutate(orderId: string, decide: (order: Order) => Change, stripeEventId: string | null): Promise<Change> {
    let current = await this.getOrder(orderId);
    for (let attempt = 1; ; attempt++) {
      if (!current) throw new OrderNotFoundError(orderId);
      const change = decide(current);
      if (change.kind === 'notReady') throw new OrderNotReadyError(orderId, change.reason);
      if (change.kind === 'stale') return change;
      const at = this.now().toISOString();
      const flagged = change.anomaly;
      let next = change.kind === 'applied' ? change.order : current;
      if (flagged) next = recordAnomaly(next, { ...flagged, stripeEventId, at });
      if (next === current) return change; // an anomaly already on the order
      next = withRecoveryDue({ ...next, version: current.version + 1, updatedAt: at });
      try {
        await this.documents.send(
          new PutCommand({
            TableName: this.tableName,
            Item: next,
            ConditionExpression: 'version = :seen',
            ExpressionAttributeValues: { ':seen': current.version },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        return change.kind === 'applied' ? { ...change, order: next } : change;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException) || attempt >= MAX_WRITE_ATTEMPTS) throw error;
        // dynalite does not return the item; there (only) the next decision rests on a fresh read,
        // which the version condition still guards.
        current = this.itemOfFailedCondition(error) ?? (await this.getOrder(orderId));
      }
    }
  }

  private itemOfFailedCondition(error: unknown): Order | undefined {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
    const item = (error as ConditionalCheckFailedException & { Item?: Record<string, AttributeValue> }).Item;
    return item ? (unmarshall(item) as Order) : undefined;
  }
}
