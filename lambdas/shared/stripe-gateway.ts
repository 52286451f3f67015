import Stripe from 'stripe';
import { PaymentProviderSavedFailureError, PaymentProviderUnavailableError, PaymentRejectedError } from '../domain/errors';
import type { RefundFact } from '../domain/ledger';
import type { CheckoutSessionInput, PaymentGateway, RefundInput, StripeRefundStatus } from '../domain/ports';
import { optionalEnv, positiveIntEnv } from './env';
import { stripeApiKey } from './stripe-secrets';
import { STRIPE_CLIENT_DEFAULTS } from './stripe-time-budget';

/**
 * STRIPE_API_BASE points the real SDK at the local emulator (http://localhost:12111);
 * unset, the SDK talks to api.stripe.com.
 */
function endpointConfig(): Pick<Stripe.StripeConfig, 'host' | 'port' | 'protocol'> {
  const base = optionalEnv('STRIPE_API_BASE');
  if (!base) return {};
  const url = new URL(base);
  return { host: url.hostname, port: url.port || (url.protocol === 'https:' ? 443 : 80), protocol: url.protocol.replace(':', '') as 'http' | 'https' };
}

const clients = new Map<string, Stripe>();

/** One SDK client per API key, created on first use and kept for the container's life. */
export async function stripeClient(): Promise<Stripe> {
  const apiKey = await stripeApiKey();
  let client = clients.get(apiKey);
  if (!client) {
    client = new Stripe(apiKey, {
      ...endpointConfig(),
      // The SDK retries 409 lock timeouts, 5xx and network errors with the same idempotency key.
      // Worst case is stripeCallBudgetMs(), which the stack keeps below the function timeout.
      maxNetworkRetries: positiveIntEnv('STRIPE_MAX_NETWORK_RETRIES', STRIPE_CLIENT_DEFAULTS.maxNetworkRetries),
      timeout: positiveIntEnv('STRIPE_TIMEOUT_MS', STRIPE_CLIENT_DEFAULTS.timeoutMs),
      appInfo: { name: 'exactly-once-payments' },
    });
    clients.set(apiKey, client);
  }
  return client;
}

/** Stripe charged us with a wrong key use: our fingerprint check missed something. Never a client's fault. */
export class StripeIdempotencyMismatchError extends Error {
  constructor(options: { cause: unknown }) {
    super('Stripe refused a reused idempotency key with other parameters', options);
    this.name = 'StripeIdempotencyMismatchError';
  }
}

/** Stripe's definitive answers become PaymentRejectedError; everything uncertain is "unavailable". */
export function translateStripeError(error: unknown): never {
  if (error instanceof Stripe.errors.StripeError) {
    // Never shown to the client: its message names our internal key, and it is our bug, not theirs.
    if (error instanceof Stripe.errors.StripeIdempotencyError) throw new StripeIdempotencyMismatchError({ cause: error });
    const definitive = error instanceof Stripe.errors.StripeInvalidRequestError || error instanceof Stripe.errors.StripeCardError;
    if (definitive) throw new PaymentRejectedError(error.message, error.code);
    const replayed = (error.headers as Record<string, string> | undefined)?.['idempotent-replayed'] === 'true';
    if (replayed) throw new PaymentProviderSavedFailureError(`Stripe replayed a saved ${error.statusCode ?? ''} for this key`, { cause: error });
    throw new PaymentProviderUnavailableError(`Stripe ${error.type} (${error.statusCode ?? 'no status'})`, { cause: error });
  }
  throw error;
}

const isMissing = (error: unknown) => error instanceof Stripe.errors.StripeInvalidRequestError && error.code === 'resource_missing';

/** Reads that answer "not there" as undefined and everything uncertain as unavailable. */
export async function retrieve<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (isMissing(error)) return undefined;
    return translateStripeError(error);
  }
}

export function refundFactOfStripe(refund: Stripe.Refund): RefundFact {
  return {
    stripeRefundId: refund.id,
    paymentIntentId: typeof refund.payment_intent === 'string' ? refund.payment_intent : (refund.payment_intent?.id ?? null),
    amount: refund.amount,
    currency: refund.currency,
    status: (refund.status ?? 'pending') as StripeRefundStatus,
    refundId: refund.metadata?.refundId ?? null,
    created: refund.created,
  };
}

export class StripePaymentGateway implements PaymentGateway {
  constructor(private readonly client: () => Promise<Stripe> = stripeClient) {}

  async createCheckoutSession(input: CheckoutSessionInput, stripeIdempotencyKey: string) {
    const stripe = await this.client();
    const metadata = { orderId: input.orderId, tenantId: input.tenantId };
    try {
      const session = await stripe.checkout.sessions.create(
        {
          mode: 'payment',
          line_items: input.lineItems,
          success_url: input.successUrl,
          cancel_url: input.cancelUrl,
          ...(input.customerEmail ? { customer_email: input.customerEmail } : {}),
          client_reference_id: input.orderId,
          metadata,
          // Copied onto the PaymentIntent: an early refund or dispute event finds its order through it.
          payment_intent_data: { metadata },
        },
        { idempotencyKey: stripeIdempotencyKey },
      );
      return { id: session.id, url: session.url, amountTotal: session.amount_total ?? 0, currency: session.currency ?? 'usd' };
    } catch (error) {
      return translateStripeError(error);
    }
  }

  async expireCheckoutSession(checkoutSessionId: string) {
    const stripe = await this.client();
    try {
      await stripe.checkout.sessions.expire(checkoutSessionId);
    } catch (error) {
      // Already complete or expired: nothing left to close.
      if (error instanceof Stripe.errors.StripeInvalidRequestError) return;
      translateStripeError(error);
    }
  }

  async createRefund(input: RefundInput, stripeIdempotencyKey: string) {
    const stripe = await this.client();
    try {
      const refund = await stripe.refunds.create(
        {
          payment_intent: input.paymentIntentId,
          amount: input.amount,
          ...(input.reason ? { reason: input.reason } : {}),
          metadata: input.metadata,
        },
        { idempotencyKey: stripeIdempotencyKey },
      );
      return refundFactOfStripe(refund);
    } catch (error) {
      return translateStripeError(error);
    }
  }

  async findRefunds(paymentIntentId: string, refundId: string) {
    const stripe = await this.client();
    const found: RefundFact[] = [];
    try {
      for await (const refund of stripe.refunds.list({ payment_intent: paymentIntentId, limit: 100 })) {
        if (refund.metadata?.refundId === refundId) found.push(refundFactOfStripe(refund));
      }
    } catch (error) {
      return translateStripeError(error);
    }
    return found;
  }

  async retrievePaymentIntent(paymentIntentId: string) {
    const stripe = await this.client();
    const intent = await retrieve(() => stripe.paymentIntents.retrieve(paymentIntentId));
    return intent ? { id: intent.id, metadata: intent.metadata ?? {} } : undefined;
  }

  async retrieveCheckoutSession(checkoutSessionId: string) {
    const stripe = await this.client();
    return (await retrieve(() => stripe.checkout.sessions.retrieve(checkoutSessionId))) as unknown as Record<string, unknown> | undefined;
  }

  async retrieveEvent(eventId: string) {
    const stripe = await this.client();
    return retrieve(() => stripe.events.retrieve(eventId));
  }
}
