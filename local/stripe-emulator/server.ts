import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCheckoutPage } from './checkout-page';
import {
  integer, invalid, metadataOf, missing, objectParam, parameterMissing, raisedBeforeExecution, required, str, StripeApiError,
  type ApiRequest, type EmulatorContext, type OpenSessionInput, type PricedLineItems, type Route,
} from './api';
import { EmulatorClock } from './clock';
import { disputeRoutes, refundBlockedByDispute } from './disputes';
import { decodeStripeForm, type FormValue } from './form-encoding';
import { paymentLinkRoutes } from './payment-links';
import { billing as billingModule, BillingState, recurringPriceFields } from './billing';
import * as build from './stripe-objects';
import { stripeId, type Metadata, type StripeObject } from './stripe-objects';
import { WebhookDelivery, type WebhookEndpoint } from './webhook-delivery';
import { WebhookEndpointRegistry } from './webhook-endpoints';

/**
 * A stateful stand-in for the Stripe API, for the real `stripe` SDK pointed at it
 * (host/port/protocol). It covers what this backend uses, with Stripe's request encoding,
 * error shapes, id prefixes and Idempotency-Key semantics, plus helpers under
 * /v1/test_helpers/ to pay sessions, fail refunds, open disputes, resend events and inject faults.
 * Each helper's route below says what it takes and emits; local/stripe-emulator/README.md lists them.
 */
export interface StripeEmulatorOptions {
  port?: number;
  host?: string;
  webhook?: WebhookEndpoint;
  /** Waits between webhook attempts after a failure. @default [200, 500, 1000, 2000, 5000] */
  webhookRetryScheduleMs?: number[];
  /** Age (emulator clock) after which a saved Idempotency-Key is forgotten, as Stripe prunes keys. @default 86400 */
  idempotencyKeyTtlSeconds?: number;
  /**
   * API requests per second before answering 429 `rate_limit` (Stripe test mode: 25). Test
   * helpers are not counted. @default undefined (no limit)
   */
  rateLimitPerSecond?: number;
  /**
   * Time a POST spends executing. While it runs its Idempotency-Key is in use: a concurrent
   * request with the same key gets 409 `idempotency_key_in_use`, as on Stripe. @default 0
   */
  executionDelayMs?: number;
}

export interface StripeEmulator {
  readonly url: string;
  readonly port: number;
  readonly webhooks: WebhookDelivery;
  /** Everything the emulator holds, for tests that count side effects. */
  readonly state: EmulatorState;
  readonly clock: EmulatorClock;
  close(): Promise<void>;
}

type FaultKind = 'error_500' | 'rate_limit_429' | 'drop_response';
interface Fault {
  pathPrefix: string;
  method: string | undefined;
  kind: FaultKind;
  remaining: number;
  /** error_500 only: the failure happened while executing, so Stripe saves the 500 under the key. */
  saved: boolean;
}

interface SavedResponse {
  fingerprint: string;
  status: number;
  body: unknown;
  /** Emulator clock when the response was saved: keys are pruned by age. */
  savedAtSeconds: number;
}

export class EmulatorState {
  readonly products = new Map<string, StripeObject>();
  readonly prices = new Map<string, StripeObject>();
  readonly sessions = new Map<string, StripeObject>();
  readonly paymentIntents = new Map<string, StripeObject>();
  readonly charges = new Map<string, StripeObject>();
  readonly refunds = new Map<string, StripeObject>();
  readonly disputes = new Map<string, StripeObject>();
  readonly paymentLinks = new Map<string, { link: StripeObject; lineItems: PricedLineItems }>();
  readonly events: StripeObject[] = [];
  readonly idempotency = new Map<string, SavedResponse>();
  readonly faults: Fault[] = [];
  /** The payment_intent_data[metadata] of each session, applied when the session is paid. */
  readonly sessionIntentMetadata = new Map<string, Metadata>();
  /** What each session sells (price id and quantity), for its hosted page. */
  readonly sessionLineItems = new Map<string, { price: string; quantity: number }[]>();
  /** Armed by /v1/test_helpers/refunds/next_pending: refunds (of one payment intent, or any) that start `pending`. */
  readonly pendingRefundArms: { paymentIntentId: string | null; remaining: number }[] = [];
  /** Every API request received (after auth), replays and faults included. */
  readonly requests: { method: string; path: string; idempotencyKey: string | null }[] = [];
  /** How many create requests actually executed, per path: what a duplicate must not raise. */
  readonly executedCreates = new Map<string, number>();
  readonly webhookEndpoints = new WebhookEndpointRegistry();
  /** Customers, subscriptions, invoices, portal sessions (billing.ts). */
  readonly billing = new BillingState();
}

/** Stripe compares the parameters of a replayed request; key order does not matter. */
const canonical = (value: unknown): string =>
  typeof value === 'object' && value !== null
    ? Array.isArray(value)
      ? `[${value.map(canonical).join(',')}]`
      : `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`
    : JSON.stringify(value);

export async function startStripeEmulator(options: StripeEmulatorOptions = {}): Promise<StripeEmulator> {
  const state = new EmulatorState();
  const clock = new EmulatorClock();
  const idempotencyKeyTtlSeconds = options.idempotencyKeyTtlSeconds ?? 86_400;
  const webhooks = new WebhookDelivery(options.webhook, options.webhookRetryScheduleMs ?? [200, 500, 1000, 2000, 5000], state.webhookEndpoints);
  let baseUrl = '';

  // Every event of one request carries the request's clock: Stripe's same-second ties.
  const emit = (type: string, object: StripeObject, request: ApiRequest) => {
    // Since API version 2022-11-15 an event's charge no longer carries its refunds list.
    const snapshot = object.object === 'charge' ? (({ refunds: _notExpanded, ...charge }) => charge as StripeObject)(object) : object;
    const event = build.event(type, snapshot, { id: request.requestId, idempotencyKey: request.idempotencyKey }, request.now, webhooks.endpoint ? 1 : 0);
    state.events.push(event);
    webhooks.send(event);
  };
  const countCreate = (path: string) => state.executedCreates.set(path, (state.executedCreates.get(path) ?? 0) + 1);

  const get = <T extends StripeObject>(map: Map<string, StripeObject>, kind: string, id: string) => {
    const object = map.get(id);
    if (!object) throw missing(kind, id);
    return object as T;
  };

  /** Stripe's list envelope, newest first; `limit` 1–100, `created` / `created[gt|gte|lt|lte]`, `starting_after` / `ending_before`. */
  const list = (objects: StripeObject[], request: ApiRequest, filter: (o: StripeObject) => boolean = () => true) => {
    const { query } = request;
    const limit = integer(query.get('limit') ?? '10', 'limit', 1);
    if (limit > 100) throw invalid('This value must be less than or equal to 100.', 'limit', 'parameter_invalid_integer');
    const bound = (op: string) => {
      const value = query.get(`created[${op}]`) ?? (op === 'eq' ? query.get('created') : null);
      return value === null ? null : integer(value, op === 'eq' ? 'created' : `created[${op}]`, 0);
    };
    const [gt, gte, lt, lte, eq] = ['gt', 'gte', 'lt', 'lte', 'eq'].map(bound);
    const created = (o: StripeObject) => o.created as number;
    let rows = objects
      .filter(filter)
      .filter((o) => (gt === null || created(o) > gt) && (gte === null || created(o) >= gte) && (lt === null || created(o) < lt)
        && (lte === null || created(o) <= lte) && (eq === null || created(o) === eq))
      .reverse(); // newest first, as Stripe lists (same-second objects: last created first)
    const cursor = (param: 'starting_after' | 'ending_before') => {
      const id = query.get(param);
      if (!id) return null;
      const index = rows.findIndex((o) => o.id === id);
      if (index < 0) throw missing(String(objects.find((o) => o.id === id)?.object ?? 'object'), id, param);
      return index;
    };
    const after = cursor('starting_after');
    const before = cursor('ending_before');
    if (after !== null) rows = rows.slice(after + 1);
    else if (before !== null) {
      rows = rows.slice(0, before);
      // ending_before pages backwards: the `limit` objects just before the cursor, still newest first.
      return { object: 'list' as const, data: rows.slice(-limit), has_more: rows.length > limit, url: request.path };
    }
    return { object: 'list' as const, data: rows.slice(0, limit), has_more: rows.length > limit, url: request.path };
  };

  const priceLineItems = (lineItems: FormValue | undefined): PricedLineItems => {
    if (!Array.isArray(lineItems) || lineItems.length === 0) throw parameterMissing('line_items');
    let currency: string | undefined;
    let amountTotal = 0;
    const items = lineItems.map((item, index) => {
      const entry = objectParam(item) ?? {};
      const priceId = required(entry, 'price');
      const found = state.prices.get(priceId);
      if (!found || !found.active) throw missing('price', priceId, `line_items[${index}][price]`);
      const quantity = integer(str(entry.quantity) ?? '1', `line_items[${index}][quantity]`, 1);
      if (currency && currency !== found.currency) throw invalid('All line items must use the same currency.', 'line_items');
      currency = found.currency as string;
      amountTotal += (found.unit_amount as number) * quantity;
      return { price: priceId, quantity };
    });
    return { currency: currency!, amountTotal, items };
  };

  const openSession = (input: OpenSessionInput, request: ApiRequest) => {
    const session = build.checkoutSession({
      amountTotal: input.lineItems.amountTotal,
      currency: input.lineItems.currency,
      successUrl: input.successUrl,
      cancelUrl: input.cancelUrl,
      clientReferenceId: input.clientReferenceId,
      customerEmail: input.customerEmail,
      metadata: input.metadata,
      paymentUrlBase: baseUrl,
      paymentLinkId: input.paymentLinkId ?? null,
      created: request.now,
    });
    state.sessions.set(session.id, session);
    state.sessionLineItems.set(session.id, input.lineItems.items);
    state.sessionIntentMetadata.set(session.id, input.intentMetadata);
    return session;
  };

  const sessionCreate = (request: ApiRequest) => {
    const { params } = request;
    const mode = required(params, 'mode');
    if (mode === 'subscription') return billing.openSubscriptionSession(request);
    if (mode !== 'payment') throw invalid('The emulator supports mode=payment and mode=subscription.', 'mode');
    const lineItems = priceLineItems(params.line_items);
    billing.assertOneTime(lineItems);
    countCreate('/v1/checkout/sessions');
    return openSession({
      lineItems,
      successUrl: required(params, 'success_url'),
      cancelUrl: str(params.cancel_url) ?? null,
      clientReferenceId: str(params.client_reference_id) ?? null,
      customerEmail: str(params.customer_email) ?? null,
      metadata: metadataOf(params.metadata),
      intentMetadata: metadataOf(objectParam(params.payment_intent_data)?.metadata),
    }, request);
  };

  /** Pays an open session: PaymentIntent + Charge, then the events Stripe sends, in its order. */
  const sessionComplete = (request: ApiRequest, sessionId: string) => {
    const session = get(state.sessions, 'checkout.session', sessionId);
    if (session.status !== 'open') throw invalid(`This Checkout Session is ${session.status}.`, undefined, 'checkout_session_not_open');
    if (session.mode === 'subscription') return billing.completeSubscriptionSession(request, session);
    const unpaid = str(request.params.payment_status) === 'unpaid'; // an async method, e.g. a bank debit
    const metadata = state.sessionIntentMetadata.get(sessionId) ?? {};
    const amount = session.amount_total as number;
    const currency = session.currency as string;
    const intent = build.paymentIntent({ amount, currency, metadata, status: unpaid ? 'processing' : 'succeeded', created: request.now });
    state.paymentIntents.set(intent.id, intent);
    Object.assign(session, { status: 'complete', payment_status: unpaid ? 'unpaid' : 'paid', payment_intent: intent.id });
    if (!unpaid) {
      const paid = charge(intent, metadata, request);
      emit('charge.succeeded', paid, request);
      emit('payment_intent.succeeded', intent, request);
    }
    emit('checkout.session.completed', session, request);
    return session;
  };

  const charge = (intent: StripeObject, metadata: Metadata, request: ApiRequest) => {
    const created = build.charge({ amount: intent.amount as number, currency: intent.currency as string, paymentIntentId: intent.id, paymentMethodId: intent.payment_method as string, metadata, created: request.now });
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
      charge(intent, state.sessionIntentMetadata.get(sessionId) ?? {}, request);
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
    refundBlockedByDispute(context, target);
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
    const created = build.refund({
      amount, currency: target.currency as string, chargeId: target.id, paymentIntentId: target.payment_intent as string, reason,
      metadata: metadataOf(params.metadata), status: takePendingArm(target.payment_intent as string) ? 'pending' : 'succeeded', created: request.now,
    });
    state.refunds.set(created.id, created);
    // A pending refund already counts in amount_refunded; only a failure gives it back.
    adjustRefunded(target, amount, created);
    countCreate('/v1/refunds');
    emit('refund.created', created, request);
    emit('charge.refunded', target, request);
    return created;
  };

  const takePendingArm = (paymentIntentId: string) => {
    const arm = state.pendingRefundArms.find((a) => a.remaining > 0 && (a.paymentIntentId === null || a.paymentIntentId === paymentIntentId));
    if (!arm) return false;
    if (--arm.remaining === 0) state.pendingRefundArms.splice(state.pendingRefundArms.indexOf(arm), 1);
    return true;
  };

  /** Test helper: the next `count` (default 1) refunds, of `payment_intent` if given, start `pending` (e.g. a bank transfer). */
  const refundArmPending = (request: ApiRequest) => {
    const paymentIntentId = str(request.params.payment_intent) ?? null;
    if (paymentIntentId) get(state.paymentIntents, 'payment_intent', paymentIntentId);
    const arm = { paymentIntentId, remaining: integer(str(request.params.count) ?? '1', 'count', 1) };
    state.pendingRefundArms.push(arm);
    return { object: 'test_helpers.pending_refunds', payment_intent: arm.paymentIntentId, count: arm.remaining };
  };

  /** Test helper: a pending refund settles. Emits refund.updated only (charge.refunded was sent at creation). */
  const refundSucceed = (request: ApiRequest, refundId: string) => {
    const refund = get(state.refunds, 'refund', refundId);
    if (refund.status !== 'pending') throw invalid(`Only a pending refund can succeed; refund ${refundId} is ${String(refund.status)}.`, undefined, 'refund_not_pending');
    refund.status = 'succeeded';
    adjustRefunded(get(state.charges, 'charge', refund.charge as string), 0, refund);
    emit('refund.updated', refund, request);
    return refund;
  };

  const adjustRefunded = (target: StripeObject, delta: number, refund: StripeObject) => {
    const refunded = (target.amount_refunded as number) + delta;
    const refunds = target.refunds as { data: StripeObject[] };
    refunds.data = [refund, ...refunds.data.filter((r) => r.id !== refund.id)];
    Object.assign(target, { amount_refunded: refunded, refunded: refunded >= (target.amount as number) });
  };

  /**
   * Test helper: the bank bounced a pending or succeeded refund: status failed, amount back on
   * the charge; emits refund.updated + refund.failed and, as Stripe, no charge.refunded.
   */
  const refundFail = (request: ApiRequest, refundId: string) => {
    const refund = get(state.refunds, 'refund', refundId);
    if (refund.status === 'failed' || refund.status === 'canceled') throw invalid(`Refund ${refundId} is already ${refund.status}.`, undefined, 'refund_already_final');
    Object.assign(refund, { status: 'failed', failure_reason: 'lost_or_stolen_card' });
    adjustRefunded(get(state.charges, 'charge', refund.charge as string), -(refund.amount as number), refund);
    emit('refund.updated', refund, request);
    emit('refund.failed', refund, request);
    return refund;
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
        throw parameterMissing('product');
      }
      const created = build.product(required(data, 'name'), metadataOf(data.metadata), request.now);
      state.products.set(created.id, created);
      productId = created.id;
    }
    const created = build.price({ currency, unitAmount, productId, metadata: metadataOf(params.metadata), nickname: str(params.nickname) ?? null, created: request.now });
    Object.assign(created, recurringPriceFields(params.recurring));
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
      // An error_500 is saved under the request's Idempotency-Key (Stripe saves 500s of requests that began
      // executing) unless saved=false: a failure in front of the API, e.g. a load balancer.
      saved: kind === 'error_500' && str(request.params.saved) !== 'false',
    };
    state.faults.push(fault);
    return { object: 'test_helpers.fault', ...fault };
  };

  const eventById = (eventId: string) => {
    const found = state.events.find((e) => e.id === eventId);
    if (!found) throw missing('event', eventId);
    return found;
  };

  const resend = (eventId: string) => {
    const found = eventById(eventId);
    webhooks.send(found);
    return found;
  };

  /** Stripe decrements `pending_webhooks` as endpoints acknowledge an event; ours has one endpoint. */
  const withDeliveryState = (events: StripeObject[]) => {
    const delivered = new Set(webhooks.attempts.filter((a) => typeof a.status === 'number' && a.status >= 200 && a.status < 300).map((a) => a.eventId));
    return events.map((e) => (e.pending_webhooks !== 0 && delivered.has(e.id) ? { ...e, pending_webhooks: 0 } : e));
  };

  /** GET /v1/events: `type` (with `*` wildcards), `types[]`, `delivery_success`, plus the list parameters. */
  const eventList = (request: ApiRequest) => {
    const { query } = request;
    const typeParams = [...new Set(query.keys())].filter((k) => k === 'type' || /^types\[\d*\]$/.test(k));
    const typePatterns = typeParams.flatMap((k) => query.getAll(k)).filter(Boolean)
      .map((t) => new RegExp(`^${t.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`));
    const deliverySuccess = query.get('delivery_success');
    if (deliverySuccess !== null && !['true', 'false'].includes(deliverySuccess)) throw invalid('delivery_success must be true or false', 'delivery_success');
    return list(withDeliveryState(state.events), request, (e) =>
      (typePatterns.length === 0 || typePatterns.some((p) => p.test(e.type as string)))
      && (deliverySuccess === null || (e.pending_webhooks === 0) === (deliverySuccess === 'true')));
  };

  /** Test helper: freeze the clock (`frozen_at` epoch seconds), `unfreeze=true`, or `advance_seconds`. Returns the clock. */
  const clockSet = (request: ApiRequest) => {
    const { params } = request;
    const frozenAt = str(params.frozen_at);
    const advance = str(params.advance_seconds);
    if (frozenAt !== undefined) clock.freeze(integer(frozenAt, 'frozen_at', 0));
    if (advance !== undefined) clock.advance(integer(advance, 'advance_seconds', 0));
    if (str(params.unfreeze) === 'true') clock.unfreeze();
    return clock.describe();
  };

  /** Test helper: forget saved Idempotency-Keys at least `older_than_seconds` old (default 86400; 0 = all), or only `key`. */
  const idempotencyPrune = (request: ApiRequest) => {
    const olderThan = integer(str(request.params.older_than_seconds) ?? '86400', 'older_than_seconds', 0);
    const only = str(request.params.key);
    let pruned = 0;
    for (const [key, saved] of state.idempotency) {
      if ((only === undefined || key === only) && request.now - saved.savedAtSeconds >= olderThan) {
        state.idempotency.delete(key);
        pruned++;
      }
    }
    return { object: 'test_helpers.idempotency_keys_prune', pruned, remaining: state.idempotency.size };
  };

  const context: EmulatorContext = { state, clock, baseUrl: () => baseUrl, emit, get, list, chargeOfIntent, priceLineItems, openSession };
  const billing = billingModule(context);

  const routes: Route[] = [
    { method: 'POST', pattern: /^\/v1\/products$/, handle: (r) => { const p = build.product(required(r.params, 'name'), metadataOf(r.params.metadata), r.now); state.products.set(p.id, p); return p; } },
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
      handle: (r) => {
        // Stripe refuses a filter naming an object it does not have (400 resource_missing), it does not answer an empty list.
        const paymentIntent = r.query.get('payment_intent');
        const charge = r.query.get('charge');
        if (paymentIntent) get(state.paymentIntents, 'payment_intent', paymentIntent);
        if (charge) get(state.charges, 'charge', charge);
        return list([...state.refunds.values()], r, (x) => (!paymentIntent || x.payment_intent === paymentIntent) && (!charge || x.charge === charge));
      },
    },
    { method: 'GET', pattern: /^\/v1\/refunds\/([^/]+)$/, handle: (_, m) => get(state.refunds, 'refund', m[1]) },
    { method: 'GET', pattern: /^\/v1\/events$/, handle: eventList },
    { method: 'GET', pattern: /^\/v1\/events\/([^/]+)$/, handle: (_, m) => withDeliveryState([eventById(m[1])])[0] },
    ...disputeRoutes(context),
    ...paymentLinkRoutes(context),
    ...billing.routes,
    { method: 'POST', pattern: /^\/v1\/test_helpers\/checkout\/sessions\/([^/]+)\/complete$/, handle: (r, m) => sessionComplete(r, m[1]) },
    { method: 'POST', pattern: /^\/v1\/test_helpers\/checkout\/sessions\/([^/]+)\/async_payment$/, handle: (r, m) => sessionAsyncPayment(r, m[1]) },
    { method: 'POST', pattern: /^\/v1\/test_helpers\/refunds\/next_pending$/, handle: refundArmPending },
    { method: 'POST', pattern: /^\/v1\/test_helpers\/refunds\/([^/]+)\/fail$/, handle: (r, m) => refundFail(r, m[1]) },
    { method: 'POST', pattern: /^\/v1\/test_helpers\/refunds\/([^/]+)\/succeed$/, handle: (r, m) => refundSucceed(r, m[1]) },
    { method: 'POST', pattern: /^\/v1\/test_helpers\/events\/([^/]+)\/resend$/, handle: (_, m) => resend(m[1]) },
    { method: 'POST', pattern: /^\/v1\/test_helpers\/faults$/, handle: faultsSet },
    ...state.webhookEndpoints.routes((e) => new StripeApiError(e.status, e.error), list),
    { method: 'DELETE', pattern: /^\/v1\/test_helpers\/faults$/, handle: () => { state.faults.splice(0); return { object: 'list', data: [] }; } },
    { method: 'POST', pattern: /^\/v1\/test_helpers\/clock$/, handle: clockSet },
    { method: 'POST', pattern: /^\/v1\/test_helpers\/idempotency_keys\/prune$/, handle: idempotencyPrune },
  ];

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Stripe-Version': build.STRIPE_API_VERSION, ...headers });
    res.end(JSON.stringify(body));
  };

  /** A saved response, unless Stripe has pruned it by now (keys live at least 24 h, then may go). */
  const savedResponse = (key: string, nowSeconds: number) => {
    const saved = state.idempotency.get(key);
    if (saved && nowSeconds - saved.savedAtSeconds >= idempotencyKeyTtlSeconds) {
      state.idempotency.delete(key);
      return undefined;
    }
    return saved;
  };

  const keysInFlight = new Set<string>();

  /** Sliding one-second window over real time (not the emulator clock); test helpers are free. */
  const recentRequestsMs: number[] = [];
  const overRateLimit = (path: string) => {
    if (options.rateLimitPerSecond === undefined || path.startsWith('/v1/test_helpers/')) return false;
    const nowMs = Date.now();
    while (recentRequestsMs.length > 0 && recentRequestsMs[0] <= nowMs - 1000) recentRequestsMs.shift();
    if (recentRequestsMs.length >= options.rateLimitPerSecond) return true;
    recentRequestsMs.push(nowMs);
    return false;
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
    if (overRateLimit(url.pathname)) {
      return send(res, 429, { error: { type: 'invalid_request_error', code: 'rate_limit', message: 'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.' } }, headers);
    }
    const fault = takeFault(method, url.pathname);
    if (fault?.kind === 'rate_limit_429') {
      return send(res, 429, { error: { type: 'invalid_request_error', code: 'rate_limit', message: 'Too many requests (injected fault).' } }, headers);
    }
    const params = method === 'POST' ? decodeStripeForm(text) : {};
    const idempotencyKey = method === 'POST' ? ((req.headers['idempotency-key'] as string | undefined) ?? null) : null;
    const request: ApiRequest = { method, path: url.pathname, params, query: url.searchParams, requestId, idempotencyKey, now: clock.now() };

    let status = 200;
    let body: unknown;
    if (idempotencyKey && keysInFlight.has(idempotencyKey)) {
      return send(res, 409, {
        error: {
          type: 'invalid_request_error', code: 'idempotency_key_in_use',
          message: 'There is currently another in-progress request using this Stripe Idempotency Key. Please try again later.',
        },
      }, headers);
    }
    const saved = idempotencyKey ? savedResponse(idempotencyKey, request.now) : undefined;
    const fingerprint = `${method} ${url.pathname} ${canonical(params)}`;
    const route = routes.find((r) => r.method === method && r.pattern.test(url.pathname));
    const save = () => {
      if (idempotencyKey && route) state.idempotency.set(idempotencyKey, { fingerprint, status, body, savedAtSeconds: request.now });
    };
    if (fault?.kind === 'error_500') {
      status = 500;
      body = { error: { type: 'api_error', message: 'An unknown error occurred (injected fault).' } };
      // A key that already holds a response is answered by the idempotency layer: this 500 came from in front of it.
      if (fault.saved && !saved) save();
      return send(res, status, body, { ...headers, ...(idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {}) });
    }
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
    let executed = true;
    try {
      if (!route) throw new StripeApiError(404, { type: 'invalid_request_error', message: `Unrecognized request URL (${method}: ${url.pathname}).` });
      if (idempotencyKey) keysInFlight.add(idempotencyKey);
      if (method === 'POST' && options.executionDelayMs) await new Promise((resolve) => setTimeout(resolve, options.executionDelayMs));
      body = route.handle(request, route.pattern.exec(url.pathname)!);
    } catch (error) {
      if (!(error instanceof StripeApiError)) throw error;
      status = error.status;
      body = { error: { ...error.error, request_log_url: null } };
      executed = !raisedBeforeExecution(error);
    } finally {
      if (idempotencyKey) keysInFlight.delete(idempotencyKey);
    }
    // Stripe saves the outcome of a request that began executing, errors included; a request
    // refused by validation is not saved, so the same key runs again once the cause is fixed.
    if (executed) save();
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
    clock,
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
