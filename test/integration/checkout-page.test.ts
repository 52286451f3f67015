import Stripe from 'stripe';
import { startStripeEmulator, type StripeEmulator } from '../../local/stripe-emulator/server';
import { stripeClientFor } from '../support/harness';

/** The emulator's hosted Checkout page over plain HTTP: what each button does to Stripe's objects. */
let emulator: StripeEmulator;
let stripe: Stripe;
beforeAll(async () => {
  emulator = await startStripeEmulator();
  stripe = stripeClientFor(emulator.url);
});
afterAll(() => emulator.close());

const openSession = async (cancelUrl: string | null = 'https://shop.example/cart?s={CHECKOUT_SESSION_ID}') => {
  const mug = await stripe.prices.create({ currency: 'eur', unit_amount: 1250, product_data: { name: 'Enamel <mug>' } });
  const tee = await stripe.prices.create({ currency: 'eur', unit_amount: 2000, product_data: { name: 'T-shirt' } });
  return stripe.checkout.sessions.create({
    mode: 'payment',
    line_items: [{ price: mug.id, quantity: 2 }, { price: tee.id, quantity: 1 }],
    success_url: 'https://shop.example/thanks?session={CHECKOUT_SESSION_ID}',
    ...(cancelUrl ? { cancel_url: cancelUrl } : {}),
  });
};
const press = (session: Stripe.Checkout.Session, action: string) =>
  fetch(session.url!, { method: 'POST', body: new URLSearchParams({ action }), redirect: 'manual' });
const eventsOf = (sessionId: string) =>
  emulator.state.events.filter((e) => (e.data as { object: { id: string } }).object.id === sessionId).map((e) => e.type);

it('is at the absolute session.url and shows each line item and the total, escaped', async () => {
  const session = await openSession();
  expect(session.url).toBe(`${emulator.url}/c/pay/${session.id}`);
  const page = await (await fetch(session.url!)).text();
  expect(page).toContain('Enamel &#60;mug&#62;');
  expect(page).toMatch(/<td class="n">2<\/td><td class="n">12.50 EUR<\/td><td class="n">25.00 EUR<\/td>/);
  expect(page).toContain('<td class="n" id="total">45.00 EUR</td>');
  for (const id of ['pay', 'decline', 'pay-later', 'cancel']) expect(page).toContain(`id="${id}"`);
});

it('Pay completes the session as the test helper does and redirects to success_url with the id filled in', async () => {
  const session = await openSession();
  const answer = await press(session, 'pay');
  expect(answer.status).toBe(303);
  expect(answer.headers.get('location')).toBe(`https://shop.example/thanks?session=${session.id}`);
  expect(await stripe.checkout.sessions.retrieve(session.id)).toMatchObject({ status: 'complete', payment_status: 'paid' });
  expect(eventsOf(session.id)).toEqual(['checkout.session.completed']);
  expect((await press(session, 'pay')).status).toBe(402); // a second Pay finds the session complete: nothing charged twice
  expect([...emulator.state.charges.values()].filter((c) => c.amount === 4500 && c.payment_intent === (emulator.state.sessions.get(session.id)!.payment_intent))).toHaveLength(1);
});

it('Decline charges nothing and leaves the session open; Cancel redirects to cancel_url and leaves it open', async () => {
  const session = await openSession();
  const charges = emulator.state.charges.size;
  const declined = await press(session, 'decline');
  expect(declined.status).toBe(402);
  expect(await declined.text()).toMatch(/Your card was declined/);
  const cancelled = await press(session, 'cancel');
  expect(cancelled.status).toBe(303);
  expect(cancelled.headers.get('location')).toBe(`https://shop.example/cart?s=${session.id}`);
  expect(await stripe.checkout.sessions.retrieve(session.id)).toMatchObject({ status: 'open', payment_status: 'unpaid', payment_intent: null });
  expect(emulator.state.charges.size).toBe(charges);
  expect(eventsOf(session.id)).toEqual([]);
});

it('Pay later completes unpaid; the page then settles it either way', async () => {
  for (const [action, paymentStatus, lastEvent] of [
    ['async_succeeded', 'paid', 'checkout.session.async_payment_succeeded'],
    ['async_failed', 'unpaid', 'checkout.session.async_payment_failed'],
  ]) {
    const session = await openSession();
    expect((await press(session, 'pay_later')).status).toBe(303);
    expect(await stripe.checkout.sessions.retrieve(session.id)).toMatchObject({ status: 'complete', payment_status: 'unpaid' });
    expect(await (await fetch(session.url!)).text()).toContain('id="async-succeeded"');
    expect((await press(session, action)).status).toBe(303);
    expect(await stripe.checkout.sessions.retrieve(session.id)).toMatchObject({ payment_status: paymentStatus });
    expect(eventsOf(session.id)).toEqual(['checkout.session.completed', lastEvent]);
  }
});

it('a session without cancel_url offers no Cancel; an unknown session is a 404 page', async () => {
  const session = await openSession(null);
  expect(await (await fetch(session.url!)).text()).not.toContain('id="cancel"');
  expect((await fetch(`${emulator.url}/c/pay/cs_test_nope`)).status).toBe(404);
});
