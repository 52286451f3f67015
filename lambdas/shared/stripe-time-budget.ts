/**
 * How long one Stripe SDK call may take in the worst case: every attempt runs to its timeout,
 * with the SDK's back-off between attempts (stripe-node: 0.5 s doubling, at most 5 s, never
 * shorter than 0.5 s; it does not wait for Retry-After). The stack checks this against each
 * function's timeout, so a slow Stripe ends in our 503 (key reusable), not a Lambda timeout
 * (a 502 from API Gateway with the idempotency record left in progress).
 * Plain module: the CDK app imports it without the SDK.
 */
export const STRIPE_CLIENT_DEFAULTS: { readonly timeoutMs: number; readonly maxNetworkRetries: number } = { timeoutMs: 6000, maxNetworkRetries: 2 };

const INITIAL_RETRY_DELAY_MS = 500;
const MAX_RETRY_DELAY_MS = 5000;

export function stripeCallBudgetMs({ timeoutMs, maxNetworkRetries }: { timeoutMs: number; maxNetworkRetries: number }): number {
  let backOffMs = 0;
  for (let retry = 1; retry <= maxNetworkRetries; retry++) backOffMs += Math.min(INITIAL_RETRY_DELAY_MS * 2 ** (retry - 1), MAX_RETRY_DELAY_MS);
  return timeoutMs * (maxNetworkRetries + 1) + backOffMs;
}
