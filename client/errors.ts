import type { components } from './openapi-types.js';

export type Problem = components['schemas']['Problem'];

/** The API's final answer was not a success. */
export class PaymentsApiError extends Error {
  constructor(
    readonly status: number,
    /** The problem+json body; undefined when something other than our API answered (a proxy's HTML page). */
    readonly problem: Problem | undefined,
    readonly attempts: number,
    /**
     * The API judged this exact request (400, 404, 409 `order-not-refundable`, 422 …): sending it
     * again cannot change the answer, so its key was retired and a corrected request is a new
     * operation. False for 401/403 and non-problem answers: the operation is still unresolved.
     */
    readonly definitive: boolean,
  ) {
    super(problem ? `${status} ${problem.type}: ${problem.detail ?? problem.title}` : `${status} (not a problem+json answer)`);
    this.name = 'PaymentsApiError';
  }
}

/**
 * Retries ran out of time with no definitive answer: the operation may or may not have happened.
 * Its key is kept: call again with the same operationId and body to resume (the API replays the
 * outcome), or `abandon()` it.
 */
export class RetriesExhaustedError extends Error {
  constructor(
    readonly attempts: number,
    readonly lastFailure: string,
    readonly idempotencyKey: string | undefined,
  ) {
    super(`Gave up after ${attempts} attempts: ${lastFailure}`);
    this.name = 'RetriesExhaustedError';
  }
}

/**
 * A different request for an operation whose earlier request has no definitive answer yet — in
 * flight in this page (`inFlight`), or in another tab, or given up. Sending it would get 409 or
 * 422, and a fresh key could do the work twice, so nothing was sent. Resume with the original
 * request, or `abandon()` the operation first (for a refund: after reading the order).
 */
export class UnresolvedOperationError extends Error {
  constructor(
    readonly operation: string,
    readonly operationId: string,
    readonly inFlight: boolean,
  ) {
    super(
      `${operation} "${operationId}" already has ${inFlight ? 'a request in flight' : 'an unresolved request'} with a different body; ` +
        'resume it with the same body, or abandon() it before sending another.',
    );
    this.name = 'UnresolvedOperationError';
  }
}

/** `token()` or `refreshToken()` failed: nothing more was sent, and there is nothing to retry until sign-in works. */
export class TokenError extends Error {
  constructor(
    /** What `token()` threw. */
    readonly reason: unknown,
    readonly attempts: number,
  ) {
    super(`Could not get an ID token: ${reason instanceof Error ? reason.message : String(reason)}`);
    this.name = 'TokenError';
  }
}
