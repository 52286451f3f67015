import { dynamoDbClient } from '../shared/aws-clients';
import { positiveIntEnv, requiredEnv } from '../shared/env';
import { StripePaymentGateway } from '../shared/stripe-gateway';
import { createRefundsHandler } from './create-refunds-handler';

export const handler = createRefundsHandler({
  dynamoDb: dynamoDbClient(),
  ordersTableName: requiredEnv('ORDERS_TABLE_NAME'),
  idempotencyTableName: requiredEnv('IDEMPOTENCY_TABLE_NAME'),
  gateway: new StripePaymentGateway(),
  idempotencyTtlSeconds: positiveIntEnv('REFUND_IDEMPOTENCY_TTL_SECONDS', 86_400),
});
