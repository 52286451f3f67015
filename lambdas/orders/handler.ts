import { withCors } from '../shared/cors';
import { dynamoDbClient } from '../shared/aws-clients';
import { optionalEnv, requiredEnv } from '../shared/env';
import { createOrdersHandler } from './create-orders-handler';

// CORS headers for the allowed origins (CORS_ALLOWED_ORIGINS): API Gateway adds none to a proxy response.
export const handler = withCors(createOrdersHandler({
  dynamoDb: dynamoDbClient(),
  ordersTableName: requiredEnv('ORDERS_TABLE_NAME'),
  journalTableName: optionalEnv('JOURNAL_TABLE_NAME'),
}));
