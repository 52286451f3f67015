import { contractViolations, expectResponseInSpec } from '../support/contract';

/** The response check every integration and e2e test relies on must itself refuse what the spec does not say. */
const json = { 'Content-Type': 'application/json' };
const problem = (type: string, status?: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ type: `urn:payments:problem:${type}`, title: 'A title', ...(status ? { status } : {}), ...extra });
/** The headers of a problem answer, with the Link to the page of the type in `body`. */
const linked = (body: string, headers: Record<string, string> = {}) => ({
  'Content-Type': 'application/problem+json',
  Link: `<https://abc.execute-api.eu-west-1.amazonaws.com/dev/problems/${JSON.parse(body).type.split(':').pop()}>; rel="describedby"`,
  ...headers,
});
const refund = { refundId: 'rfd_0123456789abcdef0123456789abcdef', orderId: 'ord_0123456789abcdef0123456789abcdef', amount: 100, currency: 'eur', status: 'pending', stripeRefundId: 're_1' };

it.each([
  ['a created refund', 'POST', '/v1/refunds', 201, json, JSON.stringify(refund)],
  ['a replayed business 409', 'POST', '/v1/refunds', 409, { 'Idempotent-Replayed': 'true' }, problem('order-not-refundable', 409, { orderStatus: 'pending' })],
  ['an in-progress 409 with Retry-After', 'POST', '/v1/checkouts', 409, { 'Retry-After': '1' }, problem('idempotency-request-in-progress', 409)],
  ["API Gateway's 502 (no status member)", 'POST', '/v1/checkouts', 502, { 'Retry-After': '1' }, problem('gateway-error')],
  ['a validation 400 with pointers', 'POST', '/v1/checkouts', 400, {}, problem('validation', 400, { errors: [{ pointer: '/successUrl', detail: 'is required' }] })],
  ['an unknown route', 'DELETE', '/v1/nope', 404, {}, problem('route-not-found', 404)],
  ['a problem type page', 'GET', '/problems/idempotency-key-reused', 200, { 'Content-Type': 'text/html; charset=utf-8' }, '<!doctype html>'],
])('accepts %s', async (_name, method, path, status, headers, bodyText) => {
  const all = 'Content-Type' in headers ? headers : linked(bodyText, headers);
  expect(await contractViolations(method, path, { status, headers: all, bodyText })).toEqual([]);
});

it.each([
  ['an unlisted status', 'POST', '/v1/refunds', 418, linked(problem('validation', 400, { errors: [] })), problem('validation', 400, { errors: [] }), /status code/],
  ['a problem type the status does not list', 'POST', '/v1/refunds', 409, linked(problem('validation', 409)), problem('validation', 409), /problem type "urn:payments:problem:validation" is not documented for this status/],
  ['a missing required Retry-After', 'POST', '/v1/refunds', 503, linked(problem('storage-unavailable', 503)), problem('storage-unavailable', 503), /retry-after/],
  ['a Retry-After that is not a number', 'GET', '/v1/orders/ord_0123456789abcdef0123456789abcdef', 429, linked(problem('throttled', 429), { 'Retry-After': 'soon' }), problem('throttled', 429), /retry-after must be integer/],
  ['a problem sent as application/json', 'POST', '/v1/checkouts', 400, json, problem('malformed-json', 400), /Content-Type is "application\/json", the spec says application\/problem\+json/],
  ['a validation 400 without pointers', 'POST', '/v1/checkouts', 400, linked(problem('validation', 400)), problem('validation', 400), /required property 'errors'/],
  ['a problem without Link', 'POST', '/v1/checkouts', 400, { 'Content-Type': 'application/problem+json' }, problem('malformed-json', 400), /link/i],
  ['a Link that is not describedby', 'POST', '/v1/checkouts', 400, { 'Content-Type': 'application/problem+json', Link: '<https://x.example/problems/malformed-json>; rel="help"' }, problem('malformed-json', 400), /link/i],
  ['a Link to the page of another type', 'POST', '/v1/checkouts', 400, { 'Content-Type': 'application/problem+json', Link: '<https://x.example/problems/validation>; rel="describedby"' }, problem('malformed-json', 400), /Link names .*validation.*malformed-json/],
  ['a refund with an unknown status', 'POST', '/v1/refunds', 201, json, JSON.stringify({ ...refund, status: 'weird' }), /body.status/],
  ['an order missing fields', 'GET', '/v1/orders/ord_0123456789abcdef0123456789abcdef', 200, json, JSON.stringify({ orderId: 'x' }), /required property 'amountTotal'/],
  ['a body that is not JSON', 'GET', '/v1/orders/ord_0123456789abcdef0123456789abcdef', 200, json, '{', /not the JSON/],
])('refuses %s', async (_name, method, path, status, headers, bodyText, message) => {
  const violations = await contractViolations(method, path, { status, headers, bodyText });
  expect(violations.join('\n')).toMatch(message);
  await expect(expectResponseInSpec(method, path, { status, headers, bodyText })).rejects.toThrow(/Response not described by docs\/openapi.yaml/);
});
