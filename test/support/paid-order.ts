import { createCheckoutHandler } from '../../lambdas/checkout/create-checkout-handler';
import type { Order } from '../../lambdas/domain/order';
import { createEventProcessor } from '../../lambdas/events/create-event-processor';
import { DynamoDbOrderStore } from '../../lambdas/shared/order-store';
import { lambdaContext } from '../../local/lambda-context';
import { call, createPrice, newKey, TABLES, type Harness } from './harness';
import { sqsEvent } from './orders';

/** An order created through the real checkout handler, its session open at the emulator. */
export async function checkoutOrder(h: Harness, amount: number): Promise<Order> {
  const deps = { dynamoDb: h.db.client, ordersTableName: TABLES.orders, idempotencyTableName: TABLES.idempotency };
  const price = await createPrice(h.stripe, amount);
  const created = await call(createCheckoutHandler({ ...deps, gateway: h.gateway }), {
    path: '/v1/checkouts',
    headers: { 'Idempotency-Key': newKey() },
    body: { lineItems: [{ price, quantity: 1 }], successUrl: 'https://shop.example/ok', cancelUrl: 'https://shop.example/no' },
  });
  if (created.status !== 201) throw new Error(`checkout answered ${created.status}`);
  return (await new DynamoDbOrderStore(h.db.client, TABLES.orders).getOrder(created.body.orderId))!;
}

/** The real path to a paid order: checkout, pay in the emulator, process its completed event. */
export async function paidOrder(h: Harness, amount: number): Promise<Order> {
  const deps = { dynamoDb: h.db.client, ordersTableName: TABLES.orders, idempotencyTableName: TABLES.idempotency };
  const created = { body: await checkoutOrder(h, amount) };
  const sessionId = created.body.checkoutSessionId as string;
  await h.stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${sessionId}/complete`, {});
  const completed = h.emulator.state.events.filter((e) => e.type === 'checkout.session.completed' && (e.data as { object: { id: string } }).object.id === sessionId);
  await createEventProcessor({ ...deps, stripe: h.gateway })(sqsEvent(completed.map((e) => JSON.stringify(e))), lambdaContext('events'));
  const order = (await new DynamoDbOrderStore(h.db.client, TABLES.orders).getOrder(created.body.orderId))!;
  if (order.paymentStatus !== 'paid') throw new Error(`order ${order.orderId} is ${order.paymentStatus}, not paid`);
  return order;
}
