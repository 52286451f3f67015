import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { JOURNAL_ENTRY_TTL_SECONDS, JOURNAL_MAX_INLINE_PAYLOAD_BYTES, JOURNAL_PAYLOAD_TTL_SECONDS, journalTable } from '../../lib/tables';
import type { Journal, JournalEntry, StripeCallRecord, StripeEventRecord } from '../domain/journal';
import { logger, metrics } from './observability';

export const eventEntryId = (stripeEventId: string) => `event#${stripeEventId}`;
const payloadEntryId = (stripeEventId: string) => `payload#${stripeEventId}`;
const callEntryId = (c: Pick<StripeCallRecord, 'operation' | 'stripeIdempotencyKey' | 'stripeObjectId' | 'ourId'>) =>
  `call#${c.operation}#${c.stripeIdempotencyKey ?? c.stripeObjectId ?? c.ourId}`;

/** What backfill needs to know about an event it found at Stripe. */
export interface EventJournalState {
  stripeEventId: string;
  outcome?: string;
  /** When a backfill last enqueued it (ISO). */
  backfilledAt?: string;
}

/**
 * The journal in DynamoDB (lib/tables.ts `journalTable`). Writes are single UpdateItems that
 * merge (attempt counters ADD, first-seen times if_not_exists), so concurrent or repeated
 * writers never lose each other's information. A failed write is logged and counted and
 * swallowed: the journal describes payments, it never decides them.
 */
export class DynamoDbJournal implements Journal {
  private readonly documents: DynamoDBDocumentClient;

  constructor(
    dynamoDb: DynamoDBClient,
    private readonly tableName: string,
    private readonly nowSeconds: () => number = () => Math.floor(Date.now() / 1000),
  ) {
    this.documents = DynamoDBDocumentClient.from(dynamoDb, { marshallOptions: { removeUndefinedValues: true } });
  }

  async recordEvent(r: StripeEventRecord): Promise<void> {
    await this.safely('event', r.stripeEventId, async () => {
      const payloadInline = r.payload !== null && Buffer.byteLength(r.payload) <= JOURNAL_MAX_INLINE_PAYLOAD_BYTES;
      const values: Record<string, unknown> = {
        ':kind': 'stripe_event',
        ':id': r.stripeEventId,
        ':type': r.type,
        ':created': r.created,
        ':apiVersion': r.apiVersion,
        ':objectIds': r.objectIds,
        ':processedAt': r.processedAt,
        ':expiresAt': this.nowSeconds() + JOURNAL_ENTRY_TTL_SECONDS,
        ':one': 1,
      };
      const set = [
        'kind = :kind', 'stripeEventId = :id', '#type = :type', 'created = :created', 'apiVersion = :apiVersion',
        'objectIds = :objectIds', 'processedAt = :processedAt', 'firstProcessedAt = if_not_exists(firstProcessedAt, :processedAt)', 'expiresAt = :expiresAt',
      ];
      const add = ['attempts :one'];
      if (r.orderId) {
        set.push('orderId = :orderId');
        values[':orderId'] = r.orderId;
      }
      if (r.receivedAt) {
        set.push('receivedAt = if_not_exists(receivedAt, :receivedAt)');
        values[':receivedAt'] = r.receivedAt;
      }
      if (r.outcome === 'failed') {
        // A failure never overwrites an outcome already reached (a concurrent duplicate can fail
        // with "in progress" after the first copy applied).
        set.push('outcome = if_not_exists(outcome, :outcome)', '#error = :error', 'failedAt = :processedAt');
        values[':error'] = r.error;
      } else {
        set.push('reason = :reason');
        values[':reason'] = r.reason;
      }
      values[':outcome'] = r.outcome;
      if (r.outcome !== 'failed') set.push('outcome = :outcome');
      if (r.replay) add.push('replays :one');
      if (r.duplicate) add.push('duplicates :one');
      // A duplicate's payload was kept by the delivery that applied it.
      const keepPayload = payloadInline && !r.duplicate;
      if (r.payload !== null && !r.duplicate) {
        set.push('payloadAt = :payloadAt');
        values[':payloadAt'] = payloadInline ? 'journal' : 'stripe';
      }
      const entryWrite = this.documents.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [journalTable.partitionKey]: eventEntryId(r.stripeEventId) },
          UpdateExpression: `SET ${set.join(', ')} ADD ${add.join(', ')}`,
          ExpressionAttributeNames: { '#type': 'type', ...(r.outcome === 'failed' ? { '#error': 'error' } : {}) },
          ExpressionAttributeValues: values,
        }),
      );
      // Independent of the entry, so in parallel: one round trip of latency, not two.
      const payloadWrite = keepPayload
        ? this.documents
            .send(
              new PutCommand({
                TableName: this.tableName,
                Item: { entryId: payloadEntryId(r.stripeEventId), stripeEventId: r.stripeEventId, payload: r.payload, expiresAt: this.nowSeconds() + JOURNAL_PAYLOAD_TTL_SECONDS },
                ConditionExpression: 'attribute_not_exists(entryId)', // Stripe's events are immutable: the first copy is the copy
              }),
            )
            .catch((error: Error) => {
              if (error.name !== 'ConditionalCheckFailedException') throw error;
            })
        : Promise.resolve();
      await Promise.all([entryWrite, payloadWrite]);
    });
  }

  async recordStripeCall(c: StripeCallRecord): Promise<void> {
    // Stripe's id is set once known and never cleared: a retry whose outcome is unknown must not
    // erase what an earlier attempt learned.
    const objectId = c.stripeObjectId === null ? '' : ', stripeObjectId = :objectId';
    await this.safely('stripe_call', c.ourId, () =>
      this.documents.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [journalTable.partitionKey]: callEntryId(c) },
          UpdateExpression:
            'SET kind = :kind, operation = :operation, orderId = :orderId, tenantId = :tenantId, ourId = :ourId, stripeIdempotencyKey = :key, ' +
            `outcome = :outcome, #error = :error, #at = :at, firstAt = if_not_exists(firstAt, :at), expiresAt = :expiresAt${objectId} ADD attempts :one`,
          ExpressionAttributeNames: { '#error': 'error', '#at': 'at' },
          ExpressionAttributeValues: {
            ':kind': 'stripe_call', ':operation': c.operation, ':orderId': c.orderId, ':tenantId': c.tenantId, ':ourId': c.ourId,
            ':key': c.stripeIdempotencyKey, ':outcome': c.outcome, ':error': c.error, ':at': c.at,
            ':expiresAt': this.nowSeconds() + JOURNAL_ENTRY_TTL_SECONDS, ':one': 1,
            ...(c.stripeObjectId === null ? {} : { ':objectId': c.stripeObjectId }),
          },
        }),
      ),
    );
  }

  /** Every entry about the order, in no particular order (the timeline sorts). */
  async entriesOfOrder(orderId: string): Promise<JournalEntry[]> {
    const keys: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.documents.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: journalTable.orderIndex,
          KeyConditionExpression: 'orderId = :orderId',
          ExpressionAttributeValues: { ':orderId': orderId },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) keys.push({ entryId: item.entryId });
      start = page.LastEvaluatedKey;
    } while (start);
    return (await this.batchGet(keys)) as unknown as JournalEntry[];
  }

  /** The journal's view of these Stripe events (absent from the map: never journaled). */
  async eventStates(stripeEventIds: readonly string[]): Promise<Map<string, EventJournalState>> {
    const items = await this.batchGet(
      stripeEventIds.map((id) => ({ entryId: eventEntryId(id) })),
      'stripeEventId, outcome, backfilledAt',
    );
    return new Map(
      items.map((i) => [i.stripeEventId as string, { stripeEventId: i.stripeEventId as string, outcome: i.outcome as string | undefined, backfilledAt: i.backfilledAt as string | undefined }]),
    );
  }

  /**
   * Notes that a backfill enqueued these events, so a second backfill before the processor
   * caught up does not enqueue them again. Unlike the processor's writes, this one may fail
   * loudly: it is an operator's command, not a payment.
   */
  async markBackfilled(stripeEventIds: readonly string[], atIso: string): Promise<void> {
    for (const id of stripeEventIds) {
      await this.documents.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [journalTable.partitionKey]: eventEntryId(id) },
          UpdateExpression: 'SET stripeEventId = :id, backfilledAt = :at, expiresAt = if_not_exists(expiresAt, :expiresAt)',
          ExpressionAttributeValues: { ':id': id, ':at': atIso, ':expiresAt': this.nowSeconds() + JOURNAL_ENTRY_TTL_SECONDS },
        }),
      );
    }
  }

  /** The payload kept for the event, while it is kept. */
  async payloadOf(stripeEventId: string): Promise<string | undefined> {
    const { Item } = await this.documents.send(new GetCommand({ TableName: this.tableName, Key: { entryId: payloadEntryId(stripeEventId) } }));
    return Item?.payload as string | undefined;
  }

  /** Event entries processed since `sinceIso` (a scan: for the occasional replay, not for a request path). */
  async eventEntriesSince(sinceIso: string): Promise<JournalEntry[]> {
    const items: JournalEntry[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.documents.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: 'kind = :kind AND created >= :since',
          ExpressionAttributeValues: { ':kind': 'stripe_event', ':since': Math.floor(Date.parse(sinceIso) / 1000) },
          ExclusiveStartKey: start,
        }),
      );
      items.push(...((page.Items ?? []) as JournalEntry[]));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }

  private async batchGet(keys: Record<string, unknown>[], projection?: string): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    for (let i = 0; i < keys.length; i += 100) {
      let request: Record<string, { Keys: Record<string, unknown>[]; ProjectionExpression?: string }> | undefined = {
        [this.tableName]: { Keys: keys.slice(i, i + 100), ...(projection ? { ProjectionExpression: projection } : {}) },
      };
      for (let round = 0; request && Object.keys(request).length > 0; round++) {
        if (round > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** round)));
        const answer = await this.documents.send(new BatchGetCommand({ RequestItems: request }));
        items.push(...(answer.Responses?.[this.tableName] ?? []));
        request = answer.UnprocessedKeys as typeof request;
      }
    }
    return items;
  }

  private async safely(kind: string, id: string, write: () => Promise<unknown>): Promise<void> {
    try {
      await write();
    } catch (error) {
      metrics.addMetric('JournalWriteFailed', MetricUnit.Count, 1);
      logger.warn('Journal write failed; the payment outcome stands, backfill will find the gap', {
        journalEntryKind: kind,
        id,
        error: { name: (error as Error).name, message: (error as Error).message },
      });
    }
  }
}
