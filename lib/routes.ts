/**
 * The HTTP surface, one row per route: the CDK stack builds API Gateway resources from it and
 * the local API Gateway emulator (local/api-gateway.ts) routes with it, so the two cannot drift.
 */
export type HandlerName = 'checkout' | 'orders' | 'refunds' | 'subscriptions' | 'webhooks';

export interface RouteDefinition {
  readonly method: 'GET' | 'POST';
  /** API Gateway resource path; `{name}` segments become path parameters. */
  readonly resource: string;
  /** Folder under lambdas/ whose handler.ts serves the route. */
  readonly handler: HandlerName;
  /** Cognito-authorized. The Stripe webhook is not: its signature is its authentication. */
  readonly authorized: boolean;
  /** Schema in docs/openapi.yaml that API Gateway validates the JSON body against. */
  readonly bodySchema?: 'CheckoutRequest' | 'RefundRequest' | 'SubscriptionRequest' | 'BillingPortalRequest';
}

export const routes: readonly RouteDefinition[] = [
  { method: 'POST', resource: '/v1/checkouts', handler: 'checkout', authorized: true, bodySchema: 'CheckoutRequest' },
  { method: 'GET', resource: '/v1/orders/{orderId}', handler: 'orders', authorized: true },
  { method: 'POST', resource: '/v1/refunds', handler: 'refunds', authorized: true, bodySchema: 'RefundRequest' },
  { method: 'POST', resource: '/v1/subscriptions', handler: 'subscriptions', authorized: true, bodySchema: 'SubscriptionRequest' },
  { method: 'GET', resource: '/v1/subscriptions', handler: 'subscriptions', authorized: true },
  { method: 'POST', resource: '/v1/subscriptions/{subscriptionId}/cancel', handler: 'subscriptions', authorized: true },
  { method: 'POST', resource: '/v1/billing-portal-sessions', handler: 'subscriptions', authorized: true, bodySchema: 'BillingPortalRequest' },
  { method: 'POST', resource: '/v1/webhooks/stripe', handler: 'webhooks', authorized: false },
];
