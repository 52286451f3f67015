import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCheckoutPage } from './checkout-page';
import { decodeStripeForm, type FormValue } from './form-encoding';
import * as build from './stripe-objects';
import { stripeId, type Metadata, type StripeObject } from './stripe-objects';
import { WebhookDelivery, type WebhookEndpoint } from './webhook-delivery';

/**
 * A stateful stand-in for the Stripe API, for the real `stripe` SDK pointed at it
 * (host/port/protocol). It covers what this backend uses, with Stripe's request encoding,
 * error shapes, id prefixes and Idempotency-Key semantics, plus helpers under
 * /v1/test_helpers/ to pay sessions, fail refunds, open disputes, resend events and inject faults.
 */
export interface StripeEmulatorOptions {
  port?: number;
  host?: string;
  webhook?: WebhookEndpoint;
  /** Waits between webhook attempts after a failure. @default [200, 500, 1000, 2000, 5000] */
  webhookRetryScheduleMs?: number[];
}

export interface StripeEmulator {
  readonly url: string;
  readonly port: number;
  readonly webhooks: WebhookDelivery;
  /** Everything the emulator holds, for tests that count side effects. */
  readonly state: EmulatorState;
  close(): Promise<void>;
}

type FaultKind = 'error_500' | 'rate_limit_429' | 'drop_response';
interface Fault {
  pathPrefix: string;
  method: string | undefined;
  kind: FaultKind;
  remaining: number;
}

interface SavedResponse {
  fingerprint: string;
  status: number;
  body: unknown;
}

export class EmulatorState {
  readonly products = new Map<string, StripeObject>();
  readonly prices = new Map<string, StripeObject>();
  readonly sessions = new Map<string, StripeObject>();
  readonly paymentIntents = new Map<string, StripeObject>();
  readonly charges = new Map<string, StripeObject>();
  readonly refunds = new Map<string, StripeObject>();
  readonly disputes = new Map<string, StripeObject>();
  readonly events: StripeObject[] = [];
  readonly idempotency = new Map<string, SavedResponse>();
  readonly faults: Fault[] = [];
  /** What each session sells (price id and quantity), for its hosted page. */
  readonly sessionLineItems = new Map<string, { price: string; quantity: number }[]>();
  /** The payment_intent_data[metadata] of each session, applied when the session is paid. */
  readonly sessionIntentMetadata = new Map<string, Metadata>();
  /** Every API request received (after auth), replays and faults included. */
  readonly requests: { method: string; path: string; idempotencyKey: string | null }[] = [];
  /** How many create requests actually executed, per path: what a duplicate must not raise. */
  readonly executedCreates = new Map<string, number>();
}

class StripeApiError extends Error {
  constructor(
    readonly status: number,
    readonly error: { type: string; code?: string; message: string; param?: string },
  ) {
    super(error.message);
  }
}

const missing = (kind: string, id: string, param?: string) =>
  new StripeApiError(404, { type: 'invalid_request_error', code: 'resource_missing', message: `No such ${kind}: '${id}'`, ...(param ? { param } : {}) });
const invalid = (message: string, param?: string, code = 'parameter_invalid') =>
  new StripeApiError(400, { type: 'invalid_request_error', code, message, ...(param ? { param } : {}) });

const str = (value: FormValue | undefined): string | undefined => (typeof value === 'string' ? value : undefined);
const required = (params: Record<string, FormValue>, name: string): string => {
  const value = str(params[name]);
  if (value === undefined || value === '') {
    throw new StripeApiError(400, { type: 'invalid_request_error', code: 'parameter_missing', message: `Missing required param: ${name}.`, param: name });
  }
  return value;
};
const integer = (value: string, param: string, min: number): number => {
  const parsed = Number(value);
  if (!/^-?\d+$/.test(value) || parsed < min) throw invalid(`Invalid integer: ${value}`, param, 'parameter_invalid_integer');
  return parsed;
};
const metadataOf = (value: FormValue | undefined): Metadata => {
  if (value === undefined || value === '') return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid('Invalid metadata', 'metadata');
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
};

/** Stripe compares the parameters of a replayed request; key order does not matter. */
const canonical = (value: unknown): string =>
  typeof value === 'object' && value !== null
    ? Array.isArray(value)
      ? `[${value.map(canonical).join(',')}]`
      : `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`
    : JSON.stringify(value);

interface ApiRequest {
  method: string;
  path: string;
  params: Record<string, FormValue>;
  query: URLSearchParams;
  requestId: string;
  idempotencyKey: string | null;
}

type Route = { method: string; pattern: RegExp; handle: (request: ApiRequest, match: RegExpExecArray) => StripeObject | Record<string, unknown> };

export async function startStripeEmulator(options: StripeEmulatorOptions = {}): Promise<StripeEmulator> {
  const state = new EmulatorState();
  const webhooks = new WebhookDelivery(options.webhook, options.webhookRetryScheduleMs ?? [200, 500, 1000, 2000, 5000]);
  let baseUrl = '';

  const emit = (type: string, object: StripeObject, request: ApiRequest) => {
    const event = build.event(type, object, { id: request.requestId, idempotencyKey: request.idempotencyKey });
    state.events.push(event);
    webhooks.send(event);
  };
  const countCreate = (path: string) => state.executedCreates.set(path, (state.executedCreates.get(path) ?? 0) + 1);

  const get = <T extends StripeObject>(map: Map<string, StripeObject>, kind: string, id: string) => {
    const object = map.get(id);
    if (!object) throw missing(kind, id);
    return object as T;
  };

  const list = (objects: StripeObject[], request: ApiRequest, filter: (o: StripeObject) => boolean = () => true) => {
    const limit = Math.min(Math.max(Number(request.query.get('limit') ?? 10) || 10, 1), 100);
    const bound = (op: string) => request.query.get(`created[${op}]`);
    const created = (o: StripeObject) => o.created as number;
    let rows = objects
      .filter(filter)
      .filter((o) => bound('gte') === null || created(o) >= Number(bound('gte')))
      .filter((o) => bound('gt') === null || created(o) > Number(bound('gt')))
      .filter((o) => bound('lte') === null || created(o) <= Number(bound('lte')))
      .filter((o) => bound('lt') === null || created(o) < Number(bound('lt')))
      .reverse(); // newest first, as Stripe lists
    const after = request.query.get('starting_after');
    if (after) rows = rows.slice(rows.findIndex((o) => o.id === after) + 1);
    return { object: 'list', data: rows.slice(0, limit), has_more: rows.length > limit, url: request.path };
  };

  const sessionCreate = (request: ApiRequest) => {
    const { params } = request;
    if (required(params, 'mode') !== 'payment') throw invalid('The emulator supports only mode=payment.', 'mode');
    const lineItems = params.line_items;
    if (!Array.isArray(lineItems) || lineItems.length === 0) {
      throw new StripeApiError(400, { type: 'invalid_request_error', code: 'parameter_missing', message: 'Missing required param: line_items.', param: 'line_items' });
    }
    let currency: string | undefined;
    let amountTotal = 0;
    const sold: { price: string; quantity: number }[] = [];
    lineItems.forEach((item, index) => {
      const entry = (typeof item === 'object' && !Array.isArray(item) ? item : {}) as Record<string, FormValue>;
      const priceId = required(entry, 'price');
      const found = state.prices.get(priceId);
      if (!found || !found.active) throw missing('price', priceId, `line_items[${index}][price]`);
      const quantity = integer(str(entry.quantity) ?? '1', `line_items[${index}][quantity]`, 1);
      if (currency && currency !== found.currency) throw invalid('All line items must use the same currency.', 'line_items');
      currency = found.currency as string;
      amountTotal += (found.unit_amount as number) * quantity;
      sold.push({ price: priceId, quantity });
    });
    const intentData = params.payment_intent_data;
    const session = build.checkoutSession({
      amountTotal,
      currency: currency!,
      successUrl: required(params, 'success_url'),
      cancelUrl: str(params.cancel_url) ?? null,
      clientReferenceId: str(params.client_reference_id) ?? null,
      customerEmail: str(params.customer_email) ?? null,
      metadata: metadataOf(params.metadata),
      paymentUrlBase: baseUrl,
    });
    state.sessions.set(session.id, session);
    state.sessionLineItems.set(session.id, sold);
    state.sessionIntentMetadata.set(
      session.id,
      metadataOf(typeof intentData === 'object' && !Array.isArray(intentData) ? intentData.metadata : undefined),
    );
    countCreate('/v1/checkout/sessions');
    return session;
  };

  /** Pays an open session: PaymentIntent + Charge, then the events Stripe sends, in its order. */
  const sessionComplete = (request: ApiRequest, sessionId: string) => {
    const session = get(state.sessions, 'checkout.session', sessionId);
    if (session.status !== 'open') throw invalid(`This Checkout Session is ${session.status}.`, undefined, 'checkout_session_not_open');
    const unpaid = str(request.params.payment_status) === 'unpaid'; // an async method, e.g. a bank debit
    const metadata = state.sessionIntentMetadata.get(sessionId) ?? {};
    const amount = session.amount_total as number;
    const currency = session.currency as string;
    const intent = build.paymentIntent({ amount, currency, metadata, status: unpaid ? 'processing' : 'succeeded' });
    state.paymentIntents.set(intent.id, intent);
    Object.assign(session, { status: 'complete', payment_status: unpaid ? 'unpaid' : 'paid', payment_intent: intent.id });
    if (!unpaid) {
      const paid = charge(intent, metadata);
      emit('charge.succeeded', paid, request);
      emit('payment_intent.succeeded', intent, request);
    }
    emit('checkout.session.completed', session, request);
    return session;
  };

  const charge = (intent: StripeObject, metadata: Metadata) => {
    const created = build.charge({ amount: intent.amount as number, currency: intent.currency as string, paymentIntentId: intent.id, paymentMethodId: intent.payment_method as string, metadata });
    state.charges.set(created.id, created);
    Object.assign(intent, { latest_charge: created.id, status: 'succeeded', amount_received: intent.amount });
    return created;
  };

  const sessionAsyncPayment = (request: ApiRequest, sessionId: string) => {
    const session = get(state.sessions, 'checkout.session', sessionId);
    const intent = state.paymentIntents.get(session.payment_intent as string);
    if (session.status !== 'complete' || session.payment_status !== 'unpaid' || !intent) {
      throw invalid('This Checkout Session has no pending asynchronous payment.');
    }
    if (required(request.params, 'outcome') === 'succeeded') {
      charge(intent, state.sessionIntentMetadata.get(sessionId) ?? {});
      session.payment_status = 'paid';
      emit('checkout.session.async_payment_succeeded', session, request);
    } else {
      intent.status = 'requires_payment_method';
      emit('checkout.session.async_payment_failed', session, request);
    }
    return session;
  };

  const sessionExpire = (request: ApiRequest, sessionId: string) => {
    const session = get(state.sessions, 'checkout.session', sessionId);
    if (session.status !== 'open') {
      throw invalid(`Only Checkout Sessions with a status of open can be expired. This Checkout Session has a status of ${session.status}.`);
    }
    Object.assign(session, { status: 'expired', url: null });
    emit('checkout.session.expired', session, request);
    return session;
  };

  const chargeOfIntent = (paymentIntentId: string, param: string) => {
    const intent = get(state.paymentIntents, 'payment_intent', paymentIntentId);
    const found = intent.latest_charge ? state.charges.get(intent.latest_charge as string) : undefined;
    if (!found || intent.status !== 'succeeded') {
      throw invalid(`This PaymentIntent (${paymentIntentId}) does not have a successful charge to refund.`, param);
    }
    return found;
  };

  const refundCreate = (request: ApiRequest) => {
    const { params } = request;
    const paymentIntentId = str(params.payment_intent);
    const target = paymentIntentId
      ? chargeOfIntent(paymentIntentId, 'payment_intent')
      : get(state.charges, 'charge', required(params, 'charge'));
    const refundable = (target.amount as number) - (target.amount_refunded as number);
    if (refundable <= 0) throw invalid(`Charge ${target.id} has already been refunded.`, undefined, 'charge_already_refunded');
    const amount = params.amount === undefined ? refundable : integer(required(params, 'amount'), 'amount', 1);
    if (amount > refundable) {
      throw invalid(`Refund amount (${amount}) is greater than unrefunded amount on charge (${refundable})`, 'amount', 'amount_too_large');
    }
    const reason = str(params.reason) ?? null;
    if (reason !== null && !['duplicate', 'fraudulent', 'requested_by_customer'].includes(reason)) {
      throw invalid(`Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer`, 'reason');
    }
    const created = build.refund({ amount, currency: target.currency as string, chargeId: target.id, paymentIntentId: target.payment_intent as string, reason, metadata: metadataOf(params.metadata) });
    state.refunds.set(created.id, created);
    adjustRefunded(target, amount, created);
    countCreate('/v1/refunds');
    emit('refund.created', created, request);
    emit('charge.refunded', target, request);
    return created;
  };

  const adjustRefunded = (target: StripeObject, delta: number, refund: StripeObject) => {
    const refunded = (target.amount_refunded as number) + delta;
    const refunds = target.refunds as { data: StripeObject[] };
    refunds.data = [refund, ...refunds.data.filter((r) => r.id !== refund.id)];
    Object.assign(target, { amount_refunded: refunded, refunded: refunded >= (target.amount as number) });
  };

  /** A refund the bank bounced (Stripe: status failed, amount back on the charge). */
  const refundFail = (request: ApiRequest, refundId: string) => {
    const refund = get(state.refunds, 'refund', refundId);
    if (refund.status === 'failed' || refund.status === 'canceled') throw invalid(`Refund ${refundId} is already ${refund.status}.`);
    Object.assign(refund, { status: 'failed', failure_reason: 'lost_or_stolen_card' });
    adjustRefunded(get(state.charges, 'charge', refund.charge as string), -(refund.amount as number), refund);
    emit('refund.updated', refund, request);
    emit('refund.failed', refund, request);
    return refund;
  };

  const disputeCreate = (request: ApiRequest, paymentIntentId: string) => {
    const disputed = chargeOfIntent(paymentIntentId, 'payment_intent');
    const created = build.dispute({ amount: disputed.amount as number, currency: disputed.currency as string, chargeId: disputed.id, paymentIntentId });
    disputed.disputed = true;
    state.disputes.set(created.id, created);
    emit('charge.dispute.created', created, request);
    return created;
  };

  const priceCreate = (request: ApiRequest) => {
    const { params } = request;
    const currency = required(params, 'currency').toLowerCase();
    const unitAmount = integer(required(params, 'unit_amount'), 'unit_amount', 0);
    let productId = str(params.product);
    if (productId) {
      get(state.products, 'product', productId);
    } else {
      const data = params.product_data;
      if (typeof data !== 'object' || Array.isArray(data)) {
        throw new StripeApiError(400, { type: 'invalid_request_error', code: 'parameter_missing', message: 'Missing required param: product.', param: 'product' });
      }
      const created = build.product(required(data, 'name'), metadataOf(data.metadata));
      state.products.set(created.id, created);
      productId = created.id;
    }
    const created = build.price({ currency, unitAmount, productId, metadata: metadataOf(params.metadata), nickname: str(params.nickname) ?? null });
    state.prices.set(created.id, created);
    return created;
  };

  const faultsSet = (request: ApiRequest) => {
    const kind = required(request.params, 'kind') as FaultKind;
    if (!['error_500', 'rate_limit_429', 'drop_response'].includes(kind)) throw invalid('kind must be error_500, rate_limit_429 or drop_response', 'kind');
    const fault = {
      pathPrefix: required(request.params, 'path'),
      method: str(request.params.method)?.toUpperCase(),
      kind,
      remaining: integer(str(request.params.count) ?? '1', 'count', 1),
    };
    state.faults.push(fault);
    return { object: 'test_helpers.fault', ...fault };
  };

  const resend = (eventId: string) => {
    const found = state.events.find((e) => e.id === eventId);
    if (!found) throw missing('event', eventId);
    webhooks.send(found);
    return found;
  };

  const routes: Route[] = [
    { method: 'POST', pattern: /^\/v1\/products$/, handle: (r) => { const p = build.product(required(r.params, 'name'), metadataOf(r.params.metadata)); state.products.set(p.id, p); return p; } },
    { method: 'POST', pattern: /^\/v1\/prices$/, handle: priceCreate },
    { method: 'GET', pattern: /^\/v1\/prices\/([^/]+)$/, handle: (_, m) => get(state.prices, 'price', m[1]) },
    { method: 'POST', pattern: /^\/v1\/checkout\/sessions$/, handle: sessionCreate },
    {
      method: 'GET', pattern: /^\/v1\/checkout\/sessions$/,
      handle: (r) => list([...state.sessions.values()], r, (s) =>
        (!r.query.get('payment_intent') || s.payment_intent === r.query.get('payment_intent')) && (!r.query.get('status') || s.status === r.query.get('status'))),
    },
    { method: 'GET', pattern: /^\/v1\/checkout\/sessions\/([^/]+)$/, handle: (_, m) => get(state.sessions, 'checkout.session', m[1]) },
    { method: 'POST', pattern: /^\/v1\/checkout\/sessions\/([^/]+)\/expire$/, handle: (r, m) => sessionExpire(r, m[1]) },
    { method: 'GET', pattern: /^\/v1\/payment_intents\/([^/]+)$/, handle: (_, m) => get(state.paymentIntents, 'payment_intent', m[1]) },
    { method: 'GET', pattern: /^\/v1\/charges\/([^/]+)$/, handle: (_, m) => get(state.charges, 'charge', m[1]) },
    { method: 'POST', pattern: /^\/v1\/refunds$/, handle: refundCreate },
    {
      method: 'GET', pattern: /^\/v1\/refunds$/,
      handle: (r) => list([...state.refunds.values()], r, (x) =>
        (!r.query.get('payment_intent') || x.payment_intent === r.query.get('payment_intent')) && (!r.query.get('charge') || x.charge === r.query.get('charge'))),
    },
    { method: 'GET', pattern: /^\/v1\/refunds\/([^/]+)$/, handle: (_, m) => get(state.refunds, 'refund', m[1]) },
    {
      method: 'GET', pattern: /^\/v1\/events$/,
      handle: (r) => list(state.events, r, (e) => !r.query.get('type') || e.type === r.query.get('type')),
    },
    { method: 'GET', pattern: /^\/v1\/events\/([^/]+)$/, handle: (_, m) => { const e = state.events.find((x) => x.id === m[1]); if (!e) throw missing('event', m[1]); return e; } },
    { method: 'POST', pattern: /^\/v1\/test_helpers\/checkout\/sessions\/([^/]+)\/complete$/, handle: (r, m) => sessionComplete(r, m[1]) },
    { method: 'POST', pattern: /^\/v1\/test_helpers\/checkout\/sessions\/([^/]+)\/async_payment$/, handle: (r, m) => sessionAsyncPayment(r, m[1]) },
    { method: 'POST', pattern: /^\/v1\/test_helpers\/refunds\/([^/]+)\/fail$/, handle: (r, m) => refundFail(r, m[1]) },
    { method: 'POST', pattern: /^\/v1\/test_helpers\/payment_intents\/([^/]+)\/dispute$/, handle: (r, m) => disputeCreate(r, m[1]) },
    { method: 'POST', pattern: /^\/v1\/test_helpers\/events\/([^/]+)\/resend$/, handle: (_, m) => resend(m[1]) },
    { method: 'POST', pattern: /^\/v1\/test_helpers\/faults$/, handle: faultsSet },
    { method: 'DELETE', pattern: /^\/v1\/test_helpers\/faults$/, handle: () => { state.faults.splice(0); return { object: 'list', data: [] }; } },
  ];

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Stripe-Version': build.STRIPE_API_VERSION, ...headers });
    res.end(JSON.stringify(body));
  };

  const takeFault = (method: string, path: string): Fault | undefined => {
    if (path.startsWith('/v1/test_helpers/')) return undefined;
    const fault = state.faults.find((f) => f.remaining > 0 && path.startsWith(f.pathPrefix) && (!f.method || f.method === method));
    if (!fault) return undefined;
    if (--fault.remaining === 0) state.faults.splice(state.faults.indexOf(fault), 1);
    return fault;
  };

  const checkoutPage = createCheckoutPage({ state, baseUrl: () => baseUrl });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', baseUrl);
    const method = req.method ?? 'GET';
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');

    if (await checkoutPage(req, res, url, text)) return;

    const requestId = stripeId('req', 14);
    const headers = { 'Request-Id': requestId };
    if (!/^(sk|rk)_test_\w+$/.test(apiKeyOf(req.headers.authorization))) {
      return send(res, 401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided. The emulator accepts test-mode keys (sk_test_…).' } }, headers);
    }
    state.requests.push({ method, path: url.pathname, idempotencyKey: (req.headers['idempotency-key'] as string | undefined) ?? null });
    const fault = takeFault(method, url.pathname);
    if (fault?.kind === 'error_500') {
      return send(res, 500, { error: { type: 'api_error', message: 'An unknown error occurred (injected fault).' } }, headers);
    }
    if (fault?.kind === 'rate_limit_429') {
      return send(res, 429, { error: { type: 'invalid_request_error', code: 'rate_limit', message: 'Too many requests (injected fault).' } }, headers);
    }
    const params = method === 'POST' ? decodeStripeForm(text) : {};
    const idempotencyKey = method === 'POST' ? ((req.headers['idempotency-key'] as string | undefined) ?? null) : null;
    const request: ApiRequest = { method, path: url.pathname, params, query: url.searchParams, requestId, idempotencyKey };

    let status = 200;
    let body: unknown;
    const saved = idempotencyKey ? state.idempotency.get(idempotencyKey) : undefined;
    const fingerprint = `${method} ${url.pathname} ${canonical(params)}`;
    if (saved) {
      if (saved.fingerprint !== fingerprint) {
        return send(res, 400, {
          error: {
            type: 'idempotency_error',
            message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
          },
        }, headers);
      }
      if (fault?.kind === 'drop_response') return res.socket?.destroy();
      return send(res, saved.status, saved.body, { ...headers, 'Idempotent-Replayed': 'true', ...(idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {}) });
    }
    const route = routes.find((r) => r.method === method && r.pattern.test(url.pathname));
    try {
      if (!route) throw new StripeApiError(404, { type: 'invalid_request_error', message: `Unrecognized request URL (${method}: ${url.pathname}).` });
      body = route.handle(request, route.pattern.exec(url.pathname)!);
    } catch (error) {
      if (!(error instanceof StripeApiError)) throw error;
      status = error.status;
      body = { error: { ...error.error, request_log_url: null } };
    }
    // Stripe saves the outcome of any request that started executing, errors included.
    if (idempotencyKey && route) state.idempotency.set(idempotencyKey, { fingerprint, status, body });
    if (fault?.kind === 'drop_response') return res.socket?.destroy();
    send(res, status, body, { ...headers, ...(idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {}) });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, { error: { type: 'api_error', message: `Emulator bug: ${String(error)}` } });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  baseUrl = `http://${options.host ?? '127.0.0.1'}:${port}`;
  return {
    url: baseUrl,
    port,
    webhooks,
    state,
    close: () =>
      new Promise<void>((resolve) => {
        webhooks.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Stripe takes the key as a Bearer token or as the Basic-auth user name (`curl -u sk_test_…:`). */
function apiKeyOf(header: string | undefined): string {
  const [scheme, value = ''] = (header ?? '').split(' ');
  if (scheme === 'Bearer') return value;
  if (scheme === 'Basic') return Buffer.from(value, 'base64').toString('utf8').split(':')[0];
  return '';
}
