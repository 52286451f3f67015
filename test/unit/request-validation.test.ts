import { parseCheckoutRequest } from '../../lambdas/domain/checkout';
import { parseRefundRequest } from '../../lambdas/domain/refund';
import { RequestValidationError } from '../../lambdas/domain/validation';

const pointers = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return (error as RequestValidationError).errors.map((e) => e.pointer).sort();
  }
  return [];
};
const valid = { lineItems: [{ price: 'price_123', quantity: 1 }], successUrl: 'https://a.example/s', cancelUrl: 'https://a.example/c' };

describe('parseCheckoutRequest', () => {
  it('returns exactly the known fields', () => {
    expect(parseCheckoutRequest({ ...valid, customerEmail: 'a@b.example' })).toEqual({ ...valid, customerEmail: 'a@b.example' });
  });

  it.each([
    [null, ['']],
    [[], ['']],
    ['text', ['']],
    [{}, ['/cancelUrl', '/lineItems', '/successUrl']],
    [{ ...valid, amount: 1 }, ['/amount']],
    [{ ...valid, lineItems: [] }, ['/lineItems']],
    [{ ...valid, lineItems: Array.from({ length: 101 }, () => valid.lineItems[0]) }, ['/lineItems']],
    [{ ...valid, lineItems: [{ price: 'price_1', quantity: 1.5 }] }, ['/lineItems/0/quantity']],
    [{ ...valid, lineItems: [{ price: 'price_1', quantity: '1' }] }, ['/lineItems/0/quantity']],
    [{ ...valid, lineItems: [{ price: 'price_1', quantity: 1, unit_amount: 1 }] }, ['/lineItems/0/unit_amount']],
    [{ ...valid, lineItems: ['price_1'] }, ['/lineItems/0']],
    [{ ...valid, successUrl: 'javascript:alert(1)' }, ['/successUrl']],
    [{ ...valid, customerEmail: 'not an email' }, ['/customerEmail']],
    [{ ...valid, 'a/b~c': 1 }, ['/a~1b~0c']],
  ])('rejects %j at the right pointers', (body, expected) => expect(pointers(() => parseCheckoutRequest(body))).toEqual(expected));
});

describe('parseRefundRequest', () => {
  const orderId = 'ord_0123456789abcdef0123456789abcdef';
  it('accepts an order id alone, or with an amount and a reason', () => {
    expect(parseRefundRequest({ orderId })).toEqual({ orderId });
    expect(parseRefundRequest({ orderId, amount: 100, reason: 'duplicate' })).toEqual({ orderId, amount: 100, reason: 'duplicate' });
  });

  it('leaves non-positive amounts to the business rule (a stored 422), not the schema', () => {
    expect(parseRefundRequest({ orderId, amount: 0 })).toEqual({ orderId, amount: 0 });
  });

  it.each([
    [{ orderId: 'ord_x' }, ['/orderId']],
    [{ orderId, amount: '100' }, ['/amount']],
    [{ orderId, amount: 1e20 }, ['/amount']],
    [{ orderId, reason: 'changed_mind' }, ['/reason']],
    [{ orderId, currency: 'eur' }, ['/currency']],
  ])('rejects %j', (body, expected) => expect(pointers(() => parseRefundRequest(body))).toEqual(expected));
});

describe('the 400 names each field once, in words', () => {
  const errorsOf = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      return (error as RequestValidationError).errors;
    }
    throw new Error('expected a validation error');
  };

  it('says what is wrong with each field', () => {
    expect(errorsOf(() => parseCheckoutRequest({ lineItems: [{ price: 'price_1', quantity: 0 }], successUrl: 'ftp://a.example/', amount: 5 }))).toEqual([
      { pointer: '/cancelUrl', detail: 'is required' },
      { pointer: '/amount', detail: 'is not a known field' },
      { pointer: '/lineItems/0/quantity', detail: 'must be >= 1' },
      { pointer: '/successUrl', detail: expect.stringMatching(/^must be an absolute http\(s\) URL/) },
    ]);
  });

  it('joins the failures of one field and stops at 50 fields', () => {
    const [price] = errorsOf(() => parseCheckoutRequest({ ...valid, lineItems: [{ price: `x${'a'.repeat(300)}`, quantity: 1 }] }));
    expect(price).toEqual({ pointer: '/lineItems/0/price', detail: expect.stringMatching(/must NOT have more than 255 characters; must match pattern/) });
    const many = errorsOf(() => parseCheckoutRequest({ ...valid, lineItems: Array.from({ length: 300 }, () => ({ price: 'bad', quantity: 1 })) }));
    expect(many).toHaveLength(50);
    expect(many[0]).toEqual({ pointer: '/lineItems', detail: 'must NOT have more than 100 items' });
  });
});
