import { dynamoDbClient } from '../shared/aws-clients';
import { optionalEnv, requiredEnv } from '../shared/env';
import { createOrdersHandler } from './create-orders-handler';

export const handler = createOrdersHandler({
  dynamoDb: dynamoDbClient(),
  ordersTableName: requiredEnv('ORDERS_TABLE_NAME'),
  journalTableName: optionalEnv('JOURNAL_TABLE_NAME'),
});
