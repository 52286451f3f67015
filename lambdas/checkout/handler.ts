import { withCors } from '../shared/cors';
import { dynamoDbClient } from '../shared/aws-clients';
import { positiveIntEnv, requiredEnv } from '../shared/env';
import { journalFromEnv } from '../shared/journal';
import { StripePaymentGateway } from '../shared/stripe-gateway';
import { createCheckoutHandler } from './create-checkout-handler';

const dynamoDb = dynamoDbClient();

// CORS headers for the allowed origins (CORS_ALLOWED_ORIGINS): API Gateway adds none to a proxy response.
export const handler = withCors(createCheckoutHandler({
  dynamoDb,
  ordersTableName: requiredEnv('ORDERS_TABLE_NAME'),
  idempotencyTableName: requiredEnv('IDEMPOTENCY_TABLE_NAME'),
  gateway: new StripePaymentGateway(),
  journal: journalFromEnv(dynamoDb),
  idempotencyTtlSeconds: positiveIntEnv('CHECKOUT_IDEMPOTENCY_TTL_SECONDS', 86_400),
}));
