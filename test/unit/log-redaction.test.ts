import { redactLogValue } from '../../lambdas/shared/observability';

/** The replacer every log line passes through (the e2e log-redaction test runs the whole flow). */
it.each([
  ['a Stripe idempotency key we derive', `{"idempotency-key":"checkout-v1-${'ab12'.repeat(16)}"}`, /checkout-v1-\[redacted\]/],
  ['a refund key with its retry suffix', `refund-v1-${'0f'.repeat(32)}-r2`, /^refund-v1-\[redacted\]$/],
  ['an API key', 'Invalid API Key provided: sk_live_51Habc123', /sk_live_\[redacted\]/],
  ['a signing secret', 'whsec_abcDEF123', /^whsec_\[redacted\]$/],
])('redacts %s', (_what, text, expected) => {
  const redacted = redactLogValue('message', text) as string;
  expect(redacted).toMatch(expected);
  expect(redacted).not.toMatch(/(checkout|refund)-v1-[0-9a-f]{8}|sk_live_5|whsec_a/);
});

it('leaves identifiers and non-strings alone', () => {
  expect(redactLogValue('orderId', 'ord_0123456789abcdef0123456789abcdef')).toBe('ord_0123456789abcdef0123456789abcdef');
  expect(redactLogValue('count', 3)).toBe(3);
});
