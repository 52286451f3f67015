import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { orderView } from '../domain/ledger';
import { problemResult, respond, result } from '../shared/http';
import { DynamoDbOrderStore } from '../shared/order-store';
import { callerOf } from '../shared/request-identity';

const ORDER_ID = /^ord_[0-9a-f]{32}$/;

/** GET /v1/orders/{orderId}: another tenant's order is answered exactly like a missing one. */
export function createOrdersHandler(deps: { dynamoDb: DynamoDBClient; ordersTableName: string }) {
  const orders = new DynamoDbOrderStore(deps.dynamoDb, deps.ordersTableName);
  return (event: APIGatewayProxyEvent) =>
    respond(event, async () => {
      const { tenantId } = callerOf(event);
      const orderId = event.pathParameters?.orderId ?? '';
      const order = ORDER_ID.test(orderId) ? await orders.getOrder(orderId) : undefined;
      if (!order || order.tenantId !== tenantId) return problemResult('notFound', 'No such order');
      return result(200, orderView(order));
    });
}
