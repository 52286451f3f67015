import fc from 'fast-check';
import { createCheckoutHandler } from '../../lambdas/checkout/create-checkout-handler';
import { createRefundsHandler } from '../../lambdas/refunds/create-refunds-handler';
import { problemTypeUri } from '../../lambdas/shared/problem';
import { call, countItems, createPrice, newKey, startHarness, TABLES, type Harness } from '../support/harness';
import { paidOrder } from '../support/paid-order';
import { invalidValue, requestSchema, specAccepts, validValue } from '../support/spec-arbitraries';

/**
 * Property tests over bodies generated from docs/openapi.yaml, sent through the real handlers
 * (dynalite, the Stripe emulator): a body the spec accepts is never a 400; a body it refuses is
 * always a 400 `validation` problem+json naming the fields, never a 2xx or 5xx, and creates
 * nothing. Whether a body is valid is decided by ajv over the spec with formats on (the oracle),
 * not by the generator and not by the handlers' code. Every answer is also checked against the
 * spec by call().
 */
let h: Harness;
let checkout: ReturnType<typeof createCheckoutHandler>;
let refunds: ReturnType<typeof createRefundsHandler>;
let realPrices: string[];
let paidOrderIds: string[];

beforeAll(async () => {
  h = await startHarness();
  const deps = { dynamoDb: h.db.client, ordersTableName: TABLES.orders, idempotencyTableName: TABLES.idempotency, gateway: h.gateway };
  checkout = createCheckoutHandler(deps);
  refunds = createRefundsHandler({ ...deps, idempotencyTtlSeconds: 3600 });
  realPrices = [await createPrice(h.stripe, 1200), await createPrice(h.stripe, 350)];
  paidOrderIds = [(await paidOrder(h, 5000)).orderId, (await paidOrder(h, 800)).orderId];
}, 60_000);
afterAll(() => h.close());

const RUNS = 120;
const sideEffects = async () => ({
  stripeSessions: h.emulator.state.executedCreates.get('/v1/checkout/sessions') ?? 0,
  stripeRefunds: h.emulator.state.executedCreates.get('/v1/refunds') ?? 0,
  orders: await countItems(h.db.client, TABLES.orders),
  idempotencyRecords: await countItems(h.db.client, TABLES.idempotency),
});

const routes = [
  {
    name: 'POST /v1/checkouts',
    schema: 'CheckoutRequest',
    send: (body: unknown) => call(checkout, { path: '/v1/checkouts', headers: { 'Idempotency-Key': newKey() }, body: JSON.stringify(body) }),
    // Real prices as well as made-up ones, so valid bodies reach 201 as well as Stripe's refusal.
    overrides: () => ({ price: fc.oneof(fc.constantFrom(...realPrices), validValue(requestSchema('CheckoutRequest').properties.lineItems.items.properties.price)) }),
  },
  {
    name: 'POST /v1/refunds',
    schema: 'RefundRequest',
    send: (body: unknown) => call(refunds, { path: '/v1/refunds', headers: { 'Idempotency-Key': newKey() }, body: JSON.stringify(body) }),
    overrides: () => ({ orderId: fc.oneof(fc.constantFrom(...paidOrderIds), validValue(requestSchema('RefundRequest').properties.orderId)) }),
  },
];

describe.each(routes)('$name', (route) => {
  it(`never answers 400 (nor 5xx) to ${RUNS} bodies the spec accepts`, async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(validValue(requestSchema(route.schema), route.overrides()), async (body) => {
        expect(specAccepts(route.schema, body)).toBe(true); // the generator is checked too
        const response = await route.send(body);
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        expect({ status: response.status, body: response.body }).toEqual({ status: expect.any(Number), body: expect.anything() });
        expect([response.status, response.status >= 500]).not.toEqual([400, false]);
        expect(response.status).toBeLessThan(500);
      }),
      { numRuns: RUNS },
    );
    // Not vacuous: valid bodies got past validation into the business step, some all the way.
    expect([...statuses.keys()].some((status) => status === 201)).toBe(true);
    expect([...statuses.keys()].some((status) => status !== 201)).toBe(true);
  }, 120_000);

  it(`answers 400 validation problem+json to ${RUNS} bodies the spec refuses, and creates nothing`, async () => {
    const before = await sideEffects();
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(invalidValue(requestSchema(route.schema), route.overrides()), async (body) => {
        fc.pre(!specAccepts(route.schema, body)); // a mutation that happens to stay valid proves nothing here
        refused++;
        const response = await route.send(body);
        expect(response.status).toBe(400);
        expect(response.headers['content-type']).toBe('application/problem+json');
        expect(response.body.type).toBe(problemTypeUri('validation'));
        expect(response.body.errors.length).toBeGreaterThan(0);
        for (const error of response.body.errors) expect(error.pointer).toMatch(/^(\/[^/]*)*$/);
      }),
      { numRuns: RUNS },
    );
    expect(refused).toBeGreaterThan(RUNS * 0.8);
    expect(await sideEffects()).toEqual(before);
  }, 120_000);
});
