import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { orderTimeline } from '../domain/journal';
import { orderView } from '../domain/ledger';
import { problemResult, respond, result } from '../shared/http';
import { DynamoDbJournal } from '../shared/journal-store';
import { DynamoDbOrderStore } from '../shared/order-store';
import { callerOf } from '../shared/request-identity';

const ORDER_ID = /^ord_[0-9a-f]{32}$/;
export const HISTORY_RESOURCE = '/v1/orders/{orderId}/history';

/**
 * GET /v1/orders/{orderId} and GET /v1/orders/{orderId}/history: another tenant's order is
 * answered exactly like a missing one, and so is its history (the journal is read only after
 * the order proved to be the caller's).
 */
export function createOrdersHandler(deps: { dynamoDb: DynamoDBClient; ordersTableName: string; journalTableName?: string }) {
  const orders = new DynamoDbOrderStore(deps.dynamoDb, deps.ordersTableName);
  const journal = deps.journalTableName ? new DynamoDbJournal(deps.dynamoDb, deps.journalTableName) : undefined;
  return (event: APIGatewayProxyEvent) =>
    respond(event, async () => {
      const { tenantId } = callerOf(event);
      const orderId = event.pathParameters?.orderId ?? '';
      const order = ORDER_ID.test(orderId) ? await orders.getOrder(orderId) : undefined;
      if (!order || order.tenantId !== tenantId) return problemResult('notFound', 'No such order');
      if (event.resource !== HISTORY_RESOURCE) return result(200, orderView(order));
      const entries = journal ? await journal.entriesOfOrder(orderId) : [];
      return result(200, { orderId, status: orderView(order).status, journal: journal ? 'kept' : 'not_configured', steps: orderTimeline(order, entries) });
    });
}
