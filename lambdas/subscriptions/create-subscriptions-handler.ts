import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { PaymentRejectedError, StripeKeyInUseError } from '../domain/errors';
import { requestFingerprint } from '../domain/idempotency-scope';
import { openCheckoutView, subscriptionView } from '../domain/subscription';
import {
  cancelSubscription, parsePortalRequest, parseSubscriptionRequest, startSubscription, type SubscriptionDeps,
} from '../domain/subscription-steps';
import type { BillingGateway } from '../domain/subscription-ports';
import { problemResult, respond, result, type HttpResult } from '../shared/http';
import { idempotentRoute, idempotentStep, type PaymentRouteDeps } from '../shared/idempotent-step';
import { ProblemError } from '../shared/problem';
import { callerOf, idempotencyKeyOf } from '../shared/request-identity';
import { DynamoDbSubscriptionStore } from '../shared/subscription-store';

export interface SubscriptionsHandlerDeps extends Omit<PaymentRouteDeps, 'gateway' | 'ordersTableName'> {
  subscriptionsTableName: string;
  billing: BillingGateway;
  /** An open subscription checkout older than this is expired and replaced. @default 3600 */
  openCheckoutMaxAgeSeconds?: number;
}

const SUBSCRIPTION_ID = /^sbr_[0-9a-f]{32}$/;

/** Another request holds the Stripe key of the same create: a 409 the client retries, never a 5xx. */
async function inProgressAs409(step: () => Promise<HttpResult>): Promise<HttpResult> {
  try {
    return await step();
  } catch (error) {
    if (error instanceof StripeKeyInUseError) throw new ProblemError('subscriptionCheckoutInProgress', error.message, {}, 1);
    throw error;
  }
}

/**
 * POST /v1/subscriptions, GET /v1/subscriptions, POST /v1/subscriptions/{subscriptionId}/cancel,
 * POST /v1/billing-portal-sessions: translation only; the steps are in subscription-steps.ts.
 */
export function createSubscriptionsHandler(deps: SubscriptionsHandlerDeps) {
  const now = deps.now ?? (() => new Date());
  const subscriptions = new DynamoDbSubscriptionStore(deps.dynamoDb, deps.subscriptionsTableName, now);
  const stepDeps: SubscriptionDeps = { billing: deps.billing, subscriptions, now, openCheckoutMaxAgeSeconds: deps.openCheckoutMaxAgeSeconds };
  const routeDeps = { ...deps, ordersTableName: '', gateway: undefined as never };

  const create = idempotentRoute({ operation: 'subscription', parse: parseSubscriptionRequest, deps: routeDeps }, (request) => inProgressAs409(async () => {
    const outcome = await startSubscription(request, stepDeps);
    switch (outcome.kind) {
      case 'keyReused':
        throw new ProblemError('idempotencyKeyReused');
      case 'priceNotRecurring':
        return problemResult('priceNotRecurring', `${request.payload.price} is not an active recurring price`);
      case 'rejected':
        return problemResult('paymentRequestRejected', outcome.message, { stripeCode: outcome.code ?? null });
      case 'ended':
        return problemResult('subscriptionEnded', `Subscription ${outcome.record.subscriptionId}, which this Idempotency-Key started, is ${outcome.record.status}`, {
          subscriptionId: outcome.record.subscriptionId, subscriptionStatus: outcome.record.status,
        });
      case 'busy':
        throw new ProblemError('subscriptionCheckoutInProgress', 'The checkout for this product changed hands while this request ran', {}, 1);
      case 'alreadySubscribed':
        return problemResult('alreadySubscribed', `Subscription ${outcome.record.subscriptionId} is ${outcome.record.status}`, { subscriptionId: outcome.record.subscriptionId });
      case 'opened':
        return result(outcome.createdByThisRequest ? 201 : 200, openCheckoutView(outcome.record));
    }
  }));

  const portal = idempotentRoute({ operation: 'billing-portal', parse: parsePortalRequest, deps: routeDeps }, (request) => inProgressAs409(async () => {
    const customerId = await subscriptions.customerOf(request.scope.tenantId, request.scope.userId);
    if (!customerId) return problemResult('notFound', 'No billing account yet: subscribe first');
    try {
      return result(201, { url: await deps.billing.createPortalSession(customerId, request.payload.returnUrl) });
    } catch (error) {
      if (!(error instanceof PaymentRejectedError)) throw error;
      // Stripe's definitive no is the caller's situation, not our fault: never a 5xx.
      if (error.code === 'resource_missing') return problemResult('notFound', 'The billing account was deleted at Stripe: subscribe again to get a new one');
      return problemResult('paymentRequestRejected', error.message, { stripeCode: error.code ?? null });
    }
  }));

  const cancelOnce = idempotentStep<{ subscriptionId: string }>(
    { operation: 'subscription-cancel', tableName: deps.idempotencyTableName, dynamoDb: deps.dynamoDb, expiresAfterSeconds: deps.idempotencyTtlSeconds },
    (request) => inProgressAs409(async () => {
      const outcome = await cancelSubscription(request, request.payload.subscriptionId, stepDeps);
      if (outcome.kind === 'notFound') return problemResult('notFound', 'No such subscription');
      if (outcome.kind === 'notLive') return problemResult('subscriptionNotActive', `The subscription is ${outcome.record.status}`, { subscriptionId: outcome.record.subscriptionId, subscriptionStatus: outcome.record.status });
      return result(200, subscriptionView(outcome.record));
    }),
  );
  const cancel = (event: APIGatewayProxyEvent, context: Context) =>
    respond(event, async () => {
      const caller = callerOf(event);
      const key = idempotencyKeyOf(event);
      const subscriptionId = event.pathParameters?.subscriptionId ?? '';
      if (!SUBSCRIPTION_ID.test(subscriptionId)) return problemResult('notFound', 'No such subscription');
      const payload = { subscriptionId };
      return cancelOnce({ scope: { ...caller, key }, payload, fingerprint: requestFingerprint(payload) }, context);
    });

  const list = (event: APIGatewayProxyEvent) =>
    respond(event, async () => {
      const { tenantId, userId } = callerOf(event);
      return result(200, { data: (await subscriptions.listByOwner(tenantId, userId)).map(subscriptionView) });
    });

  return (event: APIGatewayProxyEvent, context: Context) => {
    const route = `${event.httpMethod} ${event.resource}`;
    switch (route) {
      case 'POST /v1/subscriptions':
        return create(event, context);
      case 'GET /v1/subscriptions':
        return list(event);
      case 'POST /v1/subscriptions/{subscriptionId}/cancel':
        return cancel(event, context);
      case 'POST /v1/billing-portal-sessions':
        return portal(event, context);
      default:
        return respond(event, async () => problemResult('routeNotFound'));
    }
  };
}

