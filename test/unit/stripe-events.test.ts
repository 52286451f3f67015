import { applyStripeEvent, HANDLED_EVENT_TYPES, parseStripeEvent, type OrderEventStore } from '../../lambdas/domain/stripe-events';
import { PoisonMessageError } from '../../lambdas/domain/errors';

/** A store that records which transition each event asked for. */
function recordingStore() {
  const calls: string[] = [];
  const record = (name: string) => async () => {
    calls.push(name);
    return 'applied' as const;
  };
  const store: OrderEventStore = {
    findOrderIdByPaymentIntent: async () => 'ord_from_index',
    recordCheckoutCompleted: record('recordCheckoutCompleted'),
    settlePending: record('settlePending'),
    raiseRefundedTotal: record('raiseRefundedTotal'),
    recordRefundOutcome: record('recordRefundOutcome'),
    flagDisputed: record('flagDisputed'),
  };
  return { store, calls };
}

const ours = { metadata: { orderId: 'ord_1', refundId: 'rfd_1' }, client_reference_id: 'ord_1', payment_intent: 'pi_1', payment_status: 'paid', amount_total: 100, currency: 'eur', amount_refunded: 10, status: 'succeeded', id: 'x_1' };
const event = (type: string, object: Record<string, unknown> = ours) => ({ id: 'evt_1', type, created: 1, data: { object } });

// HANDLED_EVENT_TYPES is what the README tells deployers to subscribe to: it must match the code.
it.each(HANDLED_EVENT_TYPES)('%s changes an order through exactly one store transition', async (type) => {
  const { store, calls } = recordingStore();
  const { outcome } = await applyStripeEvent(event(type), store);
  expect(outcome).toBe('applied');
  expect(calls).toHaveLength(1);
});

it('acknowledges other event types without touching any order', async () => {
  const { store, calls } = recordingStore();
  expect(await applyStripeEvent(event('customer.created'), store)).toEqual({ outcome: 'ignored' });
  expect(calls).toEqual([]);
});

it('ignores sessions and refunds this backend did not create', async () => {
  const { store, calls } = recordingStore();
  expect((await applyStripeEvent(event('checkout.session.completed', { id: 'cs_1' }), store)).outcome).toBe('ignored');
  expect((await applyStripeEvent(event('refund.created', { id: 're_1', payment_intent: 'pi_1' }), store)).outcome).toBe('ignored');
  expect(calls).toEqual([]);
});

it.each(['not json', '{}', '{"id":"x","type":"t","created":1,"data":{"object":{}}}', '{"id":"evt_1","type":"t","created":"1","data":{"object":{}}}'])(
  'refuses %s as a poison message',
  (body) => expect(() => parseStripeEvent(body)).toThrow(PoisonMessageError),
);
