import type { Change, RefundFact } from './ledger';
import type { Order, RefundReason, StripeRefundStatus } from './order';

/** What the domain needs from Stripe. Implemented by lambdas/shared/stripe-gateway.ts. */
export interface PaymentGateway extends StripeReader {
  createCheckoutSession(input: CheckoutSessionInput, stripeIdempotencyKey: string): Promise<CreatedCheckoutSession>;
  /** Closes a session we created by mistake, so nobody can pay it. */
  expireCheckoutSession(checkoutSessionId: string): Promise<void>;
  createRefund(input: RefundInput, stripeIdempotencyKey: string): Promise<RefundFact>;
  /** The Stripe refunds of a payment intent that one of our refund requests made (matched on metadata.refundId). */
  findRefunds(paymentIntentId: string, refundId: string): Promise<RefundFact[]>;
}

/** Read-only Stripe look-ups: resolving unknown outcomes and early events from Stripe itself. */
export interface StripeReader {
  retrievePaymentIntent(paymentIntentId: string): Promise<{ id: string; metadata: Record<string, string> } | undefined>;
  retrieveCheckoutSession(checkoutSessionId: string): Promise<Record<string, unknown> | undefined>;
  retrieveEvent(eventId: string): Promise<unknown>;
}

export interface CheckoutSessionInput {
  orderId: string;
  tenantId: string;
  lineItems: { price: string; quantity: number }[];
  successUrl: string;
  cancelUrl: string;
  customerEmail?: string;
}

export interface CreatedCheckoutSession {
  id: string;
  url: string | null;
  amountTotal: number;
  currency: string;
}

export interface RefundInput {
  paymentIntentId: string;
  amount: number;
  reason: RefundReason | null;
  metadata: { orderId: string; tenantId: string; refundId: string };
}

export type { StripeRefundStatus };

/** What the domain needs from the orders table. Implemented by lambdas/shared/order-store.ts. */
export interface OrderLedgerStore {
  getOrder(orderId: string): Promise<Order | undefined>;
  findOrderIdByPaymentIntent(paymentIntentId: string): Promise<string | undefined>;
  /**
   * Applies `decide` to the order and persists the result with one write conditional on the
   * version `decide` saw; when another writer got there first, `decide` runs again on the item
   * that write found. `applied` and `anomaly` are written (the anomaly on the order's list);
   * `notReady` throws OrderNotReadyError so the caller retries; `stale` writes nothing.
   */
  mutate(orderId: string, decide: (order: Order) => Change, stripeEventId: string | null): Promise<Change>;
}

/** What an Idempotency-Key was first used for: the same key may never name another order or body. */
export interface RequestClaim {
  orderId: string;
  requestFingerprint: string;
}

export interface OrderStore extends OrderLedgerStore {
  /** Creates the order, or returns the one already stored under its id. */
  createOrder(order: Order): Promise<Order>;
  /**
   * Records, once and for ever, which order and body a refund request id stands for; returns the
   * earlier claim when there is one (undefined when this call made it).
   */
  claimRequest(requestId: string, claim: RequestClaim): Promise<RequestClaim | undefined>;
}
