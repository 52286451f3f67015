import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { GENERATED_PATH, renderRequestValidators } from '../../bin/request-validators';
import type { components } from '../../client/openapi-types';
import { parseCheckoutRequest, type CheckoutRequest } from '../../lambdas/domain/checkout';
import { parseRefundRequest, type RefundRequest } from '../../lambdas/domain/refund';

const spec = parse(readFileSync(path.join(__dirname, '..', '..', 'docs', 'openapi.yaml'), 'utf8'));

it('lambdas/domain/request-validators.generated.ts is compiled from docs/openapi.yaml (run `npm run request-validators`)', () => {
  expect(readFileSync(GENERATED_PATH, 'utf8')).toBe(renderRequestValidators());
});

/**
 * The handlers leave `format` to the spec's `pattern`. That is only sound if the pattern accepts
 * nothing its format refuses: checked here against ajv-formats (full mode) and WHATWG URL parsing.
 */
describe('patterns that stand in for a format accept only what the format accepts', () => {
  const ajv = new Ajv2020({ strict: false });
  addFormats(ajv, { mode: 'full' });
  const { WebUrl, EmailAddress } = spec.components.schemas;
  const isUri = ajv.compile({ type: 'string', format: 'uri' });
  const isEmail = ajv.compile({ type: 'string', format: 'email' });

  it('WebUrl', () => {
    fc.assert(
      fc.property(fc.stringMatching(new RegExp(WebUrl.pattern)), (url) => {
        expect(isUri(url)).toBe(true);
        // Whether an xn-- label is valid Punycode no regular expression can say; such a URL that
        // WHATWG refuses reaches Stripe, which refuses it as a stored 422, never a 5xx.
        if (/^[^:]+:\/\/(?:[^/?#]*\.)?xn--/i.test(url)) return;
        expect(['http:', 'https:']).toContain(new URL(url).protocol);
      }),
      { numRuns: 2000 },
    );
  });

  it('EmailAddress', () => {
    fc.assert(fc.property(fc.stringMatching(new RegExp(EmailAddress.pattern)), (email) => expect(isEmail(email)).toBe(true)), { numRuns: 2000 });
  });
});

/** The disagreements found by fuzzing the old hand-written validator against the spec. */
describe('the handler accepts exactly what the spec accepts', () => {
  const pointersOf = (parse: () => unknown) => {
    try {
      parse();
      return [];
    } catch (error) {
      return (error as { errors: { pointer: string }[] }).errors.map((e) => e.pointer);
    }
  };
  const checkout = (patch: Record<string, unknown>) => ({ lineItems: [{ price: 'price_1', quantity: 1 }], successUrl: 'https://shop.example/ok', cancelUrl: 'https://shop.example/cart', ...patch });
  const orderId = 'ord_0123456789abcdef0123456789abcdef';

  it.each([
    ['a 255-character price id', checkout({ lineItems: [{ price: `price_${'a'.repeat(249)}`, quantity: 1 }] })],
    ['an upper-case scheme and a port', checkout({ successUrl: 'HTTPS://shop.example:8443/ok?x=1#top' })],
    ['%-escapes and sub-delimiters', checkout({ successUrl: "https://shop.example/a%20b/(c)!$&'*+,;=:@?q=/?#f" })],
    ['an e-mail with + and a sub-domain', checkout({ customerEmail: 'alice+shop@mail.shop.example' })],
  ])('accepts %s', (_name, body) => expect(pointersOf(() => parseCheckoutRequest(body))).toEqual([]));

  it.each([
    ['a 256-character price id', checkout({ lineItems: [{ price: `price_${'a'.repeat(250)}`, quantity: 1 }] }), '/lineItems/0/price'],
    ['a leading dot in an e-mail', checkout({ customerEmail: '.a@example.com' }), '/customerEmail'],
    ['a quote in an e-mail', checkout({ customerEmail: 'a"b@example.com' }), '/customerEmail'],
    ['a space in a URL', checkout({ successUrl: 'https://shop.example/a b' }), '/successUrl'],
    ['angle brackets in a URL', checkout({ successUrl: 'https://shop.example/<script>' }), '/successUrl'],
    ['a broken %-escape', checkout({ cancelUrl: 'https://shop.example/%zz' }), '/cancelUrl'],
    ['a non-ASCII host', checkout({ cancelUrl: 'https://exämple.com/' }), '/cancelUrl'],
    ['user info', checkout({ cancelUrl: 'https://evil@shop.example/' }), '/cancelUrl'],
    ['another scheme', checkout({ cancelUrl: 'ftp://shop.example/' }), '/cancelUrl'],
  ])('refuses %s', (_name, body, pointer) => expect(pointersOf(() => parseCheckoutRequest(body))).toEqual([pointer]));

  it('takes refund amounts up to 99,999,999 and leaves non-positive ones to the business rule', () => {
    expect(pointersOf(() => parseRefundRequest({ orderId, amount: 99_999_999 }))).toEqual([]);
    expect(pointersOf(() => parseRefundRequest({ orderId, amount: -5 }))).toEqual([]);
    expect(pointersOf(() => parseRefundRequest({ orderId, amount: 100_000_000 }))).toEqual(['/amount']);
  });
});

/** The handlers' request types are the spec's (as generated for the client): a drift does not compile. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const checkoutTypeIsTheSpecs: Same<CheckoutRequest, components['schemas']['CheckoutRequest']> = true;
const refundTypeIsTheSpecs: Same<RefundRequest, components['schemas']['RefundRequest']> = true;
it('types the parsed bodies exactly as the spec does', () => expect([checkoutTypeIsTheSpecs, refundTypeIsTheSpecs]).toEqual([true, true]));
