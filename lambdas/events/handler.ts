import { dynamoDbClient, sqsClient } from '../shared/aws-clients';
import { positiveIntEnv, requiredEnv } from '../shared/env';
import { journalFromEnv } from '../shared/journal';
import { StripeBillingGateway } from '../shared/stripe-billing-gateway';
import { StripePaymentGateway } from '../shared/stripe-gateway';
import { createEventProcessor } from './create-event-processor';

const dynamoDb = dynamoDbClient();

export const handler = createEventProcessor({
  dynamoDb,
  ordersTableName: requiredEnv('ORDERS_TABLE_NAME'),
  idempotencyTableName: requiredEnv('IDEMPOTENCY_TABLE_NAME'),
  stripe: new StripePaymentGateway(),
  journal: journalFromEnv(dynamoDb),
  subscriptions: { tableName: requiredEnv('SUBSCRIPTIONS_TABLE_NAME'), billing: new StripeBillingGateway() },
  requeue: { sqs: sqsClient(), queueUrl: requiredEnv('EVENTS_QUEUE_URL') },
  eventIdempotencyTtlSeconds: positiveIntEnv('STRIPE_EVENT_IDEMPOTENCY_TTL_SECONDS', 7 * 86_400),
});
