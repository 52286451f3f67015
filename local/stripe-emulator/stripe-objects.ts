import { randomBytes } from 'node:crypto';

/**
 * Builders for the Stripe objects the emulator serves. Top-level field names match Stripe's
 * own example objects (test/fixtures/stripe-object-keys.json checks them); nested objects the
 * payments backend never reads are null or empty.
 */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function stripeId(prefix: string, length = 24): string {
  const bytes = randomBytes(length);
  return `${prefix}_${Array.from(bytes, (b) => ALPHABET[b % ALPHABET.length]).join('')}`;
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);

export type Metadata = Record<string, string>;
export type StripeObject = Record<string, unknown> & { id: string; object: string };

export function product(name: string, metadata: Metadata = {}, created = nowSeconds()): StripeObject {
  return {
    id: stripeId('prod', 14), object: 'product', active: true, created, default_price: null, description: null,
    images: [], livemode: false, marketing_features: [], metadata, name, package_dimensions: null, shippable: null,
    statement_descriptor: null, tax_code: null, type: 'service', unit_label: null, updated: created, url: null,
  };
}

export function price(input: { currency: string; unitAmount: number; productId: string; metadata: Metadata; nickname: string | null; created?: number }): StripeObject {
  return {
    id: stripeId('price'), object: 'price', active: true, billing_scheme: 'per_unit', created: input.created ?? nowSeconds(),
    currency: input.currency, custom_unit_amount: null, livemode: false, lookup_key: null, metadata: input.metadata,
    nickname: input.nickname, product: input.productId, recurring: null, tax_behavior: 'unspecified', tiers_mode: null,
    transform_quantity: null, type: 'one_time', unit_amount: input.unitAmount, unit_amount_decimal: String(input.unitAmount),
  };
}

export interface SessionInput {
  amountTotal: number;
  currency: string;
  successUrl: string | null;
  cancelUrl: string | null;
  clientReferenceId: string | null;
  customerEmail: string | null;
  metadata: Metadata;
  paymentUrlBase: string;
  /** The Payment Link the session was opened from, if any. */
  paymentLinkId?: string | null;
  created?: number;
}

export function checkoutSession(input: SessionInput): StripeObject {
  const id = `cs_test_${stripeId('x', 58).slice(2)}`;
  const created = input.created ?? nowSeconds();
  return {
    id, object: 'checkout.session', adaptive_pricing: null, after_expiration: null, allow_promotion_codes: null,
    amount_subtotal: input.amountTotal, amount_total: input.amountTotal, automatic_tax: { enabled: false, liability: null, provider: null, status: null },
    billing_address_collection: null, cancel_url: input.cancelUrl, client_reference_id: input.clientReferenceId,
    client_secret: null, collected_information: null, consent: null, consent_collection: null, created,
    currency: input.currency, currency_conversion: null, custom_fields: [], custom_text: null, customer: null,
    customer_account: null, customer_creation: 'if_required',
    customer_details: input.customerEmail ? { email: input.customerEmail } : null,
    customer_email: input.customerEmail, discounts: [], expires_at: created + 24 * 3600, integration_identifier: null,
    invoice: null, invoice_creation: null, livemode: false, locale: null, managed_payments: null,
    metadata: input.metadata, mode: 'payment', origin_context: null, payment_intent: null, payment_link: input.paymentLinkId ?? null,
    payment_method_collection: 'if_required', payment_method_configuration_details: null, payment_method_options: {},
    payment_method_types: ['card'], payment_status: 'unpaid', permissions: null, phone_number_collection: { enabled: false },
    recovered_from: null, saved_payment_method_options: null, setup_intent: null, shipping_address_collection: null,
    shipping_cost: null, shipping_options: [], status: 'open', submit_type: null, subscription: null,
    success_url: input.successUrl, total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
    ui_mode: 'hosted', url: `${input.paymentUrlBase}/c/pay/${id}`, wallet_options: null,
  };
}

export function paymentIntent(input: { amount: number; currency: string; metadata: Metadata; status: string; created?: number }): StripeObject {
  const id = stripeId('pi');
  return {
    id, object: 'payment_intent', amount: input.amount, amount_capturable: 0, amount_details: { tip: {} },
    amount_received: input.status === 'succeeded' ? input.amount : 0, application: null, application_fee_amount: null,
    automatic_payment_methods: null, canceled_at: null, cancellation_reason: null, capture_method: 'automatic',
    client_secret: `${id}_secret_${stripeId('x', 25).slice(2)}`, confirmation_method: 'automatic', created: input.created ?? nowSeconds(),
    currency: input.currency, customer: null, customer_account: null, description: null, excluded_payment_method_types: null,
    last_payment_error: null, latest_charge: null, livemode: false, managed_payments: null, metadata: input.metadata,
    next_action: null, on_behalf_of: null, payment_method: stripeId('pm'), payment_method_configuration_details: null,
    payment_method_options: {}, payment_method_types: ['card'], processing: null, receipt_email: null, review: null,
    setup_future_usage: null, shipping: null, source: null, statement_descriptor: null, statement_descriptor_suffix: null,
    status: input.status, transfer_data: null, transfer_group: null,
  };
}

export function charge(input: { amount: number; currency: string; paymentIntentId: string; paymentMethodId: string; metadata: Metadata; created?: number }): StripeObject {
  const id = stripeId('ch');
  return {
    id, object: 'charge', amount: input.amount, amount_captured: input.amount, amount_refunded: 0, application: null,
    application_fee: null, application_fee_amount: null, balance_transaction: stripeId('txn'),
    billing_details: { address: null, email: null, name: null, phone: null, tax_id: null },
    calculated_statement_descriptor: 'PAYMENTS', captured: true, created: input.created ?? nowSeconds(), currency: input.currency,
    customer: null, description: null, disputed: false, failure_balance_transaction: null, failure_code: null,
    failure_message: null, fraud_details: {}, livemode: false, metadata: input.metadata, on_behalf_of: null,
    outcome: { network_status: 'approved_by_network', reason: null, risk_level: 'normal', seller_message: 'Payment complete.', type: 'authorized' },
    paid: true, payment_intent: input.paymentIntentId, payment_method: input.paymentMethodId,
    payment_method_details: { card: { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2034, funding: 'credit', country: 'US' }, type: 'card' },
    receipt_email: null, receipt_number: null, receipt_url: null, refunded: false,
    refunds: { object: 'list', data: [], has_more: false, url: `/v1/charges/${id}/refunds` },
    review: null, shipping: null, source: null, source_transfer: null, statement_descriptor: null,
    statement_descriptor_suffix: null, status: 'succeeded', transfer_data: null, transfer_group: null,
  };
}

export function refund(input: {
  amount: number; currency: string; chargeId: string; paymentIntentId: string; reason: string | null; metadata: Metadata;
  status?: 'pending' | 'succeeded'; created?: number;
}): StripeObject {
  return {
    id: stripeId('re'), object: 'refund', amount: input.amount, balance_transaction: stripeId('txn'),
    charge: input.chargeId, created: input.created ?? nowSeconds(), currency: input.currency, customer: null, customer_account: null,
    destination_details: { card: { type: 'refund' }, type: 'card' }, metadata: input.metadata,
    payment_intent: input.paymentIntentId, payment_method: null, reason: input.reason, receipt_number: null,
    source_transfer_reversal: null, status: input.status ?? 'succeeded', transfer_reversal: null,
  };
}

/**
 * A chargeback (`needs_response`, the charge no longer refundable) or an inquiry
 * (`warning_needs_response`, still refundable, no funds withdrawn), as Stripe distinguishes them.
 */
export function dispute(input: { amount: number; currency: string; chargeId: string; paymentIntentId: string; inquiry?: boolean; created?: number }): StripeObject {
  const created = input.created ?? nowSeconds();
  return {
    id: stripeId('dp'), object: 'dispute', amount: input.amount, balance_transactions: [], charge: input.chargeId,
    created, currency: input.currency, enhanced_eligibility_types: [], evidence: {},
    evidence_details: { due_by: created + 7 * 86400, has_evidence: false, past_due: false, submission_count: 0 },
    is_charge_refundable: input.inquiry === true, livemode: false, metadata: {}, payment_intent: input.paymentIntentId,
    payment_method_details: { card: { brand: 'visa', case_type: input.inquiry ? 'inquiry' : 'chargeback', network: 'visa', network_reason_code: '10.4' }, type: 'card' },
    reason: 'fraudulent', status: input.inquiry ? 'warning_needs_response' : 'needs_response',
  };
}

/** The balance transaction a dispute adds when Stripe withdraws (negative) or reinstates funds. */
export function disputeBalanceTransaction(input: { amount: number; currency: string; disputeId: string; created: number }): StripeObject {
  return {
    id: stripeId('txn'), object: 'balance_transaction', amount: input.amount, available_on: input.created, created: input.created,
    currency: input.currency, description: `Chargeback ${input.amount < 0 ? 'withdrawal' : 'reversal'} for ${input.disputeId}`,
    fee: 0, net: input.amount, reporting_category: input.amount < 0 ? 'dispute' : 'dispute_reversal', source: input.disputeId,
    status: 'available', type: 'adjustment',
  };
}

/** A Payment Link: a shareable URL anyone can pay; the sessions it opens carry its metadata, none of ours. */
export function paymentLink(input: {
  currency: string; lineItems: { price: string; quantity: number }[]; metadata: Metadata; intentMetadata: Metadata; urlBase: string;
}): StripeObject {
  const id = stripeId('plink');
  return {
    id, object: 'payment_link', active: true,
    after_completion: { hosted_confirmation: { custom_message: null }, type: 'hosted_confirmation' },
    allow_promotion_codes: false, application: null, application_fee_amount: null, application_fee_percent: null,
    automatic_tax: { enabled: false, liability: null }, billing_address_collection: 'auto', consent_collection: null,
    currency: input.currency, custom_fields: [], custom_text: { after_submit: null, shipping_address: null, submit: null, terms_of_service_acceptance: null },
    customer_creation: 'if_required', inactive_message: null, invoice_creation: null, livemode: false, managed_payments: null,
    metadata: input.metadata, on_behalf_of: null, payment_intent_data: { capture_method: null, description: null, metadata: input.intentMetadata, setup_future_usage: null, statement_descriptor: null, statement_descriptor_suffix: null, transfer_group: null },
    payment_method_collection: 'always', payment_method_options: null, payment_method_types: null,
    phone_number_collection: { enabled: false }, restrictions: null, shipping_address_collection: null, shipping_options: [],
    submit_type: 'auto', subscription_data: null, tax_id_collection: { enabled: false, required: 'never' }, transfer_data: null,
    url: `${input.urlBase}/c/pay/link/${id}`,
  };
}

export const STRIPE_API_VERSION = '2026-10-28.endive';

export function event(
  type: string, object: StripeObject, request: { id: string | null; idempotencyKey: string | null }, created = nowSeconds(), pendingWebhooks = 1,
): StripeObject {
  return {
    id: stripeId('evt'), object: 'event', api_version: STRIPE_API_VERSION, created,
    // A snapshot, like Stripe's: later changes to the object do not alter past events.
    data: { object: structuredClone(object) }, livemode: false, pending_webhooks: pendingWebhooks,
    request: { id: request.id, idempotency_key: request.idempotencyKey }, type,
  };
}
