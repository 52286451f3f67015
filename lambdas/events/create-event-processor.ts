import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { PaymentProviderUnavailableError, PoisonMessageError } from '../domain/errors';
import { noJournal, stripeObjectIdsOf, type Journal } from '../domain/journal';
import type { StripeReader } from '../domain/ports';
import { applyStripeEvent, checkStripeEvent, parseQueuedEvent, type EventOutcome, type StripeEvent } from '../domain/stripe-events';
import { logger, metrics } from '../shared/observability';
import { DynamoDbOrderStore } from '../shared/order-store';
import { DynamoDbSubscriptionStore } from '../shared/subscription-store';
import type { BillingReader } from '../domain/subscription-ports';

export interface EventProcessorDeps {
  dynamoDb: DynamoDBClient;
  ordersTableName: string;
  idempotencyTableName: string;
  /** Look-ups at Stripe: oversized events by id, and the order of an early refund or dispute. */
  stripe: StripeReader;
  /** Subscriptions: their table and Stripe reads. Without them subscription events are ignored. */
  subscriptions?: { tableName: string; billing: BillingReader };
  /**
   * Where to put an event back with a delay when Stripe is rate limiting or down, so that never
   * sends it to the DLQ. Without it (tests) such an event fails and SQS retries it.
   */
  requeue?: { sqs: SQSClient; queueUrl: string };
  /** Where each event and its outcome are recorded (lambdas/shared/journal-store.ts). @default none */
  journal?: Journal;
  /** Longer than Stripe's three days of retries. @default 604800 (7 days) */
  eventIdempotencyTtlSeconds?: number;
}

/** What the idempotency record keeps per event; a duplicate delivery gets it back, marked. */
interface AppliedEvent {
  outcome: EventOutcome;
  orderId: string | null;
  reason: string | null;
  duplicate?: true;
}

const METRIC_OF: Record<EventOutcome, string> = {
  applied: 'StripeEventApplied',
  stale: 'StripeEventStale',
  foreign: 'StripeEventForeign',
  anomaly: 'StripeEventAnomaly',
  ignored: 'StripeEventIgnored',
};

/** Set by `npm run events:replay` on the messages it sends; only our own tools can send to the queue. */
export const REPLAY_ATTRIBUTE = 'replay';
const isReplay = (record: SQSRecord) => record.messageAttributes?.[REPLAY_ATTRIBUTE]?.stringValue === 'true';

/** SQS allows a delay of at most 15 minutes. */
const MAX_DELAY_SECONDS = 900;

/**
 * SQS → orders. Each record is applied at most once per Stripe event id (a Stripe redelivery is
 * a new SQS message, so the SQS message id would not do); failures are reported per record, so
 * one bad record never makes its neighbours run again.
 */
export function createEventProcessor(deps: EventProcessorDeps) {
  const orders = new DynamoDbOrderStore(deps.dynamoDb, deps.ordersTableName);
  const subscriptions = deps.subscriptions
    ? { subscriptions: new DynamoDbSubscriptionStore(deps.dynamoDb, deps.subscriptions.tableName), billing: deps.subscriptions.billing }
    : undefined;
  const config = new IdempotencyConfig({
    eventKeyJmesPath: 'id',
    throwOnNoIdempotencyKey: true,
    expiresAfterSeconds: deps.eventIdempotencyTtlSeconds ?? 7 * 86_400,
    responseHook: (stored) => ({ ...(stored as object), duplicate: true }),
  });
  const apply = async (event: StripeEvent): Promise<AppliedEvent> => {
    const { outcome, orderId, reason } = await applyStripeEvent(event, { orders, stripe: deps.stripe, subscriptions });
    return { outcome, orderId: orderId ?? null, reason: reason ?? null };
  };
  const applyOnce = makeIdempotent(apply, {
    persistenceStore: new DynamoDBPersistenceLayer({ tableName: deps.idempotencyTableName, awsSdkV3Client: deps.dynamoDb }),
    config,
    keyPrefix: 'stripe-event',
  });

  /** The event itself, or, for a pointer the webhook enqueued because the event was too large, Stripe's copy. */
  const eventOf = async (body: string): Promise<StripeEvent> => {
    const queued = parseQueuedEvent(body);
    if ('data' in queued) return queued;
    const fetched = await deps.stripe.retrieveEvent(queued.id);
    if (!fetched) throw new PoisonMessageError(`event ${queued.id} does not exist at Stripe`);
    return checkStripeEvent(fetched);
  };

  const deferToLater = async (record: SQSRecord, requeue: NonNullable<EventProcessorDeps['requeue']>) => {
    const deferrals = Number(record.messageAttributes?.deferrals?.stringValue ?? 0) + 1;
    await requeue.sqs.send(
      new SendMessageCommand({
        QueueUrl: requeue.queueUrl,
        MessageBody: record.body,
        DelaySeconds: Math.min(MAX_DELAY_SECONDS, 15 * 2 ** Math.min(deferrals, 6)),
        MessageAttributes: {
          ...Object.fromEntries(
            Object.entries(record.messageAttributes ?? {})
              .filter(([name, value]) => name !== 'deferrals' && value.stringValue !== undefined)
              .map(([name, value]) => [name, { DataType: value.dataType, StringValue: value.stringValue }]),
          ),
          deferrals: { DataType: 'Number', StringValue: String(deferrals) },
        },
      }),
    );
    return deferrals;
  };

  const journal = deps.journal ?? noJournal;
  /** One journal write per processing attempt, after the outcome is known; it never throws. */
  const journalEvent = (event: StripeEvent, record: SQSRecord, result: { outcome: AppliedEvent['outcome'] | 'failed'; orderId?: string | null; reason?: string | null; error?: string; duplicate?: boolean }) =>
    journal.recordEvent({
      stripeEventId: event.id,
      type: event.type,
      created: event.created,
      apiVersion: event.api_version ?? null,
      objectIds: stripeObjectIdsOf(event),
      orderId: result.orderId ?? null,
      receivedAt: record.attributes?.SentTimestamp ? new Date(Number(record.attributes.SentTimestamp)).toISOString() : null,
      processedAt: new Date().toISOString(),
      outcome: result.outcome,
      reason: result.reason ?? null,
      error: result.error ?? null,
      duplicate: result.duplicate ?? false,
      replay: isReplay(record),
      payload: JSON.stringify(event),
    });

  const processRecord = async (record: SQSRecord) => {
    const started = Date.now();
    let event: StripeEvent | undefined;
    try {
      event = await eventOf(record.body);
      // A replay (npm run events:replay) applies again on purpose, past the idempotency record:
      // safe, because applying a fact is idempotent and order-independent (ledger.ts).
      const { outcome, orderId, reason, duplicate } = (isReplay(record) ? await apply(event) : await applyOnce(event)) as AppliedEvent;
      await journalEvent(event, record, { outcome, orderId, reason, duplicate });
      metrics.addMetric(duplicate ? 'StripeEventDuplicate' : METRIC_OF[outcome], MetricUnit.Count, 1);
      const log = outcome === 'anomaly' && !duplicate ? logger.warn.bind(logger) : logger.info.bind(logger);
      log('Stripe event handled', {
        stripeEventId: event.id,
        stripeEventType: event.type,
        orderId,
        outcome,
        reason,
        duplicate: duplicate ?? false,
        ms: Date.now() - started,
      });
    } catch (error) {
      if (error instanceof PaymentProviderUnavailableError && deps.requeue) {
        // Stripe rate limiting (429) or down: not the event's fault. Put it back with a delay and
        // acknowledge this copy, so receive counts never push a good event into the DLQ.
        const deferrals = await deferToLater(record, deps.requeue);
        metrics.addMetric('StripeEventDeferred', MetricUnit.Count, 1);
        logger.warn('Stripe unavailable; event put back for later', { stripeEventId: event?.id, deferrals });
        return;
      }
      metrics.addMetric('StripeEventFailed', MetricUnit.Count, 1);
      if (event) await journalEvent(event, record, { outcome: 'failed', error: `${(error as Error).name}: ${(error as Error).message}` });
      logger.warn('Stripe event failed; SQS will retry it', {
        stripeEventId: event?.id,
        stripeEventType: event?.type,
        messageId: record.messageId,
        receiveCount: record.attributes?.ApproximateReceiveCount,
        error: { name: (error as Error).name, message: (error as Error).message },
      });
      throw error;
    }
  };

  return async (sqsEvent: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    config.registerLambdaContext(context);
    try {
      // A processor per invocation: BatchProcessor keeps the batch's successes and failures as
      // state, which concurrent invocations in one process (the local poller) would mix up.
      return await processPartialResponse(sqsEvent, processRecord, new BatchProcessor(EventType.SQS), {
        context,
        // An all-failed batch is still a partial response: SQS retries exactly those records.
        throwOnFullBatchFailure: false,
      });
    } finally {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
  };
}
