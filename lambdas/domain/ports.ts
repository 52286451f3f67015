import type { Order, RefundReason, RefundRecord, RefundStatus } from './order';

/** What the domain needs from Stripe. Implemented by lambdas/shared/stripe-gateway.ts. */
export interface PaymentGateway {
  createCheckoutSession(input: CheckoutSessionInput, stripeIdempotencyKey: string): Promise<CreatedCheckoutSession>;
  createRefund(input: RefundInput, stripeIdempotencyKey: string): Promise<CreatedRefund>;
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

export interface CreatedRefund {
  id: string;
  status: RefundStatus;
}

/** What the domain needs from the orders table. Implemented by lambdas/shared/order-store.ts. */
export interface OrderStore {
  /** Creates the order, or returns the one already stored under its id (a retry after a crash). */
  createOrder(order: Order): Promise<Order>;
  getOrder(orderId: string): Promise<Order | undefined>;
  /**
   * Atomically takes `refund.amount` from the refundable balance and records the refund, only if
   * the order is paid, belongs to the tenant, has the balance and has no refund with this id.
   */
  reserveRefund(orderId: string, tenantId: string, refund: RefundRecord): Promise<'reserved' | 'rejected'>;
  /** Moves a refund forward (never back) and returns a released amount to the balance, once. */
  recordRefundOutcome(
    orderId: string,
    refundId: string,
    outcome: { status: RefundStatus; stripeRefundId: string | null },
  ): Promise<'applied' | 'stale'>;
}
