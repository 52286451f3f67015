import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

/**
 * One logger and one metrics namespace for every handler. POWERTOOLS_SERVICE_NAME and
 * POWERTOOLS_METRICS_NAMESPACE come from the function's environment; nothing request-specific
 * (bodies, tokens, card data) is ever passed to the logger, only identifiers.
 */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'payments' });
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'Payments',
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'payments',
});
