import { orderView } from '../../lambdas/domain/ledger';
import type { Order } from '../../lambdas/domain/order';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { LOCAL_TABLE_NAMES } from '../../local/dynamodb';
import type { RequestLogEntry } from '../../local/api-gateway';
import { createShop, SHOP_TENANT, startShopServer, type ShopServer } from '../../local/shop/server';
import { LOCAL_EMULATOR_SECRET_KEY, startLocalStack, type LocalStack } from '../../local/stack';
import { localToken } from '../../local/token';
import Stripe from 'stripe';
import { freePorts } from '../support/ports';

/**
 * The demo shop in a real browser (Debian's Chromium driven by playwright-core): the client's
 * browser claims — a double click sends one key, a reload resumes with the same key — and the
 * emulator's hosted Checkout page, counted in orders and Stripe objects, not in pixels. The shop
 * is served from another origin (port) than the API, as a web app calls the deployed API, so
 * every call crosses CORS; the same shop on an origin the API does not allow gets nothing done.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
const inCi = process.env.CI === 'true';
if (!available && !inCi) {
  console.warn(`Browser tests SKIPPED: no Chromium at ${CHROMIUM}. Install it (apt-get install chromium) or set CHROMIUM_PATH; with CI=true they run and fail without it.`);
}
const describeBrowser = available || inCi ? describe : describe.skip;

describeBrowser('demo shop in Chromium', () => {
  let stack: LocalStack;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  /** Every request the API Gateway emulator answered, preflights included. */
  const apiLog: RequestLogEntry[] = [];

  beforeAll(async () => {
    if (!available) throw new Error(`CI=true but no Chromium at ${CHROMIUM}: .ci/run installs it (apt-get install chromium).`);
    [stack, browser] = await Promise.all([
      startLocalStack({ ports: { api: 0, stripe: 0, sqs: 0, dynamodb: 0, shop: 0 }, webhookSecret: 'whsec_browser', shop: true, queueVisibilitySeconds: 1, onRequest: (entry) => apiLog.push(entry) }),
      chromium.launch({
        executablePath: CHROMIUM,
        // launch() gives every browser a fresh temporary --user-data-dir of its own.
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      }),
    ]);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });
  // A fresh context per test: its own localStorage, as a new visitor.
  beforeEach(async () => {
    context = await browser.newContext();
    page = await context.newPage();
  });
  afterEach(() => context.close());

  const shopOrders = async () => {
    const { Items = [] } = await DynamoDBDocumentClient.from(stack.dynamoDb.client).send(new ScanCommand({ TableName: LOCAL_TABLE_NAMES.orders }));
    return Items.filter((item) => item.tenantId === SHOP_TENANT).map((item) => orderView(item as Order));
  };
  const stripeCount = (path: string) => stack.stripe!.state.executedCreates.get(path) ?? 0;
  /** Every Idempotency-Key the page sent with POST /v1/checkouts. */
  const checkoutKeys = (target: Page) => {
    const keys: string[] = [];
    target.on('request', (request) => {
      if (request.method() === 'POST' && request.url().endsWith('/v1/checkouts')) keys.push(request.headers()['idempotency-key']);
    });
    return keys;
  };
  const openShop = async (url = stack.shopUrl!) => {
    await page.goto(url);
    await page.locator('#products li').first().waitFor();
  };
  const firstPriceId = async () => ((await (await fetch(`${stack.shopUrl}config.json`)).json()) as { products: { priceId: string }[] }).products[0].priceId;
  const buyButton = () => page.locator('#products li').first().locator('button');
  const onPaymentPage = () => page.waitForURL(/\/c\/pay\/cs_test_/);

  it('a double click on Buy sends one Idempotency-Key and makes one order and one Checkout Session', async () => {
    const orders = (await shopOrders()).length;
    const sessions = stripeCount('/v1/checkout/sessions');
    const keys = checkoutKeys(page);
    await openShop();
    await buyButton().dblclick();
    await onPaymentPage();
    // The client shares one in-flight call per operation: the second click sends nothing at all.
    expect(keys.length).toBe(1);
    expect((await shopOrders()).length).toBe(orders + 1);
    expect(stripeCount('/v1/checkout/sessions')).toBe(sessions + 1);
    await expect(page.locator('#total').textContent()).resolves.toBe('25.00 EUR');
    expect(page.url()).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/c\/pay\/cs_test_/); // absolute, on the emulator
  }, 30_000);

  it('Pay on the Stripe page brings the customer back to an order that turns paid, then refunded', async () => {
    const charges = stack.stripe!.state.charges.size;
    await openShop();
    await buyButton().click();
    await onPaymentPage();
    await page.locator('#pay').click();
    await page.waitForURL(/\/shop\/order\?cart=.+&session=cs_test_/); // {CHECKOUT_SESSION_ID} filled in
    await page.locator('#order-status', { hasText: /^paid$/ }).waitFor({ timeout: 15_000 });
    expect(stack.stripe!.state.charges.size).toBe(charges + 1);

    const refunds = stripeCount('/v1/refunds');
    await page.locator('#refund').click();
    await page.locator('#order-status', { hasText: /^refunded$/ }).waitFor({ timeout: 15_000 });
    expect(stripeCount('/v1/refunds')).toBe(refunds + 1);
    const orderId = await page.locator('#order-id').textContent();
    const [order] = (await shopOrders()).filter((o) => o.orderId === orderId);
    expect(order).toMatchObject({ amountTotal: 2500, amountRefunded: 2500 });
  }, 40_000);

  it('Decline leaves the session open and the order unpaid; Cancel returns to the shop', async () => {
    const charges = stack.stripe!.state.charges.size;
    await openShop();
    await buyButton().click();
    await onPaymentPage();
    const sessionId = page.url().split('/').pop()!;
    await page.locator('#decline').click();
    await expect(page.locator('#notice').textContent()).resolves.toMatch(/declined/);
    expect(stack.stripe!.state.sessions.get(sessionId)).toMatchObject({ status: 'open', payment_status: 'unpaid' });
    await page.locator('#cancel').click();
    await page.waitForURL(/\/shop\/\?cancelled=/);
    await expect(page.locator('#status').textContent()).resolves.toMatch(/cancelled/);
    const [order] = (await shopOrders()).filter((o) => o.checkoutSessionId === sessionId);
    expect(order.status).toBe('pending');
    expect(stack.stripe!.state.charges.size).toBe(charges);
  }, 30_000);

  it('a reload while Buy waits for its answer resumes with the same key: one order', async () => {
    const orders = (await shopOrders()).length;
    const keys = checkoutKeys(page);
    await openShop();
    // The first checkout reaches the API and runs, but its answer never reaches the page.
    let held: (() => Promise<void>) | undefined;
    const ranOnServer = new Promise<void>((resolve) => {
      void page.route('**/v1/checkouts', async (route) => {
        if (held) return route.continue();
        held = () => route.abort().catch(() => undefined);
        await route.fetch();
        resolve();
      });
    });
    await buyButton().click();
    await ranOnServer;
    const replayed = page.waitForResponse((r) => r.url().endsWith('/v1/checkouts') && r.request().method() === 'POST');
    await page.reload();
    expect((await replayed).headers()['idempotent-replayed']).toBe('true');
    await onPaymentPage();
    await held!();
    expect(keys.length).toBe(2);
    expect(new Set(keys).size).toBe(1);
    expect((await shopOrders()).length).toBe(orders + 1);
  }, 30_000);
  it('the shop is on another origin than the API: Buy is preflighted, then sent, and the page reads the answers it needs', async () => {
    const shopOrigin = new URL(stack.shopUrl!).origin;
    expect(shopOrigin).not.toBe(new URL(stack.apiUrl).origin);
    apiLog.splice(0);
    await openShop();
    await buyButton().click();
    await onPaymentPage();
    const checkouts = apiLog.filter((e) => e.path === '/v1/checkouts').map((e) => `${e.method} ${e.status}`);
    expect(checkouts).toEqual(['OPTIONS 204', 'POST 201']);

    // What the client reads, read by a page of the shop's origin itself (fetch hides what CORS
    // does not expose); a page without the shop's script, which would resume the purchase.
    await page.goto(`${shopOrigin}/blank`);
    const seen = await page.evaluate(
      async ({ apiUrl, token, priceId }) => {
        const missing = await fetch(`${apiUrl}/v1/orders/ord_00000000000000000000000000000000`);
        const body = { lineItems: [{ price: priceId, quantity: 1 }], successUrl: `${location.origin}/shop/`, cancelUrl: `${location.origin}/shop/` };
        const key = crypto.randomUUID();
        const post = () => fetch(`${apiUrl}/v1/checkouts`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'Idempotency-Key': key }, body: JSON.stringify(body) });
        const first = await post();
        const replay = await post();
        return {
          unauthorized: [missing.status, ((await missing.json()) as { type: string }).type, missing.headers.get('link')?.includes('describedby')],
          replay: [first.status, first.headers.get('idempotent-replayed'), replay.status, replay.headers.get('idempotent-replayed')],
          // Not exposed, so hidden from the page: CORS is really in force.
          hidden: replay.headers.get('date'),
        };
      },
      { apiUrl: stack.apiUrl, token: localToken(SHOP_TENANT, 'cors-reader'), priceId: await firstPriceId() },
    );
    expect(seen).toEqual({ unauthorized: [401, 'urn:payments:problem:unauthorized', true], replay: [201, null, 201, 'true'], hidden: null });
  }, 30_000);

  it('the shop opened as http://localhost:<port> (the other loopback spelling) is allowed too: Buy reaches the payment page', async () => {
    const { port } = new URL(stack.shopUrl!);
    expect(stack.corsAllowedOrigins).toEqual(expect.arrayContaining([`http://127.0.0.1:${port}`, `http://localhost:${port}`]));
    const orders = (await shopOrders()).length;
    apiLog.splice(0);
    await openShop(`http://localhost:${port}/shop/`);
    await buyButton().click();
    await onPaymentPage();
    expect(apiLog.filter((e) => e.path === '/v1/checkouts').map((e) => `${e.method} ${e.status}`)).toEqual(['OPTIONS 204', 'POST 201']);
    expect((await shopOrders()).length).toBe(orders + 1);
    // Stripe sends the customer back to the spelling the page was opened under.
    await page.locator('#cancel').click();
    await page.waitForURL(new RegExp(`^http://localhost:${port}/shop/\\?cancelled=`));
  }, 30_000);

  it('a page on the shop\'s origin reads Retry-After and the problem of a 503 (Stripe unavailable); no Checkout Session was made', async () => {
    const shopOrigin = new URL(stack.shopUrl!).origin;
    const sessions = stripeCount('/v1/checkout/sessions');
    // Stripe answers 429 to every attempt the handler's SDK makes (3): the handler fails closed with 503 + Retry-After.
    const stripe = new Stripe(LOCAL_EMULATOR_SECRET_KEY, { host: new URL(stack.stripeUrl!).hostname, port: new URL(stack.stripeUrl!).port, protocol: 'http' });
    await stripe.rawRequest('POST', '/v1/test_helpers/faults', { path: '/v1/checkout/sessions', method: 'POST', kind: 'rate_limit_429', count: 5 });
    try {
      await page.goto(`${shopOrigin}/blank`);
      const seen = await page.evaluate(
        async ({ apiUrl, token, priceId }) => {
          const body = { lineItems: [{ price: priceId, quantity: 1 }], successUrl: `${location.origin}/shop/`, cancelUrl: `${location.origin}/shop/` };
          const answer = await fetch(`${apiUrl}/v1/checkouts`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'Idempotency-Key': crypto.randomUUID() }, body: JSON.stringify(body) });
          return { status: answer.status, retryAfter: answer.headers.get('Retry-After'), type: ((await answer.json()) as { type: string }).type };
        },
        { apiUrl: stack.apiUrl, token: localToken(SHOP_TENANT, 'retry-after-reader'), priceId: await firstPriceId() },
      );
      expect(seen).toEqual({ status: 503, retryAfter: expect.stringMatching(/^[1-9]\d*$/), type: 'urn:payments:problem:payment-provider-unavailable' });
    } finally {
      await stripe.rawRequest('DELETE', '/v1/test_helpers/faults', {});
    }
    // Every attempt was refused at Stripe: no Checkout Session exists to pay.
    expect(stripeCount('/v1/checkout/sessions')).toBe(sessions);
  }, 30_000);

  it('the same shop on an origin the API does not allow: the page says so at once, sends no call the browser would refuse, nothing is created', async () => {
    const outsider: ShopServer = await startShopServer(0);
    try {
      outsider.use(await createShop({ stripe: { secretKey: LOCAL_EMULATOR_SECRET_KEY, apiBase: stack.stripeUrl }, apiUrl: stack.apiUrl }));
      const orders = (await shopOrders()).length;
      const sessions = stripeCount('/v1/checkout/sessions');
      apiLog.splice(0);
      await openShop(outsider.url);
      // The page's own call fails as a network error: the browser never lets it through.
      const direct = await page.evaluate(async ({ apiUrl, token }) => {
        try {
          await fetch(`${apiUrl}/v1/orders/ord_00000000000000000000000000000000`, { headers: { Authorization: `Bearer ${token}` } });
          return 'answered';
        } catch (error) {
          return (error as Error).name;
        }
      }, { apiUrl: stack.apiUrl, token: localToken(SHOP_TENANT, 'outsider') });
      expect(direct).toBe('TypeError');
      const refusal = new RegExp(`does not allow this page's origin \\(${outsider.origin.replace(/\./g, '\\.')}\\).*CORS.*corsAllowedOrigins`);
      await page.locator('#status.error', { hasText: refusal }).waitFor({ timeout: 5_000 });
      const clicked = Date.now();
      await buyButton().click();
      await page.locator('#status.error', { hasText: refusal }).waitFor({ timeout: 5_000 });
      expect(Date.now() - clicked).toBeLessThan(5_000); // not the client's 20 s of retries
      expect((await shopOrders()).length).toBe(orders);
      expect(stripeCount('/v1/checkout/sessions')).toBe(sessions);
      // No checkout reached the API, not even its preflight; handlers ran only for the page's probe
      // of GET /problems (public): once as CORS judges it, once `no-cors`, which showed the API is up.
      expect(apiLog.filter((e) => e.path === '/v1/checkouts')).toEqual([]);
      expect(apiLog.filter((e) => e.method !== 'OPTIONS').map((e) => `${e.method} ${e.path} ${e.status}`)).toEqual(['GET /problems 200', 'GET /problems 200']);
    } finally {
      await outsider.close();
    }
  }, 30_000);

  it('an API the page cannot reach at all: the client retries, then the page says the API is down or does not allow its origin', async () => {
    const [closedPort] = await freePorts(1);
    const stranded: ShopServer = await startShopServer(0);
    try {
      stranded.use(await createShop({ stripe: { secretKey: LOCAL_EMULATOR_SECRET_KEY, apiBase: stack.stripeUrl }, apiUrl: `http://127.0.0.1:${closedPort}` }));
      await openShop(stranded.url);
      await buyButton().click();
      // A network failure looks like a CORS refusal to a page: the message names both.
      await page
        .locator('#status.error', { hasText: new RegExp(`Could not reach the shop's API at http://127\\.0\\.0\\.1:${closedPort}.*does not allow this page's origin \\(${stranded.origin.replace(/\./g, '\\.')}\\)`) })
        .waitFor({ timeout: 35_000 });
    } finally {
      await stranded.close();
    }
  }, 60_000);
});
