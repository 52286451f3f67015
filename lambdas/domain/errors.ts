/**
 * Failures of the outside world, as the domain sees them. Adapters translate SDK errors into
 * these so that the domain and the HTTP mapper never import the Stripe or AWS packages.
 */

/** Stripe gave a definitive "no" (bad price, refund too large...): a business outcome. */
export class PaymentRejectedError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'PaymentRejectedError';
  }
}

/** Stripe did not answer, or answered 429/5xx: the outcome is unknown, so retry with the same key. */
export class PaymentProviderUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PaymentProviderUnavailableError';
  }
}

/**
 * Stripe answered a 5xx it had saved under our idempotency key (Idempotent-Replayed): that
 * attempt is over and failed, and every retry with the same key gets the same answer for 24 h.
 */
export class PaymentProviderSavedFailureError extends PaymentProviderUnavailableError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PaymentProviderSavedFailureError';
  }
}

/** An event refers to an order we do not have (yet): retried, then dead-lettered. */
export class OrderNotFoundError extends Error {
  constructor(readonly reference: string) {
    super(`No order for ${reference}`);
    this.name = 'OrderNotFoundError';
  }
}

/** The event is about an order that has not reached the state it needs yet (e.g. a refund before payment). */
export class OrderNotReadyError extends Error {
  constructor(
    readonly orderId: string,
    reason: string,
  ) {
    super(`Order ${orderId} not ready: ${reason}`);
    this.name = 'OrderNotReadyError';
  }
}

/** A message that can never be applied (not a Stripe event): fails itself, ends in the DLQ. */
export class PoisonMessageError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'PoisonMessageError';
  }
}

/** A refund whose Stripe outcome another attempt is resolving right now: retry with the same key. */
export class RefundInProgressError extends Error {
  constructor(readonly refundId: string) {
    super(`Refund ${refundId} is being resolved with Stripe`);
    this.name = 'RefundInProgressError';
  }
}

/** Another request is creating the same Stripe object under the same key right now (Stripe's `idempotency_key_in_use`): retry shortly. */
export class StripeKeyInUseError extends Error {
  constructor(readonly what: string) {
    super(`Another request is creating ${what} at Stripe`);
    this.name = 'StripeKeyInUseError';
  }
}
