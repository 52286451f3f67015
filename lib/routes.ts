/**
 * The HTTP surface, one row per route: the CDK stack builds API Gateway resources from it and
 * the local API Gateway emulator (local/api-gateway.ts) routes with it, so the two cannot drift.
 */
export type HandlerName = 'checkout' | 'orders' | 'refunds' | 'subscriptions' | 'webhooks' | 'problems';

export interface RouteDefinition {
  readonly method: 'GET' | 'POST';
  /** API Gateway resource path; `{name}` segments become path parameters. */
  readonly resource: string;
  /** Folder under lambdas/ whose handler.ts serves the route. */
  readonly handler: HandlerName;
  /** Cognito-authorized. The Stripe webhook is not (its signature is its authentication), nor the problem pages. */
  readonly authorized: boolean;
  /** Why a route without the Cognito authorizer is safe (recorded with the cdk-nag findings it answers). */
  readonly publicBecause?: string;
  /**
   * Called by servers only (Stripe), never by a page: no CORS preflight and no CORS headers, so
   * no browser is ever allowed to call it. @default false
   */
  readonly serverToServer?: boolean;
  /** Schema in docs/openapi.yaml the handler validates the JSON body against (bin/request-validators.ts). */
  readonly bodySchema?: 'CheckoutRequest' | 'RefundRequest' | 'SubscriptionRequest' | 'BillingPortalRequest';
}

const PROBLEM_PAGES_ARE_PUBLIC = 'Static documentation of the problem types (generated from the code), readable by anyone a problem response links to it; it reads no data and touches no table, secret or Stripe.';

export const routes: readonly RouteDefinition[] = [
  { method: 'POST', resource: '/v1/checkouts', handler: 'checkout', authorized: true, bodySchema: 'CheckoutRequest' },
  { method: 'GET', resource: '/v1/orders/{orderId}', handler: 'orders', authorized: true },
  { method: 'GET', resource: '/v1/orders/{orderId}/history', handler: 'orders', authorized: true },
  { method: 'POST', resource: '/v1/refunds', handler: 'refunds', authorized: true, bodySchema: 'RefundRequest' },
  { method: 'POST', resource: '/v1/subscriptions', handler: 'subscriptions', authorized: true, bodySchema: 'SubscriptionRequest' },
  { method: 'GET', resource: '/v1/subscriptions', handler: 'subscriptions', authorized: true },
  { method: 'POST', resource: '/v1/subscriptions/{subscriptionId}/cancel', handler: 'subscriptions', authorized: true },
  { method: 'POST', resource: '/v1/billing-portal-sessions', handler: 'subscriptions', authorized: true, bodySchema: 'BillingPortalRequest' },
  {
    method: 'POST',
    resource: '/v1/webhooks/stripe',
    handler: 'webhooks',
    authorized: false,
    serverToServer: true,
    publicBecause: 'Stripe cannot present a Cognito token: the webhook authenticates each request by its Stripe-Signature HMAC, verified on the raw body before anything else.',
  },
  // The documentation every problem response links to (Link rel="describedby"): public text, no data.
  { method: 'GET', resource: '/problems', handler: 'problems', authorized: false, publicBecause: PROBLEM_PAGES_ARE_PUBLIC },
  { method: 'GET', resource: '/problems/{slug}', handler: 'problems', authorized: false, publicBecause: PROBLEM_PAGES_ARE_PUBLIC },
];

/**
 * The resources a browser may call and their methods: each gets a CORS preflight (OPTIONS),
 * deployed and locally. Server-to-server routes (the Stripe webhook) get none.
 */
export function preflightResources(): { resource: string; methods: RouteDefinition['method'][] }[] {
  const methods = new Map<string, RouteDefinition['method'][]>();
  for (const route of routes) if (!route.serverToServer) methods.set(route.resource, [...(methods.get(route.resource) ?? []), route.method]);
  return [...methods].map(([resource, list]) => ({ resource, methods: list }));
}
