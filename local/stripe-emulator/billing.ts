import {
  integer, invalid, metadataOf, missing, objectParam, oneOf, required, str,
  type ApiRequest, type EmulatorContext, type PricedLineItems, type Route,
} from './api';
import type { FormValue } from './form-encoding';
import { stripeId, type Metadata, type StripeObject } from './stripe-objects';

/**
 * Billing as Stripe runs it for a Checkout-first integration: Customers (searchable by metadata),
 * recurring Prices, subscription-mode Checkout Sessions whose completion creates the Customer
 * (if none was given), the Subscription and its first paid Invoice, renewals and failed renewals,
 * cancellation at period end, plan switches (`items[][price]`, what the portal does), paused
 * collection (`pause_collection`) and the `paused` status with its resume, and Customer Portal sessions.
 *
 * Shapes follow API versions ≥ 2025-03-31: the billing period lives on the subscription items
 * (`items.data[].current_period_start|end`), and an invoice names its subscription under
 * `parent.subscription_details.subscription`, not at the top level.
 *
 * Events come as Stripe sends them: several per action, in one second, the subscription
 * created `incomplete` and updated to `active` once its first invoice is paid, so a consumer
 * that trusts arrival order or `created` regresses.
 */
export class BillingState {
  readonly customers = new Map<string, StripeObject>();
  readonly subscriptions = new Map<string, StripeObject>();
  readonly invoices = new Map<string, StripeObject>();
  readonly portalSessions = new Map<string, StripeObject>();
  /** subscription_data[metadata] of each subscription-mode session, given to the subscription it creates. */
  readonly sessionSubscriptionMetadata = new Map<string, Metadata>();
  /** Line items of each subscription-mode session. */
  readonly sessionLineItems = new Map<string, PricedLineItems>();
  /** subscription_data[trial_period_days] of each subscription-mode session that has one. */
  readonly sessionTrialDays = new Map<string, number>();
  /**
   * Stripe's search is eventually consistent ("searchable in less than a minute", up to an hour
   * in outages): a Customer shows up in `/v1/customers/search` only this long (emulator clock)
   * after it was created (the emulator has no customer update; a deleted one never shows). Set with /v1/test_helpers/search/lag (a test that needs an
   * up-to-date index sets 0 explicitly). @default 60: never fresher than Stripe, so the product
   * must not count on finding a Customer it has just created.
   */
  searchLagSeconds = 60;
}

const INTERVAL_SECONDS = { day: 86_400, week: 7 * 86_400, month: 30 * 86_400, year: 365 * 86_400 } as const;
type Interval = keyof typeof INTERVAL_SECONDS;
/** Statuses in which a subscription still bills (or tries to). */
const LIVE = ['active', 'trialing', 'past_due', 'unpaid'];
/** Stripe expires an `incomplete` subscription whose first invoice is not paid within 23 hours. */
const INCOMPLETE_EXPIRY_SECONDS = 23 * 3600;

/** `recurring[interval]` (and `interval_count`) of POST /v1/prices, as the price's `recurring`/`type` fields. */
export function recurringPriceFields(value: FormValue | undefined): { recurring: Record<string, unknown>; type: 'recurring' } | undefined {
  if (value === undefined) return undefined;
  const recurring = objectParam(value);
  if (!recurring) throw invalid('Invalid recurring', 'recurring');
  const interval = oneOf(recurring, 'interval', Object.keys(INTERVAL_SECONDS) as Interval[]);
  const intervalCount = integer(str(recurring.interval_count) ?? '1', 'recurring[interval_count]', 1);
  return {
    type: 'recurring',
    recurring: { interval, interval_count: intervalCount, meter: null, trial_period_days: null, usage_type: 'licensed' },
  };
}

export interface Billing {
  readonly routes: Route[];
  /** POST /v1/checkout/sessions with mode=subscription. */
  openSubscriptionSession(request: ApiRequest): StripeObject;
  /** The "customer pays" helper for a subscription-mode session. */
  completeSubscriptionSession(request: ApiRequest, session: StripeObject): StripeObject;
  /** mode=payment refuses recurring prices, as Stripe does. */
  assertOneTime(lineItems: PricedLineItems): void;
}

export function billing(ctx: EmulatorContext): Billing {
  const { state } = ctx;
  const b = state.billing;
  const priceOf = (id: string) => ctx.get(state.prices, 'price', id);

  const assertOneTime = (lineItems: PricedLineItems) => {
    if (lineItems.items.some((item) => priceOf(item.price).type === 'recurring')) {
      throw invalid('You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.', 'line_items');
    }
  };

  // ------------------------------------------------------------------------------------------
  // Customers

  const newCustomer = (params: { email: string | null; name: string | null; metadata: Metadata }, request: ApiRequest) => {
    const customer: StripeObject = {
      id: stripeId('cus', 14), object: 'customer', address: null, balance: 0, created: request.now, currency: null,
      default_source: null, delinquent: false, description: null, discount: null, email: params.email,
      invoice_prefix: stripeId('x', 8).slice(2).toUpperCase(), invoice_settings: { custom_fields: null, default_payment_method: null, footer: null, rendering_options: null },
      livemode: false, metadata: params.metadata, name: params.name, phone: null, preferred_locales: [], shipping: null, tax_exempt: 'none', test_clock: null,
    };
    b.customers.set(customer.id, customer);
    state.executedCreates.set('/v1/customers', (state.executedCreates.get('/v1/customers') ?? 0) + 1);
    ctx.emit('customer.created', customer, request);
    return customer;
  };

  const customerCreate = (request: ApiRequest) =>
    newCustomer({ email: str(request.params.email) ?? null, name: str(request.params.name) ?? null, metadata: metadataOf(request.params.metadata) }, request);

  const liveCustomer = (id: string, param?: string) => {
    const customer = b.customers.get(id);
    if (!customer || customer.deleted) throw missing('customer', id, param);
    return customer;
  };

  const deletedCustomer = (id: string): StripeObject => ({ id, object: 'customer', deleted: true });

  /**
   * DELETE /v1/customers/{id} (also what the Dashboard's delete does): the Customer's
   * subscriptions end now (`customer.subscription.deleted` each), then `customer.deleted`. A
   * retrieve afterwards answers the deleted stub; everything that takes a customer refuses it
   * (resource_missing), and so does a second delete.
   */
  const customerDelete = (request: ApiRequest, id: string) => {
    const customer = liveCustomer(id);
    for (const subscription of b.subscriptions.values()) {
      if (subscription.customer === id && !['canceled', 'incomplete_expired'].includes(subscription.status as string)) endNow(subscription, request);
    }
    ctx.emit('customer.deleted', { ...customer }, request);
    customer.deleted = true;
    return deletedCustomer(id);
  };

  /**
   * GET /v1/customers/search: the subset of Stripe's query language this backend uses,
   * `metadata['key']:'value'` and `email:'value'` clauses joined by AND, over Customers at least
   * `searchLagSeconds` old (Stripe's index lags behind writes).
   */
  const customerSearch = (request: ApiRequest) => {
    const query = request.query.get('query');
    if (!query) throw invalid('Missing required param: query.', 'query', 'parameter_missing');
    const clauses = query.split(/\s+AND\s+/).map((clause) => {
      const match = /^(?:metadata\['([^']+)'\]|(email)):'([^']*)'$/.exec(clause.trim());
      if (!match) throw invalid(`Invalid search query: ${clause}. The emulator supports metadata['key']:'value' and email:'value' joined by AND.`, 'query');
      return (c: StripeObject) => (match[2] ? c.email === match[3] : (c.metadata as Metadata)[match[1]] === match[3]);
    });
    const limit = integer(request.query.get('limit') ?? '10', 'limit', 1);
    const indexedBefore = request.now - b.searchLagSeconds;
    const found = [...b.customers.values()].filter((c) => !c.deleted && (c.created as number) <= indexedBefore && clauses.every((test) => test(c))).reverse();
    return { object: 'search_result', data: found.slice(0, limit), has_more: found.length > limit, next_page: null, url: '/v1/customers/search' };
  };

  // ------------------------------------------------------------------------------------------
  // Subscription Checkout

  const openSubscriptionSession = (request: ApiRequest) => {
    const { params } = request;
    const lineItems = ctx.priceLineItems(params.line_items);
    if (!lineItems.items.some((item) => priceOf(item.price).type === 'recurring')) {
      throw invalid('You must provide at least one recurring price in `subscription` mode when using prices.', 'line_items');
    }
    const intervals = new Set(lineItems.items.map((item) => JSON.stringify(priceOf(item.price).recurring)));
    if (intervals.size > 1) throw invalid('All prices on a subscription must have the same `recurring.interval` and `recurring.interval_count`.', 'line_items');
    const customerId = str(params.customer);
    if (customerId) liveCustomer(customerId, 'customer');
    if (customerId && str(params.customer_email)) throw invalid('You may only specify one of these parameters: customer, customer_email.', 'customer_email');
    state.executedCreates.set('/v1/checkout/sessions', (state.executedCreates.get('/v1/checkout/sessions') ?? 0) + 1);
    const session = ctx.openSession({
      lineItems,
      successUrl: required(params, 'success_url'),
      cancelUrl: str(params.cancel_url) ?? null,
      clientReferenceId: str(params.client_reference_id) ?? null,
      customerEmail: str(params.customer_email) ?? null,
      metadata: metadataOf(params.metadata),
      intentMetadata: {},
    }, request);
    Object.assign(session, { mode: 'subscription', customer: customerId ?? null, customer_creation: null, payment_method_collection: 'always' });
    const subscriptionData = objectParam(params.subscription_data);
    b.sessionSubscriptionMetadata.set(session.id, metadataOf(subscriptionData?.metadata));
    const trialDays = str(subscriptionData?.trial_period_days);
    // Stripe: a trial of 1 to 730 days.
    if (trialDays !== undefined) {
      const days = integer(trialDays, 'subscription_data[trial_period_days]', 1);
      if (days > 730) throw invalid('The maximum number of trial period days is 730 (2 years).', 'subscription_data[trial_period_days]');
      b.sessionTrialDays.set(session.id, days);
    }
    b.sessionLineItems.set(session.id, lineItems);
    return session;
  };

  const periodSeconds = (subscription: StripeObject) => {
    const recurring = priceOf(itemsOf(subscription)[0].price.id as string).recurring as { interval: Interval; interval_count: number };
    return INTERVAL_SECONDS[recurring.interval] * recurring.interval_count;
  };
  const itemsOf = (subscription: StripeObject) =>
    (subscription.items as { data: (StripeObject & { price: StripeObject; quantity: number; current_period_start: number; current_period_end: number })[] }).data;

  /** `trial`: the 0 invoice of a trial's start (lines priced 0, as Stripe shows "Trial period for …"). */
  const newInvoice = (subscription: StripeObject, billingReason: string, request: ApiRequest, trial = false) => {
    const items = itemsOf(subscription);
    const amount = trial ? 0 : items.reduce((sum, item) => sum + (item.price.unit_amount as number) * item.quantity, 0);
    const id = stripeId('in');
    const invoice: StripeObject = {
      id, object: 'invoice', account_country: 'DE', account_name: 'Local emulator', amount_due: amount, amount_paid: 0, amount_remaining: amount,
      attempt_count: 0, attempted: false, auto_advance: true, billing_reason: billingReason, collection_method: 'charge_automatically',
      created: request.now, currency: subscription.currency, customer: subscription.customer, hosted_invoice_url: `${ctx.baseUrl()}/i/${id}`,
      lines: { object: 'list', data: items.map((item) => ({ id: stripeId('il'), object: 'line_item', amount: trial ? 0 : (item.price.unit_amount as number) * item.quantity, currency: subscription.currency, pricing: { price_details: { price: item.price.id, product: item.price.product }, type: 'price_details' }, quantity: item.quantity, period: { start: item.current_period_start, end: item.current_period_end } })), has_more: false, url: `/v1/invoices/${id}/lines` },
      livemode: false, metadata: {}, next_payment_attempt: null, number: null,
      parent: { quote_details: null, subscription_details: { metadata: subscription.metadata, subscription: subscription.id }, type: 'subscription_details' },
      period_end: items[0].current_period_start, period_start: items[0].current_period_start, status: 'draft',
      status_transitions: { finalized_at: null, marked_uncollectible_at: null, paid_at: null, voided_at: null }, subtotal: amount, total: amount,
    };
    b.invoices.set(id, invoice);
    ctx.emit('invoice.created', invoice, request);
    Object.assign(invoice, { status: 'open', number: `${String(invoice.customer).slice(4, 12).toUpperCase()}-${String(b.invoices.size).padStart(4, '0')}` });
    (invoice.status_transitions as Record<string, unknown>).finalized_at = request.now;
    ctx.emit('invoice.finalized', invoice, request);
    subscription.latest_invoice = id;
    return invoice;
  };

  const pay = (invoice: StripeObject, request: ApiRequest) => {
    Object.assign(invoice, { status: 'paid', amount_paid: invoice.amount_due, amount_remaining: 0, attempted: true, attempt_count: (invoice.attempt_count as number) + 1, next_payment_attempt: null });
    (invoice.status_transitions as Record<string, unknown>).paid_at = request.now;
    ctx.emit('invoice.paid', invoice, request);
    ctx.emit('invoice.payment_succeeded', invoice, request);
  };

  /**
   * The customer completes a subscription-mode session. `outcome` (test helper param):
   * - `paid` (default): subscription created `incomplete`, first invoice paid, updated to `active`.
   * - `payment_failed` / `requires_action`: the first payment is declined / needs 3-D Secure the
   *   customer never finishes, so the subscription stays `incomplete` with its first invoice
   *   `open` (`invoice.payment_failed` / `invoice.payment_action_required`), and the session
   *   completes `unpaid`. Stripe expires it (`incomplete_expired`) 23 h later unless the invoice is
   *   paid: /v1/test_helpers/subscriptions/{id}/expire_incomplete, or /v1/test_helpers/invoices/{id}/retry.
   * With `subscription_data[trial_period_days]` the subscription starts `trialing` (no `incomplete`
   * step): its first invoice is 0 and paid, the period is the trial, and the session completes
   * with `payment_status: no_payment_required`; a renewal (test helper) ends the trial.
   */
  const completeSubscriptionSession = (request: ApiRequest, session: StripeObject) => {
    const lineItems = b.sessionLineItems.get(session.id)!;
    const trialDays = b.sessionTrialDays.get(session.id);
    const outcome = str(request.params.outcome) ?? 'paid';
    if (!['paid', 'payment_failed', 'requires_action'].includes(outcome)) throw invalid('outcome must be paid, payment_failed or requires_action', 'outcome');
    if (trialDays !== undefined && outcome !== 'paid') throw invalid('A trial charges nothing at checkout: outcome must be paid.', 'outcome');
    const customer = session.customer
      ? liveCustomer(session.customer as string)
      : newCustomer({ email: (session.customer_email as string | null) ?? null, name: null, metadata: {} }, request);
    const subscriptionId = stripeId('sub');
    const firstPrice = priceOf(lineItems.items[0].price);
    const trialEnd = trialDays === undefined ? null : request.now + trialDays * 86_400;
    const period = trialEnd !== null ? trialEnd - request.now : INTERVAL_SECONDS[(firstPrice.recurring as { interval: Interval }).interval] * (firstPrice.recurring as { interval_count: number }).interval_count;
    const subscription: StripeObject = {
      id: subscriptionId, object: 'subscription', application: null, billing_cycle_anchor: request.now, cancel_at: null, cancel_at_period_end: false,
      canceled_at: null, cancellation_details: { comment: null, feedback: null, reason: null }, collection_method: 'charge_automatically',
      created: request.now, currency: lineItems.currency, customer: customer.id, days_until_due: null, default_payment_method: stripeId('pm'),
      description: null, discounts: [], ended_at: null,
      items: {
        object: 'list', has_more: false, url: `/v1/subscription_items?subscription=${subscriptionId}`,
        data: lineItems.items.map((item) => ({
          id: stripeId('si', 14), object: 'subscription_item', created: request.now, current_period_start: request.now, current_period_end: request.now + period,
          metadata: {}, price: structuredClone(priceOf(item.price)), quantity: item.quantity, subscription: subscriptionId,
        })),
      },
      latest_invoice: null, livemode: false, metadata: b.sessionSubscriptionMetadata.get(session.id) ?? {}, pending_update: null,
      pause_collection: null, start_date: request.now, status: trialEnd === null ? 'incomplete' : 'trialing',
      trial_end: trialEnd, trial_start: trialEnd === null ? null : request.now,
    };
    b.subscriptions.set(subscriptionId, subscription);
    ctx.emit('customer.subscription.created', subscription, request);
    const invoice = newInvoice(subscription, 'subscription_create', request, trialEnd !== null);
    let paymentStatus = 'paid';
    if (trialEnd !== null) {
      pay(invoice, request);
      paymentStatus = 'no_payment_required';
    } else if (outcome === 'paid') {
      pay(invoice, request);
      subscription.status = 'active';
      ctx.emit('customer.subscription.updated', subscription, request);
    } else {
      Object.assign(invoice, { attempted: true, attempt_count: 1, next_payment_attempt: null });
      ctx.emit(outcome === 'payment_failed' ? 'invoice.payment_failed' : 'invoice.payment_action_required', invoice, request);
      paymentStatus = 'unpaid';
    }
    Object.assign(session, { status: 'complete', payment_status: paymentStatus, customer: customer.id, subscription: subscriptionId, invoice: invoice.id, url: null });
    ctx.emit('checkout.session.completed', session, request);
    return session;
  };

  // ------------------------------------------------------------------------------------------
  // Subscriptions

  const subscriptionOf = (id: string) => ctx.get(b.subscriptions, 'subscription', id);

  /** POST /v1/subscriptions/{id}: `cancel_at_period_end`, `metadata`. */
  const subscriptionUpdate = (request: ApiRequest, id: string) => {
    const subscription = subscriptionOf(id);
    if (subscription.status === 'canceled' || subscription.status === 'incomplete_expired') {
      throw invalid(`A canceled subscription can only update its cancellation_details and metadata.`, undefined, 'subscription_canceled');
    }
    const { params } = request;
    const previous: Record<string, unknown> = {};
    const atPeriodEnd = str(params.cancel_at_period_end);
    if (atPeriodEnd !== undefined) {
      if (!['true', 'false'].includes(atPeriodEnd)) throw invalid('Invalid boolean: ' + atPeriodEnd, 'cancel_at_period_end');
      const value = atPeriodEnd === 'true';
      if (value !== subscription.cancel_at_period_end) {
        previous.cancel_at_period_end = subscription.cancel_at_period_end;
        previous.cancel_at = subscription.cancel_at;
        Object.assign(subscription, {
          cancel_at_period_end: value,
          cancel_at: value ? itemsOf(subscription)[0].current_period_end : null,
          canceled_at: value ? request.now : null,
        });
      }
    }
    if (params.metadata !== undefined) {
      previous.metadata = subscription.metadata;
      subscription.metadata = { ...(subscription.metadata as Metadata), ...metadataOf(params.metadata) };
    }
    const prorationBehavior = params.proration_behavior === undefined ? 'create_prorations' : oneOf(params, 'proration_behavior', ['create_prorations', 'none', 'always_invoice'] as const);
    if (params.items !== undefined) {
      const before = structuredClone(subscription.items);
      if (changeItems(subscription, params.items, request)) {
        previous.items = before;
        if (prorationBehavior === 'always_invoice') pay(newInvoice(subscription, 'subscription_update', request), request);
      }
    }
    if (params.pause_collection !== undefined) {
      const pause = params.pause_collection === '' ? null : objectParam(params.pause_collection);
      if (pause === undefined) throw invalid('Invalid pause_collection', 'pause_collection');
      const next = pause === null ? null : {
        behavior: oneOf(pause, 'behavior', ['keep_as_draft', 'mark_uncollectible', 'void'] as const),
        resumes_at: str(pause.resumes_at) === undefined ? null : integer(str(pause.resumes_at)!, 'pause_collection[resumes_at]', request.now + 1),
      };
      if (JSON.stringify(next) !== JSON.stringify(subscription.pause_collection ?? null)) {
        previous.pause_collection = subscription.pause_collection ?? null;
        subscription.pause_collection = next;
      }
    }
    if (Object.keys(previous).length > 0) emitUpdated(subscription, previous, request);
    return subscription;
  };

  /**
   * `items[n][id]` (+ `price`, `quantity`, `deleted`) changes an item, `items[n][price]` without
   * id adds one: a plan switch in the portal is `items[0][id]=si_…&items[0][price]=price_new`.
   * Stripe's refusals: unknown item, inactive or one-time price, mixed intervals or currencies,
   * one price twice, no item left. Returns whether anything changed.
   */
  const changeItems = (subscription: StripeObject, value: FormValue, request: ApiRequest): boolean => {
    if (!Array.isArray(value)) throw invalid('Invalid array', 'items');
    const items = structuredClone(itemsOf(subscription));
    const period = { current_period_start: items[0].current_period_start, current_period_end: items[0].current_period_end };
    let changed = false;
    value.forEach((entry, index) => {
      const item = objectParam(entry);
      if (!item) throw invalid('Invalid object', `items[${index}]`);
      const param = (name: string) => `items[${index}][${name}]`;
      const priceId = str(item.price);
      const price = priceId === undefined ? undefined : state.prices.get(priceId);
      if (priceId !== undefined && (!price || !price.active)) throw missing('price', priceId, param('price'));
      if (price && price.type !== 'recurring') throw invalid(`The price specified is set to \`type=one_time\` but this field only accepts prices with \`type=recurring\`.`, param('price'));
      const quantity = str(item.quantity) === undefined ? undefined : integer(str(item.quantity)!, param('quantity'), 0);
      const id = str(item.id);
      if (id === undefined) {
        if (!price) throw invalid('Missing required param: price.', param('price'), 'parameter_missing');
        items.push({ id: stripeId('si', 14), object: 'subscription_item', created: request.now, ...period, metadata: {}, price: structuredClone(price), quantity: quantity ?? 1, subscription: subscription.id });
        changed = true;
        return;
      }
      const at = items.findIndex((i) => i.id === id);
      if (at < 0) throw invalid(`Invalid subscription_item id: ${id}`, param('id'), 'resource_missing');
      if (str(item.deleted) === 'true') {
        items.splice(at, 1);
        changed = true;
        return;
      }
      if (price && price.id !== items[at].price.id) {
        items[at] = { ...items[at], price: structuredClone(price) };
        changed = true;
      }
      if (quantity !== undefined && quantity !== items[at].quantity) {
        items[at] = { ...items[at], quantity };
        changed = true;
      }
    });
    if (items.length === 0) throw invalid('A subscription must have at least one active plan.', 'items');
    if (new Set(items.map((i) => i.price.id)).size < items.length) throw invalid('Cannot add multiple subscription items with the same plan.', 'items');
    if (new Set(items.map((i) => JSON.stringify({ interval: (i.price.recurring as Record<string, unknown>).interval, count: (i.price.recurring as Record<string, unknown>).interval_count }))).size > 1) {
      throw invalid('All prices on a subscription must have the same `recurring.interval` and `recurring.interval_count`.', 'items');
    }
    if (items.some((i) => i.price.currency !== subscription.currency)) throw invalid('All prices on a subscription must have the same currency.', 'items');
    if (!changed) return false;
    (subscription.items as { data: unknown[] }).data = items;
    return true;
  };

  /**
   * Test helper: the subscription stops (status `paused`), as Stripe does when a trial ends
   * without a payment method and `trial_settings.end_behavior.missing_payment_method=pause`:
   * `customer.subscription.paused` and `.updated`, same second. It no longer bills or renews.
   */
  const pauseNow = (request: ApiRequest, id: string) => {
    const subscription = subscriptionOf(id);
    if (!['active', 'trialing'].includes(subscription.status as string)) throw invalid(`Subscription ${id} is ${String(subscription.status)}; only an active or trialing subscription pauses.`);
    const previous = { status: subscription.status };
    subscription.status = 'paused';
    ctx.emit('customer.subscription.paused', subscription, request);
    emitUpdated(subscription, previous, request);
    return subscription;
  };

  /**
   * POST /v1/subscriptions/{id}/resume: a `paused` subscription starts a new period now and
   * bills it (`invoice.paid`), then `customer.subscription.resumed` and `.updated` → active.
   */
  const resume = (request: ApiRequest, id: string) => {
    const subscription = subscriptionOf(id);
    if (subscription.status !== 'paused') throw invalid('Only a paused subscription can be resumed.', undefined, 'subscription_not_paused');
    const previous = { status: subscription.status, items: structuredClone(subscription.items) };
    const period = periodSeconds(subscription);
    for (const item of itemsOf(subscription)) Object.assign(item, { current_period_start: request.now, current_period_end: request.now + period });
    pay(newInvoice(subscription, 'subscription_cycle', request), request);
    subscription.status = 'active';
    ctx.emit('customer.subscription.resumed', subscription, request);
    emitUpdated(subscription, previous, request);
    return subscription;
  };

  const emitUpdated = (subscription: StripeObject, previous: Record<string, unknown>, request: ApiRequest) => {
    const event = { ...subscription };
    ctx.emit('customer.subscription.updated', event, request);
    // Stripe's `data.previous_attributes`: the recorded event gets it, the object does not.
    const recorded = state.events[state.events.length - 1];
    (recorded.data as Record<string, unknown>).previous_attributes = previous;
  };

  /** Ends a subscription now (DELETE /v1/subscriptions/{id}, or a renewal at a period end it was set to cancel at). */
  const endNow = (subscription: StripeObject, request: ApiRequest) => {
    Object.assign(subscription, { status: 'canceled', ended_at: request.now, canceled_at: subscription.canceled_at ?? request.now });
    ctx.emit('customer.subscription.deleted', subscription, request);
    return subscription;
  };

  const advancePeriod = (subscription: StripeObject) => {
    const period = periodSeconds(subscription);
    for (const item of itemsOf(subscription)) Object.assign(item, { current_period_start: item.current_period_end, current_period_end: item.current_period_end + period });
  };

  /**
   * Test helper: the period ends and Stripe bills the next one. `outcome=paid` (default):
   * `invoice.paid`, `customer.subscription.updated` (new period; `active` again if it was past_due).
   * `outcome=failed`: `invoice.payment_failed`, `customer.subscription.updated` → `past_due`.
   * A subscription set to cancel at period end is canceled instead (`customer.subscription.deleted`).
   */
  const renew = (request: ApiRequest, id: string) => {
    const subscription = subscriptionOf(id);
    if (!LIVE.includes(subscription.status as string)) throw invalid(`Subscription ${id} is ${String(subscription.status)}; only a live subscription renews.`);
    const outcome = str(request.params.outcome) ?? 'paid';
    if (!['paid', 'failed'].includes(outcome)) throw invalid('outcome must be paid or failed', 'outcome');
    if (subscription.cancel_at_period_end) return endNow(subscription, request);
    const previous = { status: subscription.status, items: structuredClone(subscription.items), latest_invoice: subscription.latest_invoice };
    advancePeriod(subscription);
    const invoice = newInvoice(subscription, 'subscription_cycle', request);
    const paused = subscription.pause_collection as { behavior: string } | null | undefined;
    if (paused) {
      // Collection paused: the period advances, the invoice is not charged and the status stays.
      if (paused.behavior === 'void') {
        Object.assign(invoice, { status: 'void', amount_remaining: 0 });
        (invoice.status_transitions as Record<string, unknown>).voided_at = request.now;
        ctx.emit('invoice.voided', invoice, request);
      } else if (paused.behavior === 'mark_uncollectible') {
        invoice.status = 'uncollectible';
        (invoice.status_transitions as Record<string, unknown>).marked_uncollectible_at = request.now;
        ctx.emit('invoice.marked_uncollectible', invoice, request);
      }
    } else if (outcome === 'paid') {
      pay(invoice, request);
      subscription.status = 'active';
    } else {
      failPayment(invoice, request);
      subscription.status = 'past_due';
    }
    emitUpdated(subscription, previous, request);
    return subscription;
  };

  const failPayment = (invoice: StripeObject, request: ApiRequest) => {
    Object.assign(invoice, { attempted: true, attempt_count: (invoice.attempt_count as number) + 1, next_payment_attempt: request.now + 3 * 86_400 });
    ctx.emit('invoice.payment_failed', invoice, request);
  };

  /**
   * Test helper: Stripe retries the open invoice of a past_due subscription (`outcome=paid|failed`;
   * failed again → `unpaid`), or the customer pays the first invoice of an incomplete one
   * (paid → `active`; failed → stays `incomplete`).
   */
  const retryInvoice = (request: ApiRequest, id: string) => {
    const invoice = ctx.get(b.invoices, 'invoice', id);
    if (invoice.status !== 'open') throw invalid(`Invoice ${id} is ${String(invoice.status)}; only an open invoice is retried.`, undefined, 'invoice_not_open');
    const subscription = subscriptionOf((invoice.parent as { subscription_details: { subscription: string } }).subscription_details.subscription);
    const outcome = oneOf(request.params, 'outcome', ['paid', 'failed'] as const);
    const previous = { status: subscription.status };
    if (outcome === 'paid') {
      pay(invoice, request);
      subscription.status = 'active';
    } else if (subscription.status === 'incomplete') {
      // The first invoice of an incomplete subscription: a failure leaves it incomplete (it expires at 23 h).
      Object.assign(invoice, { attempted: true, attempt_count: (invoice.attempt_count as number) + 1 });
      ctx.emit('invoice.payment_failed', invoice, request);
    } else {
      failPayment(invoice, request);
      subscription.status = 'unpaid';
    }
    if (previous.status !== subscription.status) emitUpdated(subscription, previous, request);
    return invoice;
  };

  /**
   * Test helper: Stripe's sweep of an `incomplete` subscription whose first invoice stayed unpaid
   * for 23 h (refused before that, by the emulator clock): `incomplete_expired` (terminal), its
   * open invoice voided (`invoice.voided`), `customer.subscription.updated`.
   */
  const expireIncomplete = (request: ApiRequest, id: string) => {
    const subscription = subscriptionOf(id);
    if (subscription.status !== 'incomplete') throw invalid(`Subscription ${id} is ${String(subscription.status)}; only an incomplete subscription expires.`, undefined, 'subscription_not_incomplete');
    const due = (subscription.created as number) + INCOMPLETE_EXPIRY_SECONDS;
    if (request.now < due) throw invalid(`Subscription ${id} expires at ${due} (23 hours after it was created); the clock is at ${request.now}.`, undefined, 'subscription_not_expired_yet');
    const invoice = b.invoices.get(subscription.latest_invoice as string);
    if (invoice && invoice.status === 'open') {
      Object.assign(invoice, { status: 'void', amount_remaining: 0, next_payment_attempt: null });
      (invoice.status_transitions as Record<string, unknown>).voided_at = request.now;
      ctx.emit('invoice.voided', invoice, request);
    }
    subscription.status = 'incomplete_expired';
    emitUpdated(subscription, { status: 'incomplete' }, request);
    return subscription;
  };

  const subscriptionList = (request: ApiRequest) => {
    const { query } = request;
    const status = query.get('status');
    return ctx.list([...b.subscriptions.values()], request, (s) =>
      (!query.get('customer') || s.customer === query.get('customer'))
      && (!query.get('price') || itemsOf(s).some((item) => item.price.id === query.get('price')))
      // Stripe lists all but canceled subscriptions unless status=all|canceled|….
      && (status === 'all' || (status ? s.status === status : s.status !== 'canceled')));
  };

  const portalSessionCreate = (request: ApiRequest) => {
    const customer = liveCustomer(required(request.params, 'customer'), 'customer');
    const id = stripeId('bps');
    const session: StripeObject = {
      id, object: 'billing_portal.session', configuration: stripeId('bpc'), created: request.now, customer: customer.id, flow: null,
      livemode: false, locale: null, on_behalf_of: null, return_url: str(request.params.return_url) ?? null, url: `${ctx.baseUrl()}/p/session/${id}`,
    };
    b.portalSessions.set(id, session);
    return session;
  };

  const routes: Route[] = [
    { method: 'POST', pattern: /^\/v1\/customers$/, handle: customerCreate },
    { method: 'GET', pattern: /^\/v1\/customers\/search$/, handle: customerSearch },
    {
      method: 'GET', pattern: /^\/v1\/customers$/,
      handle: (r) => ctx.list([...b.customers.values()], r, (c) => !c.deleted && (!r.query.get('email') || c.email === r.query.get('email'))),
    },
    {
      // Stripe answers a deleted Customer's retrieve with its stub (200), not a 404.
      method: 'GET', pattern: /^\/v1\/customers\/([^/]+)$/,
      handle: (_, m) => (b.customers.get(m[1])?.deleted ? deletedCustomer(m[1]) : liveCustomer(m[1])),
    },
    { method: 'DELETE', pattern: /^\/v1\/customers\/([^/]+)$/, handle: (r, m) => customerDelete(r, m[1]) },
    { method: 'GET', pattern: /^\/v1\/subscriptions$/, handle: subscriptionList },
    { method: 'GET', pattern: /^\/v1\/subscriptions\/([^/]+)$/, handle: (_, m) => subscriptionOf(m[1]) },
    { method: 'POST', pattern: /^\/v1\/subscriptions\/([^/]+)$/, handle: (r, m) => subscriptionUpdate(r, m[1]) },
    { method: 'POST', pattern: /^\/v1\/subscriptions\/([^/]+)\/resume$/, handle: (r, m) => resume(r, m[1]) },
    { method: 'POST', pattern: /^\/v1\/test_helpers\/subscriptions\/([^/]+)\/pause$/, handle: (r, m) => pauseNow(r, m[1]) },
    {
      method: 'DELETE', pattern: /^\/v1\/subscriptions\/([^/]+)$/,
      handle: (r, m) => {
        const subscription = subscriptionOf(m[1]);
        if (subscription.status === 'canceled') throw invalid(`No such subscription: '${m[1]}' is already canceled.`, undefined, 'subscription_canceled');
        return endNow(subscription, r);
      },
    },
    {
      method: 'GET', pattern: /^\/v1\/invoices$/,
      handle: (r) => ctx.list([...b.invoices.values()], r, (i) =>
        (!r.query.get('customer') || i.customer === r.query.get('customer'))
        && (!r.query.get('subscription') || (i.parent as { subscription_details: { subscription: string } }).subscription_details.subscription === r.query.get('subscription'))
        && (!r.query.get('status') || i.status === r.query.get('status'))),
    },
    { method: 'GET', pattern: /^\/v1\/invoices\/([^/]+)$/, handle: (_, m) => ctx.get(b.invoices, 'invoice', m[1]) },
    { method: 'POST', pattern: /^\/v1\/billing_portal\/sessions$/, handle: portalSessionCreate },
    { method: 'POST', pattern: /^\/v1\/test_helpers\/subscriptions\/([^/]+)\/renew$/, handle: (r, m) => renew(r, m[1]) },
    { method: 'POST', pattern: /^\/v1\/test_helpers\/invoices\/([^/]+)\/retry$/, handle: (r, m) => retryInvoice(r, m[1]) },
    { method: 'POST', pattern: /^\/v1\/test_helpers\/subscriptions\/([^/]+)\/expire_incomplete$/, handle: (r, m) => expireIncomplete(r, m[1]) },
    {
      method: 'POST', pattern: /^\/v1\/test_helpers\/search\/lag$/,
      handle: (r) => ({ object: 'test_helpers.search_lag', seconds: (b.searchLagSeconds = integer(required(r.params, 'seconds'), 'seconds', 0)) }),
    },
  ];

  return { routes, openSubscriptionSession, completeSubscriptionSession, assertOneTime };
}
