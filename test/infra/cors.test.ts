import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { configFromContext } from '../../lib/config';
import { PaymentsStack } from '../../lib/payments-stack';
import { preflightResources, routes } from '../../lib/routes';
import { CORS_ALLOWED_ORIGINS_ENV, gatewayResponseCorsHeaders, preflightHeaders } from '../../lambdas/shared/cors';

/**
 * CORS from the context key corsAllowedOrigins: preflights on every browser route without the
 * authorizer, none on the Stripe webhook, headers on every gateway response, the handlers told
 * the origins, and nothing at all without the key. The local API Gateway answers with the same
 * functions these values are compared with (test/integration/local-api-gateway.test.ts).
 */
function synth(context: Record<string, unknown> = {}) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const stack = new PaymentsStack(app, 'Test', { config: configFromContext(app.node) });
  return { stack, template: Template.fromStack(stack) };
}

const SHOP = 'https://shop.example.com';
const ADMIN = 'https://admin.example.com';

type Resources = Record<string, { Properties: Record<string, any> }>;
/** Every API Gateway resource's full path, by logical id. */
function resourcePaths(template: Template): Map<string, string> {
  const resources = template.findResources('AWS::ApiGateway::Resource') as Resources;
  const paths = new Map<string, string>();
  const pathOf = (id: string): string => {
    const known = paths.get(id);
    if (known !== undefined) return known;
    const { ParentId, PathPart } = resources[id].Properties;
    const parent = ParentId.Ref && resources[ParentId.Ref] ? pathOf(ParentId.Ref) : '';
    const path = `${parent}/${PathPart}`;
    paths.set(id, path);
    return path;
  };
  for (const id of Object.keys(resources)) pathOf(id);
  return paths;
}
function methodsByPath(template: Template): ({ path: string } & Record<string, any>)[] {
  const paths = resourcePaths(template);
  return Object.values(template.findResources('AWS::ApiGateway::Method') as Resources).map((method) => ({
    path: paths.get(method.Properties.ResourceId.Ref) ?? '/',
    ...method.Properties,
  }));
}
/** The header values API Gateway sets on a response (`'…'` literals unquoted). */
function headerParameters(parameters: Record<string, string>, prefix: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(parameters)
      .filter(([key]) => key.startsWith(prefix))
      .map(([key, value]) => [key.slice(prefix.length), /^'.*'$/.test(value) ? value.slice(1, -1) : `<${value}>`]),
  );
}

describe('without corsAllowedOrigins (the default)', () => {
  const { stack, template } = synth();
  it('has no preflight, no CORS header on any gateway response, and tells no function any origin', () => {
    expect(methodsByPath(template).filter((m) => m.HttpMethod === 'OPTIONS')).toEqual([]);
    const responses = Object.values(template.findResources('AWS::ApiGateway::GatewayResponse') as Resources);
    expect(responses.length).toBeGreaterThan(5);
    for (const response of responses) expect(JSON.stringify(response.Properties.ResponseParameters)).not.toMatch(/Access-Control|Vary/);
    for (const fn of Object.values(stack.functions)) expect(JSON.stringify(template.toJSON().Resources[stack.getLogicalId(fn.node.defaultChild as never)])).not.toContain(CORS_ALLOWED_ORIGINS_ENV);
  });
});

describe('with corsAllowedOrigins', () => {
  const { stack, template } = synth({ corsAllowedOrigins: `${SHOP},${ADMIN}` });
  const methods = methodsByPath(template);
  const preflights = methods.filter((m) => m.HttpMethod === 'OPTIONS');
  const environmentOf = (fn: keyof PaymentsStack['functions']) =>
    (template.toJSON().Resources[stack.getLogicalId(stack.functions[fn].node.defaultChild as never)].Properties.Environment?.Variables ?? {}) as Record<string, unknown>;

  it('answers a preflight on every browser route, without an authorizer or a function, with that resource\'s methods', () => {
    const expected = preflightResources();
    expect(expected.map((r) => r.resource).sort()).toEqual([...new Set(routes.filter((r) => r.handler !== 'webhooks').map((r) => r.resource))].sort());
    expect(preflights.map((m) => m.path).sort()).toEqual(expected.map((r) => r.resource).sort());
    for (const { resource, methods: allowed } of expected) {
      const preflight = preflights.find((m) => m.path === resource)!;
      expect(preflight).toMatchObject({ AuthorizationType: 'NONE', ApiKeyRequired: false, Integration: { Type: 'MOCK' } });
      expect(preflight.AuthorizerId).toBeUndefined();
      const [answer] = preflight.Integration.IntegrationResponses;
      expect(answer.StatusCode).toBe('204');
      // What the local API Gateway answers for a listed origin that is the first (static) one.
      expect(headerParameters(answer.ResponseParameters, 'method.response.header.')).toEqual(preflightHeaders([SHOP, ADMIN], SHOP, allowed));
      expect(allowed).toEqual(routes.filter((r) => r.resource === resource).map((r) => r.method));
    }
    expect(preflights.find((m) => m.path === '/v1/subscriptions')!.Integration.IntegrationResponses[0].ResponseParameters['method.response.header.Access-Control-Allow-Methods']).toBe("'POST,GET'");
  });

  it('says exactly what a browser needs, in literal values (not the constants the stack is built from)', () => {
    const answer = preflights.find((m) => m.path === '/v1/checkouts')!.Integration.IntegrationResponses[0].ResponseParameters;
    expect(answer).toMatchObject({
      'method.response.header.Access-Control-Allow-Headers': "'Authorization,Content-Type,Idempotency-Key'",
      'method.response.header.Access-Control-Allow-Methods': "'POST'",
      'method.response.header.Access-Control-Allow-Origin': "'https://shop.example.com'",
      'method.response.header.Access-Control-Max-Age': "'600'",
    });
    const unauthorized = (Object.values(template.findResources('AWS::ApiGateway::GatewayResponse')) as { Properties: Record<string, any> }[]).find((r) => r.Properties.ResponseType === 'UNAUTHORIZED')!;
    expect(unauthorized.Properties.ResponseParameters).toMatchObject({
      'gatewayresponse.header.Access-Control-Allow-Origin': 'method.request.header.Origin',
      'gatewayresponse.header.Access-Control-Expose-Headers': "'Idempotent-Replayed,Retry-After,Link'",
      'gatewayresponse.header.Vary': "'Origin'",
    });
    expect(environmentOf('checkout').CORS_ALLOWED_ORIGINS).toBe('https://shop.example.com,https://admin.example.com');
  });

  it('echoes the second listed origin through the preflight template, and only listed origins', () => {
    const template = preflights[0].Integration.IntegrationResponses[0].ResponseTemplates['application/json'] as string;
    expect(template).toContain(`#if($origin == "${ADMIN}")`);
    expect(template).toContain('#set($context.responseOverride.header.Access-Control-Allow-Origin = $origin)');
    expect(template).not.toContain(SHOP); // the first origin is the static default already
  });

  it('has no preflight on the Stripe webhook: it is called server to server', () => {
    const webhook = routes.find((r) => r.serverToServer)!;
    expect(webhook.handler).toBe('webhooks');
    expect(methods.filter((m) => m.path === webhook.resource).map((m) => m.HttpMethod)).toEqual(['POST']);
  });

  it('puts the CORS headers on every gateway response (401, 403, 404, 413, 415, 429, 4XX, 5XX), echoing the request Origin with several origins', () => {
    const responses = Object.values(template.findResources('AWS::ApiGateway::GatewayResponse') as Resources);
    expect(responses.map((r) => r.Properties.ResponseType).sort()).toEqual(
      ['ACCESS_DENIED', 'DEFAULT_4XX', 'DEFAULT_5XX', 'MISSING_AUTHENTICATION_TOKEN', 'QUOTA_EXCEEDED', 'REQUEST_TOO_LARGE', 'THROTTLED', 'UNAUTHORIZED', 'UNSUPPORTED_MEDIA_TYPE', 'WAF_FILTERED'].sort(),
    );
    for (const response of responses) {
      const headers = headerParameters(response.Properties.ResponseParameters, 'gatewayresponse.header.');
      expect(headers).toMatchObject({ 'Access-Control-Allow-Origin': '<method.request.header.Origin>', 'Access-Control-Expose-Headers': 'Idempotent-Replayed,Retry-After,Link', Vary: 'Origin' });
      expect(headers['Access-Control-Allow-Credentials']).toBeUndefined();
      // The local gateway's headers for a request from some origin: the same.
      expect({ ...headers, 'Access-Control-Allow-Origin': 'https://any.example' }).toMatchObject(gatewayResponseCorsHeaders([SHOP, ADMIN], 'https://any.example'));
    }
    // Retry-After stays on the throttling and 5xx answers, readable now.
    const throttled = responses.find((r) => r.Properties.ResponseType === 'THROTTLED')!;
    expect(throttled.Properties.ResponseParameters['gatewayresponse.header.Retry-After']).toBe("'1'");
  });

  it('with one origin, names it statically on the gateway responses', () => {
    const single = synth({ corsAllowedOrigins: SHOP }).template;
    for (const response of Object.values(single.findResources('AWS::ApiGateway::GatewayResponse') as Resources)) {
      expect(response.Properties.ResponseParameters['gatewayresponse.header.Access-Control-Allow-Origin']).toBe(`'${SHOP}'`);
    }
    expect(gatewayResponseCorsHeaders([SHOP], 'https://other.example')['Access-Control-Allow-Origin']).toBe(SHOP);
    const preflight = methodsByPath(single).find((m) => m.HttpMethod === 'OPTIONS')!;
    expect(preflight.Integration.IntegrationResponses[0].ResponseTemplates).toBeUndefined();
  });

  it('tells the functions behind browser routes the origins, and not the webhook receiver, processor or recovery', () => {
    const environment = environmentOf;
    for (const fn of ['checkout', 'orders', 'refunds', 'subscriptions', 'problems'] as const) expect(environment(fn)[CORS_ALLOWED_ORIGINS_ENV]).toBe(`${SHOP},${ADMIN}`);
    for (const fn of ['webhooks', 'events', 'recovery'] as const) expect(environment(fn)[CORS_ALLOWED_ORIGINS_ENV]).toBeUndefined();
  });
});

describe('corsAllowedOrigins refusals', () => {
  it.each([
    ['*', /"\*" is refused/],
    [`${SHOP},*`, /"\*" is refused/],
    ['null', /"null" is refused/],
    ['https://shop.example.com/', /not an exact origin.*did you mean https:\/\/shop\.example\.com\?/],
    ['https://shop.example.com/app', /not an exact origin/],
    ['https://Shop.Example.com', /did you mean https:\/\/shop\.example\.com\?/],
    ['https://shop.example.com:443', /did you mean https:\/\/shop\.example\.com\?/],
    ['http://shop.example.com', /must use https/],
    ['shop.example.com', /not an origin|not an exact origin/],
    ['https://*.example.com', /wildcards are not supported/],
    [['https://*.example.com'], /wildcards are not supported/],
  ])('refuses %j at synth', (value, message) => {
    expect(() => synth({ corsAllowedOrigins: value })).toThrow(message);
  });

  it('reads an empty cdk.json list as none: no preflight, no CORS header', () => {
    const { template } = synth({ corsAllowedOrigins: [] });
    expect(methodsByPath(template).filter((m) => m.HttpMethod === 'OPTIONS')).toEqual([]);
    expect(JSON.stringify(template.findResources('AWS::ApiGateway::GatewayResponse'))).not.toContain('Access-Control');
  });

  it('accepts a JSON list (cdk.json) and plain http on loopback (a local front end against a dev stack)', () => {
    expect(configFromContext(new App({ context: { corsAllowedOrigins: [SHOP, 'http://localhost:5173'] } }).node).corsAllowedOrigins).toEqual([SHOP, 'http://localhost:5173']);
  });
});
