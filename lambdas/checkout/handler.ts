import { dynamoDbClient } from '../shared/aws-clients';
import { positiveIntEnv, requiredEnv } from '../shared/env';
import { journalFromEnv } from '../shared/journal';
import { StripePaymentGateway } from '../shared/stripe-gateway';
import { createCheckoutHandler } from './create-checkout-handler';

const dynamoDb = dynamoDbClient();

export const handler = createCheckoutHandler({
  dynamoDb,
  ordersTableName: requiredEnv('ORDERS_TABLE_NAME'),
  idempotencyTableName: requiredEnv('IDEMPOTENCY_TABLE_NAME'),
  gateway: new StripePaymentGateway(),
  journal: journalFromEnv(dynamoDb),
  idempotencyTtlSeconds: positiveIntEnv('CHECKOUT_IDEMPOTENCY_TTL_SECONDS', 86_400),
});
