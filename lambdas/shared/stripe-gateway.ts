import Stripe from 'stripe';
import { PaymentProviderUnavailableError, PaymentRejectedError } from '../domain/errors';
import type { RefundStatus } from '../domain/order';
import type { CheckoutSessionInput, PaymentGateway, RefundInput } from '../domain/ports';
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

/** Stripe's definitive answers become PaymentRejectedError; everything uncertain is "unavailable". */
function translateStripeError(error: unknown): never {
  if (error instanceof Stripe.errors.StripeError) {
    const definitive =
      error instanceof Stripe.errors.StripeInvalidRequestError ||
      error instanceof Stripe.errors.StripeCardError ||
      error instanceof Stripe.errors.StripeIdempotencyError;
    if (definitive) throw new PaymentRejectedError(error.message, error.code);
    throw new PaymentProviderUnavailableError(`Stripe ${error.type} (${error.statusCode ?? 'no status'})`, { cause: error });
  }
  throw error;
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
          // Copied onto the PaymentIntent so refund and dispute events can be traced to the order.
          payment_intent_data: { metadata },
        },
        { idempotencyKey: stripeIdempotencyKey },
      );
      return { id: session.id, url: session.url, amountTotal: session.amount_total ?? 0, currency: session.currency ?? 'usd' };
    } catch (error) {
      return translateStripeError(error);
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
      return { id: refund.id, status: (refund.status ?? 'pending') as RefundStatus };
    } catch (error) {
      return translateStripeError(error);
    }
  }
}
