import { dynamoDbClient } from '../shared/aws-clients';
import { positiveIntEnv, requiredEnv } from '../shared/env';
import { createEventProcessor } from './create-event-processor';

export const handler = createEventProcessor({
  dynamoDb: dynamoDbClient(),
  ordersTableName: requiredEnv('ORDERS_TABLE_NAME'),
  idempotencyTableName: requiredEnv('IDEMPOTENCY_TABLE_NAME'),
  eventIdempotencyTtlSeconds: positiveIntEnv('STRIPE_EVENT_IDEMPOTENCY_TTL_SECONDS', 7 * 86_400),
});
