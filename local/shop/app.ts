import { PaymentsApiError, PaymentsClient, RetriesExhaustedError, StorageKeyStore, type Order } from '../../client/payments-client';

/**
 * The demo shop's browser code: pick a product, Buy, pay on the Stripe page, come back and watch
 * the order turn paid, then refund. Everything goes through client/payments-client.ts with
 * `StorageKeyStore(localStorage)`: a double click sends one Idempotency-Key, and a reload in the
 * middle of a purchase resumes it with the same key.
 */
interface Product {
  priceId: string;
  name: string;
  amountMinor: number;
  currency: string;
}
interface ShopConfig {
  /** The API, on another origin than this page (as a web app calls the deployed API): every call is a CORS request. */
  apiUrl: string;
  token: string;
  products: Product[];
}
/** The purchase in progress; kept in localStorage so a reload resumes it. */
interface Cart {
  cartId: string;
  priceId: string;
  orderId?: string;
  checkoutUrl?: string;
}

const CART = 'shop.cart';
const ORDERS = 'shop.orders'; // cartId → orderId, for the page Stripe sends the customer back to
const $ = (id: string) => document.getElementById(id)!;
const money = (amountMinor: number, currency: string) => `${(amountMinor / 100).toFixed(2)} ${currency.toUpperCase()}`;
const readJson = <T>(key: string): T | undefined => {
  const text = localStorage.getItem(key);
  return text ? (JSON.parse(text) as T) : undefined;
};
const say = (text: string, kind: 'info' | 'error' = 'info') => {
  const status = $('status');
  status.textContent = text;
  status.className = kind;
};

/**
 * Whether the browser lets this page read the API's answers. To a page, a CORS refusal and a
 * network failure are the same TypeError (the client retries both, as it must for a network
 * failure); a `no-cors` request, which CORS does not judge, tells them apart: it gets through
 * when the API is reachable. GET /problems is public and a simple request (no preflight).
 */
async function apiReach(apiUrl: string): Promise<'ok' | 'origin-refused' | 'unreachable'> {
  try {
    await fetch(`${apiUrl}/problems`);
    return 'ok';
  } catch {
    try {
      await fetch(`${apiUrl}/problems`, { mode: 'no-cors' });
      return 'origin-refused';
    } catch {
      return 'unreachable';
    }
  }
}

let apiUrl = '';
/** Known before any call is sent: the page's origin is not among the API's allowed origins. */
let originRefused: Promise<boolean> = Promise.resolve(false);
const originRefusedMessage = () =>
  `The API at ${apiUrl} does not allow this page's origin (${location.origin}): the browser refuses every call (CORS). ` +
  'Add the origin to corsAllowedOrigins in cdk.json (locally, or CORS_ALLOWED_ORIGINS) and restart.';

/** What the page says when a call failed. */
function failureMessage(error: unknown): string {
  if (error instanceof PaymentsApiError && error.problem) return `${error.problem.title}${error.problem.detail ? `: ${error.problem.detail}` : ''}`;
  if (error instanceof RetriesExhaustedError && error.lastFailure.startsWith('network:')) {
    return (
      `Could not reach the shop's API at ${apiUrl} (${error.message}). Either it is down or unreachable, or it does not allow ` +
      `this page's origin (${location.origin}): a browser reports a CORS refusal as a network error, so the page cannot tell which. Try again.`
    );
  }
  return `Could not reach the shop's API (${(error as Error).message}); try again.`;
}

async function main() {
  const config = (await (await fetch('/shop/config.json')).json()) as ShopConfig;
  apiUrl = config.apiUrl;
  originRefused = apiReach(config.apiUrl).then((reach) => reach === 'origin-refused');
  void originRefused.then((refused) => refused && say(originRefusedMessage(), 'error'));
  const payments = new PaymentsClient({ baseUrl: config.apiUrl, token: () => config.token, keyStore: new StorageKeyStore(localStorage), maxElapsedMs: 20_000 });
  const params = new URLSearchParams(location.search);
  const cartId = params.get('cart');
  if (location.pathname.endsWith('/order') && cartId) return showOrder(payments, cartId);
  showCatalogue(payments, config);
}

function showCatalogue(payments: PaymentsClient, config: ShopConfig) {
  $('catalogue').hidden = false;
  const list = $('products');
  for (const product of config.products) {
    const item = document.createElement('li');
    item.innerHTML = `<span class="name"></span> <span class="price"></span> <button class="buy">Buy</button>`;
    item.querySelector('.name')!.textContent = product.name;
    item.querySelector('.price')!.textContent = money(product.amountMinor, product.currency);
    item.querySelector('button')!.addEventListener('click', () => void buy(payments, product.priceId));
    item.dataset.price = product.priceId;
    list.append(item);
  }
  if (new URLSearchParams(location.search).has('cancelled')) say('Checkout cancelled: nothing was charged. Buy again to pick up where you left off.');
  // A purchase interrupted by a reload (or a crash) resumes with the same operation, hence the same key.
  const cart = readJson<Cart>(CART);
  if (cart && !new URLSearchParams(location.search).has('cancelled')) void buy(payments, cart.priceId, true);
}

/** Synchronous up to the request on purpose: a double click must reuse the first click's cart. */
async function buy(payments: PaymentsClient, priceId: string, resuming = false) {
  let cart = readJson<Cart>(CART);
  if (!cart || cart.priceId !== priceId) {
    cart = { cartId: crypto.randomUUID(), priceId };
    localStorage.setItem(CART, JSON.stringify(cart));
  }
  const returnTo = `${location.origin}/shop/order?cart=${cart.cartId}`;
  const body = {
    lineItems: [{ price: priceId, quantity: 1 }],
    successUrl: `${returnTo}&session={CHECKOUT_SESSION_ID}`,
    cancelUrl: `${location.origin}/shop/?cancelled=${cart.cartId}`,
  };
  say(resuming ? 'Resuming your order…' : 'Creating your order…');
  try {
    // Nothing is sent that the browser would refuse: no 20 s of retries that cannot succeed.
    if (await originRefused) return say(originRefusedMessage(), 'error');
    const { data, replayed } = await payments.createCheckout(body, { operationId: `checkout:${cart.cartId}` });
    const orders = readJson<Record<string, string>>(ORDERS) ?? {};
    localStorage.setItem(ORDERS, JSON.stringify({ ...orders, [cart.cartId]: data.orderId }));
    localStorage.setItem(CART, JSON.stringify({ ...cart, orderId: data.orderId, checkoutUrl: data.checkoutUrl }));
    if (!data.checkoutUrl) return say(`Order ${data.orderId} has no payment page (is it already settled?).`, 'error');
    say(`Order ${data.orderId}${replayed ? ' (resumed)' : ''}: on to payment…`);
    location.assign(data.checkoutUrl);
  } catch (error) {
    say(failureMessage(error), 'error');
  }
}

async function showOrder(payments: PaymentsClient, cartId: string) {
  $('order').hidden = false;
  const orderId = (readJson<Record<string, string>>(ORDERS) ?? {})[cartId];
  if (!orderId) return say('This browser does not know that order.', 'error');
  $('order-id').textContent = orderId;
  const refundButton = $('refund') as HTMLButtonElement;
  let order: Order | undefined;
  const render = (current: Order) => {
    order = current;
    $('order-status').textContent = current.status;
    $('order-total').textContent = money(current.amountTotal, current.currency);
    $('order-refunded').textContent = money(current.amountRefunded, current.currency);
    refundButton.hidden = !['paid', 'partially_refunded'].includes(current.status);
    if (current.status !== 'pending' && readJson<Cart>(CART)?.cartId === cartId) localStorage.removeItem(CART); // settled: the next Buy is a new order
  };
  refundButton.addEventListener('click', async () => {
    if (!order) return;
    try {
      const { data } = await payments.createRefund({ orderId, reason: 'requested_by_customer' }, { operationId: `refund:${orderId}` });
      say(`Refund ${data.refundId}: ${money(data.amount, data.currency)} ${data.status}.`);
    } catch (error) {
      say(failureMessage(error), 'error');
    }
  });
  // The order changes when Stripe's webhook has been processed: poll until it settles.
  for (;;) {
    try {
      render((await payments.getOrder(orderId)).data);
      say(order!.status === 'pending' ? 'Waiting for Stripe to confirm the payment…' : `Order ${order!.status}.`);
    } catch (error) {
      say((error as Error).message, 'error');
    }
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
}

void main();
