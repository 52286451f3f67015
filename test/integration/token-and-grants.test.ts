import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { createCheckoutHandler } from '../../lambdas/checkout/create-checkout-handler';
import { createRefundsHandler } from '../../lambdas/refunds/create-refunds-handler';
import { problemTypeUri } from '../../lambdas/shared/problem';
import { IDEMPOTENCY_KEY_PREFIXES } from '../../lib/payments-stack';
import { ALICE, call, countItems, createPrice, newKey, startHarness, TABLES, type Harness } from '../support/harness';
import { paidOrder } from '../support/paid-order';

/**
 * What the deployed stack relies on from the handlers: tokens other than our app client's ID
 * tokens change nothing, and each function's idempotency records sit under the key prefix its
 * IAM policy allows (dynamodb:LeadingKeys in lib/payments-stack.ts).
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());
const deps = () => ({ dynamoDb: h.db.client, ordersTableName: TABLES.orders, idempotencyTableName: TABLES.idempotency, gateway: h.gateway });

it.each([
  ['an access token of our client', { ...ALICE, token_use: 'access' }],
  ['an ID token of another app client of the pool', { ...ALICE, aud: 'another-client' }],
])('answers 401 to %s and creates nothing at Stripe or in DynamoDB', async (_, claims) => {
  const price = await createPrice(h.stripe, 700);
  const sessionsBefore = h.emulator.state.executedCreates.get('/v1/checkout/sessions') ?? 0;
  const [ordersBefore, recordsBefore] = [await countItems(h.db.client, TABLES.orders), await countItems(h.db.client, TABLES.idempotency)];
  const response = await call(createCheckoutHandler(deps()), {
    path: '/v1/checkouts',
    claims,
    headers: { 'Idempotency-Key': newKey() },
    body: { lineItems: [{ price, quantity: 1 }], successUrl: 'https://shop.example/ok', cancelUrl: 'https://shop.example/no' },
  });
  expect(response.status).toBe(401);
  expect(response.body.type).toBe(problemTypeUri('unauthorized'));
  expect(h.emulator.state.executedCreates.get('/v1/checkout/sessions') ?? 0).toBe(sessionsBefore);
  expect(await countItems(h.db.client, TABLES.orders)).toBe(ordersBefore);
  expect(await countItems(h.db.client, TABLES.idempotency)).toBe(recordsBefore);
});

it('keeps each function\'s idempotency records under the prefix its IAM policy allows', async () => {
  const order = await paidOrder(h, 1200);
  const refunded = await call(createRefundsHandler(deps()), { path: '/v1/refunds', headers: { 'Idempotency-Key': newKey() }, body: { orderId: order.orderId, amount: 200 } });
  expect(refunded.status).toBe(201);
  const { Items } = await h.db.client.send(new ScanCommand({ TableName: TABLES.idempotency }));
  const prefixes = new Set(Items!.map((item) => item.id.S!.split('#')[0]));
  // checkout, the processed checkout.session.completed event, and the refund
  const { checkout, refunds, events } = IDEMPOTENCY_KEY_PREFIXES;
  expect([...prefixes].sort()).toEqual([checkout, refunds, events].sort());
});
