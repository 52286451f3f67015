import { metadataOf, missing, objectParam, str, type ApiRequest, type EmulatorContext, type Route } from './api';
import * as build from './stripe-objects';

/**
 * Payment Links: sessions opened by anyone holding the URL. Their `client_reference_id` comes
 * from the `?client_reference_id=` URL parameter, i.e. the customer chooses it; their metadata
 * is the link's, never ours.
 */
export function paymentLinkRoutes(ctx: EmulatorContext): Route[] {
  const { state } = ctx;

  /** POST /v1/payment_links: line_items[i][price|quantity] (required), metadata, payment_intent_data[metadata]. */
  const create = (request: ApiRequest) => {
    const { params } = request;
    const lineItems = ctx.priceLineItems(params.line_items);
    const link = build.paymentLink({
      currency: lineItems.currency,
      lineItems: lineItems.items,
      metadata: metadataOf(params.metadata),
      intentMetadata: metadataOf(objectParam(params.payment_intent_data)?.metadata),
      urlBase: ctx.baseUrl(),
    });
    state.paymentLinks.set(link.id, { link, lineItems });
    return link;
  };

  const find = (id: string) => {
    const found = state.paymentLinks.get(id);
    if (!found) throw missing('payment_link', id);
    return found;
  };

  /**
   * Test helper: a customer opens the link (optionally with `?client_reference_id=…` and an
   * email): an open Checkout Session with `payment_link` set, the link's metadata, none of ours.
   * Pay it with /v1/test_helpers/checkout/sessions/{id}/complete.
   */
  const checkout = (request: ApiRequest, id: string) => {
    const { link, lineItems } = find(id);
    return ctx.openSession({
      lineItems,
      successUrl: null,
      cancelUrl: null,
      clientReferenceId: str(request.params.client_reference_id) ?? null,
      customerEmail: str(request.params.customer_email) ?? null,
      metadata: link.metadata as build.Metadata,
      intentMetadata: (link.payment_intent_data as { metadata: build.Metadata }).metadata,
      paymentLinkId: link.id,
    }, request);
  };

  return [
    { method: 'POST', pattern: /^\/v1\/payment_links$/, handle: create },
    { method: 'GET', pattern: /^\/v1\/payment_links\/([^/]+)$/, handle: (_, m) => find(m[1]).link },
    { method: 'POST', pattern: /^\/v1\/test_helpers\/payment_links\/([^/]+)\/checkout$/, handle: (r, m) => checkout(r, m[1]) },
  ];
}
