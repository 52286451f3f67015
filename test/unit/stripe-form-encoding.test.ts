import { decodeStripeForm } from '../../local/stripe-emulator/form-encoding';

// What stripe-node sends for a checkout session (its stringifyRequestData output).
const encoded = [
  'mode=payment',
  'line_items[0][price]=price_1',
  'line_items[0][quantity]=2',
  'line_items[1][price]=price_2',
  'line_items[1][quantity]=1',
  'metadata[orderId]=ord_1',
  'payment_intent_data[metadata][tenantId]=acme%20corp',
  'success_url=https%3A%2F%2Fshop.example%2Fok%3Fa%3D1',
].join('&');

it('decodes bracketed keys into nested objects and indexed arrays', () => {
  expect(decodeStripeForm(encoded)).toEqual({
    mode: 'payment',
    line_items: [{ price: 'price_1', quantity: '2' }, { price: 'price_2', quantity: '1' }],
    metadata: { orderId: 'ord_1' },
    payment_intent_data: { metadata: { tenantId: 'acme corp' } },
    success_url: 'https://shop.example/ok?a=1',
  });
});

it('keeps objects whose keys are not a 0..n sequence as objects', () => {
  expect(decodeStripeForm('metadata[1]=a&metadata[3]=b')).toEqual({ metadata: { '1': 'a', '3': 'b' } });
});

it('appends empty-bracket keys (curl -d "a[]=x"), as Stripe reads them', () => {
  expect(decodeStripeForm('enabled_events[]=refund.created&url=u&enabled_events[]=refund.failed')).toEqual({ enabled_events: ['refund.created', 'refund.failed'], url: 'u' });
});
