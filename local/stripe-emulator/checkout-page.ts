import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatorState } from './server';
import type { StripeObject } from './stripe-objects';

/**
 * The emulator's hosted Checkout page (`session.url`), for a person in a browser: the line items
 * and total, then Pay, Decline, Pay later or Cancel, and back to `success_url`/`cancel_url` with
 * `{CHECKOUT_SESSION_ID}` filled in, as Stripe does. The buttons use the emulator's own test
 * helpers over its API, so a payment made here is the same payment a test makes (same objects,
 * same events, same webhooks).
 */
export interface CheckoutPageDeps {
  state: EmulatorState;
  /** The emulator's base URL (known once it listens). */
  baseUrl: () => string;
}

const PAGE_KEY = 'sk_test_hosted_checkout_page';
const ZERO_DECIMAL = new Set(['bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx', 'vnd', 'vuv', 'xaf', 'xof', 'xpf']);

export const formatAmount = (amountMinor: number, currency: string) =>
  `${(ZERO_DECIMAL.has(currency) ? amountMinor : amountMinor / 100).toFixed(ZERO_DECIMAL.has(currency) ? 0 : 2)} ${currency.toUpperCase()}`;

const escape = (text: unknown) => String(text ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Stripe fills this template variable in the URLs it redirects to. */
export const redirectUrl = (template: string, sessionId: string) => template.split('{CHECKOUT_SESSION_ID}').join(sessionId);

/** Serves GET/POST /c/pay/{session}; answers false for any other path. */
export function createCheckoutPage(deps: CheckoutPageDeps) {
  const helper = async (path: string, params: Record<string, string> = {}) => {
    const response = await fetch(`${deps.baseUrl()}${path}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${PAGE_KEY}`, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params).toString(),
    });
    const body = (await response.json()) as { error?: { message: string } };
    if (!response.ok) throw new Error(body.error?.message ?? `HTTP ${response.status}`);
  };

  const render = (res: ServerResponse, session: StripeObject, notice?: { text: string; kind: 'error' | 'info' }) => {
    const currency = String(session.currency);
    const items = (deps.state.sessionLineItems.get(session.id) ?? []).map(({ price: priceId, quantity }) => {
      const price = deps.state.prices.get(priceId);
      const product = price ? deps.state.products.get(String(price.product)) : undefined;
      const unit = Number(price?.unit_amount ?? 0);
      return `<tr><td>${escape(product?.name ?? priceId)}</td><td class="n">${quantity}</td><td class="n">${formatAmount(unit, currency)}</td><td class="n">${formatAmount(unit * quantity, currency)}</td></tr>`;
    });
    const button = (action: string, label: string, extra = '') => `<button name="action" value="${action}" ${extra}>${label}</button>`;
    const status = String(session.status);
    const paymentStatus = String(session.payment_status);
    let actions: string;
    if (status === 'open') {
      actions = [
        button('pay', 'Pay', 'id="pay" class="primary"'),
        button('decline', 'Decline (card declined)', 'id="decline"'),
        button('pay_later', 'Pay later (bank debit: settles afterwards)', 'id="pay-later"'),
        session.cancel_url ? button('cancel', 'Cancel', 'id="cancel"') : '',
      ].join('\n');
    } else if (status === 'complete' && paymentStatus === 'unpaid') {
      actions = `<p>The payment is <b>processing</b> (an asynchronous method). Decide how it ends:</p>
${button('async_succeeded', 'The payment arrives', 'id="async-succeeded" class="primary"')}
${button('async_failed', 'The payment fails', 'id="async-failed"')}`;
    } else {
      const back = status === 'complete' ? `<a id="continue" href="${escape(redirectUrl(String(session.success_url), session.id))}">Back to the shop</a>` : session.cancel_url ? `<a href="${escape(redirectUrl(String(session.cancel_url), session.id))}">Back to the shop</a>` : '';
      actions = `<p>This Checkout Session is <b>${escape(status)}</b>${status === 'complete' ? ` (payment ${escape(paymentStatus)})` : ''}. ${back}</p>`;
    }
    res.writeHead(notice?.kind === 'error' ? 402 : 200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Checkout — local Stripe emulator</title>
<style>
 body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;color:#1a1f36}
 table{width:100%;border-collapse:collapse;margin:1rem 0} td,th{padding:.35rem;border-bottom:1px solid #e3e8ee;text-align:left} .n{text-align:right}
 tfoot td{font-weight:600} button{display:block;width:100%;margin:.5rem 0;padding:.7rem;font-size:1rem;border:1px solid #c1c9d2;border-radius:6px;background:#fff;cursor:pointer}
 button.primary{background:#635bff;color:#fff;border-color:#635bff} .notice{padding:.6rem;border-radius:6px} .error{background:#fde8e8;color:#a41c1c} .info{background:#e8f0fd}
 .banner{font-size:.8rem;color:#697386}
</style></head><body>
<p class="banner">Local Stripe emulator — test mode. No real card is charged.</p>
<h1>Checkout</h1>
${notice ? `<p id="notice" class="notice ${notice.kind}">${escape(notice.text)}</p>` : ''}
<table><thead><tr><th>Item</th><th class="n">Qty</th><th class="n">Unit</th><th class="n">Amount</th></tr></thead>
<tbody>${items.join('')}</tbody>
<tfoot><tr><td colspan="3">Total</td><td class="n" id="total">${formatAmount(Number(session.amount_total), currency)}</td></tr></tfoot></table>
${session.customer_email ? `<p>Receipt to ${escape(session.customer_email)}</p>` : ''}
<form method="post" id="checkout" data-session="${escape(session.id)}" data-status="${escape(status)}">${actions}</form>
</body></html>`);
  };

  const act = async (res: ServerResponse, session: StripeObject, action: string) => {
    const id = session.id;
    const redirect = (template: string) => {
      res.writeHead(303, { Location: redirectUrl(template, id), 'Cache-Control': 'no-store' });
      res.end();
    };
    switch (action) {
      case 'pay':
        await helper(`/v1/test_helpers/checkout/sessions/${id}/complete`);
        return redirect(String(session.success_url));
      case 'pay_later':
        await helper(`/v1/test_helpers/checkout/sessions/${id}/complete`, { payment_status: 'unpaid' });
        return redirect(String(session.success_url));
      case 'async_succeeded':
      case 'async_failed':
        await helper(`/v1/test_helpers/checkout/sessions/${id}/async_payment`, { outcome: action === 'async_succeeded' ? 'succeeded' : 'failed' });
        return redirect(String(session.success_url));
      case 'decline':
        // As on Stripe's page: the card is refused, nothing is charged, the session stays open.
        return render(res, session, { kind: 'error', text: 'Your card was declined. Try again, pay another way, or cancel.' });
      case 'cancel':
        // Stripe's "back" link leaves the session open (it expires later); the shop decides.
        if (!session.cancel_url) throw new Error('This session has no cancel_url.');
        return redirect(String(session.cancel_url));
      default:
        return render(res, session, { kind: 'error', text: `Unknown action "${action}".` });
    }
  };

  return async (req: IncomingMessage, res: ServerResponse, url: URL, body: string): Promise<boolean> => {
    const match = /^\/c\/pay\/([^/]+)$/.exec(url.pathname);
    if (!match) return false;
    const session = deps.state.sessions.get(match[1]);
    if (!session) {
      res.writeHead(404, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>Not found</title><h1>No such Checkout Session</h1>');
      return true;
    }
    if (req.method === 'GET') {
      render(res, session);
      return true;
    }
    if (req.method !== 'POST') return false;
    try {
      await act(res, session, new URLSearchParams(body).get('action') ?? '');
    } catch (error) {
      render(res, deps.state.sessions.get(session.id)!, { kind: 'error', text: (error as Error).message });
    }
    return true;
  };
}
