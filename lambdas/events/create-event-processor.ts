import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { applyStripeEvent, parseStripeEvent, type EventOutcome, type StripeEvent } from '../domain/stripe-events';
import { logger, metrics } from '../shared/observability';
import { DynamoDbOrderStore } from '../shared/order-store';

export interface EventProcessorDeps {
  dynamoDb: DynamoDBClient;
  ordersTableName: string;
  idempotencyTableName: string;
  /** Longer than Stripe's three days of retries. @default 604800 (7 days) */
  eventIdempotencyTtlSeconds?: number;
}

/** What the idempotency record keeps per event; a duplicate delivery gets it back, marked. */
interface AppliedEvent {
  outcome: EventOutcome;
  orderId: string | null;
  duplicate?: true;
}

/**
 * SQS → orders. Each record is applied at most once per Stripe event id (a Stripe redelivery is
 * a new SQS message, so the SQS message id would not do); failures are reported per record, so
 * one bad record never makes its neighbours run again.
 */
export function createEventProcessor(deps: EventProcessorDeps) {
  const store = new DynamoDbOrderStore(deps.dynamoDb, deps.ordersTableName);
  const config = new IdempotencyConfig({
    eventKeyJmesPath: 'id',
    throwOnNoIdempotencyKey: true,
    expiresAfterSeconds: deps.eventIdempotencyTtlSeconds ?? 7 * 86_400,
    responseHook: (stored) => ({ ...(stored as object), duplicate: true }),
  });
  const apply = async (event: StripeEvent): Promise<AppliedEvent> => {
    const { outcome, orderId } = await applyStripeEvent(event, store);
    return { outcome, orderId: orderId ?? null };
  };
  const applyOnce = makeIdempotent(apply, {
    persistenceStore: new DynamoDBPersistenceLayer({ tableName: deps.idempotencyTableName, awsSdkV3Client: deps.dynamoDb }),
    config,
    keyPrefix: 'stripe-event',
  });

  const processRecord = async (record: SQSRecord) => {
    const started = Date.now();
    let event: StripeEvent | undefined;
    try {
      event = parseStripeEvent(record.body);
      const { outcome, orderId, duplicate } = (await applyOnce(event)) as AppliedEvent;
      metrics.addMetric(duplicate ? 'StripeEventDuplicate' : outcome === 'ignored' ? 'StripeEventIgnored' : 'StripeEventProcessed', MetricUnit.Count, 1);
      logger.info('Stripe event handled', { stripeEventId: event.id, stripeEventType: event.type, orderId, outcome, duplicate: duplicate ?? false, ms: Date.now() - started });
    } catch (error) {
      metrics.addMetric('StripeEventFailed', MetricUnit.Count, 1);
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
