import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

/**
 * What must never reach a log line, even inside an error we log whole: the idempotency keys we
 * derive for Stripe (idempotency-scope.ts; Stripe echoes them in the `headers` of every error it
 * raises, and anyone holding one could replay or probe our requests), API keys and signing
 * secrets (which the Stripe SDK can put in an error's message).
 */
const NEVER_LOGGED: [RegExp, string][] = [
  [/\b(checkout|refund)-v1-[0-9a-f]{16,}(-r\d+)?\b/g, '$1-v1-[redacted]'],
  [/\b([sr]k_(?:test|live))_[A-Za-z0-9]+/g, '$1_[redacted]'],
  [/\bwhsec_[A-Za-z0-9]+/g, 'whsec_[redacted]'],
];

/** JSON replacer for every log line (Powertools applies it before formatting errors, and to their members). */
export function redactLogValue(_key: string, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  return NEVER_LOGGED.reduce((text, [pattern, replacement]) => text.replace(pattern, replacement), value);
}

/**
 * One logger and one metrics namespace for every handler. POWERTOOLS_SERVICE_NAME and
 * POWERTOOLS_METRICS_NAMESPACE come from the function's environment; nothing request-specific
 * (bodies, tokens, card data) is ever passed to the logger, only identifiers.
 */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'payments', jsonReplacerFn: redactLogValue });
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'Payments',
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'payments',
});
