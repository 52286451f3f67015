import { integer, invalid, metadataOf, oneOf, str, type ApiRequest, type EmulatorContext, type Route } from './api';
import * as build from './stripe-objects';
import type { StripeObject } from './stripe-objects';

/**
 * Disputes as Stripe runs them. A chargeback withdraws the disputed amount at creation
 * (`charge.dispute.created` + `charge.dispute.funds_withdrawn`), makes the charge unrefundable
 * (`charge_disputed`) and ends `won` (funds reinstated) or `lost` (the money stays taken back).
 * An inquiry (`warning_*`) withdraws nothing, leaves the charge refundable, ends `warning_closed`.
 * The charge keeps `disputed: true` for good.
 */
const OPEN = ['needs_response', 'under_review', 'warning_needs_response', 'warning_under_review'];
const isInquiry = (dispute: StripeObject) => String(dispute.status).startsWith('warning_');

/** Stripe refuses refunds of a charge whose dispute is open (chargeback) or lost. */
export function refundBlockedByDispute(ctx: EmulatorContext, charge: StripeObject) {
  const dispute = [...ctx.state.disputes.values()].find((d) => d.charge === charge.id);
  if (dispute && !dispute.is_charge_refundable) {
    throw invalid(`Charge ${charge.id} has been charged back; cannot issue a refund.`, undefined, 'charge_disputed');
  }
}

export function disputeRoutes(ctx: EmulatorContext): Route[] {
  const { state } = ctx;

  const moveFunds = (dispute: StripeObject, amount: number, type: string, request: ApiRequest) => {
    const txn = build.disputeBalanceTransaction({ amount, currency: dispute.currency as string, disputeId: dispute.id, created: request.now });
    (dispute.balance_transactions as StripeObject[]).push(txn);
    ctx.emit(type, dispute, request);
  };

  /** Test helper: the cardholder disputes the payment. Params: amount (default: unrefunded amount), inquiry=true. */
  const open = (request: ApiRequest, paymentIntentId: string) => {
    const disputed = ctx.chargeOfIntent(paymentIntentId, 'payment_intent');
    if ([...state.disputes.values()].some((d) => d.charge === disputed.id)) throw invalid(`Charge ${disputed.id} already has a dispute.`, undefined, 'charge_disputed');
    const disputable = (disputed.amount as number) - (disputed.amount_refunded as number);
    const amountParam = str(request.params.amount);
    const amount = amountParam === undefined ? disputable : integer(amountParam, 'amount', 1);
    if (amount <= 0 || amount > disputable) throw invalid(`Dispute amount must be between 1 and ${disputable}.`, 'amount');
    const inquiry = str(request.params.inquiry) === 'true';
    const created = build.dispute({ amount, currency: disputed.currency as string, chargeId: disputed.id, paymentIntentId, inquiry, created: request.now });
    disputed.disputed = true;
    state.disputes.set(created.id, created);
    ctx.emit('charge.dispute.created', created, request);
    if (!inquiry) moveFunds(created, -amount, 'charge.dispute.funds_withdrawn', request);
    return created;
  };

  const openDispute = (id: string) => {
    const dispute = ctx.get(state.disputes, 'dispute', id);
    if (!OPEN.includes(dispute.status as string)) throw invalid(`This dispute is already closed (${String(dispute.status)}).`, undefined, 'dispute_already_closed');
    return dispute;
  };

  /** Test helper: the network moves the dispute to review. Param: status=under_review (warning_under_review for an inquiry). */
  const update = (request: ApiRequest, id: string) => {
    const dispute = openDispute(id);
    const next = oneOf(request.params, 'status', isInquiry(dispute) ? (['warning_under_review'] as const) : (['under_review'] as const));
    dispute.status = next;
    ctx.emit('charge.dispute.updated', dispute, request);
    return dispute;
  };

  /** Test helper: the network decides. Param: outcome=won|lost (chargeback) or warning_closed (inquiry). */
  const decide = (request: ApiRequest, id: string) => {
    const dispute = openDispute(id);
    const outcome = oneOf(request.params, 'outcome', isInquiry(dispute) ? (['warning_closed'] as const) : (['won', 'lost'] as const));
    close(dispute, outcome, request);
    return dispute;
  };

  const close = (dispute: StripeObject, outcome: 'won' | 'lost' | 'warning_closed', request: ApiRequest) => {
    Object.assign(dispute, { status: outcome, is_charge_refundable: outcome !== 'lost' });
    ctx.emit('charge.dispute.closed', dispute, request);
    if (outcome === 'won') moveFunds(dispute, dispute.amount as number, 'charge.dispute.funds_reinstated', request);
  };

  /** POST /v1/disputes/{id}: metadata and evidence; submit=true sends it for review (Stripe's own API). */
  const edit = (request: ApiRequest, id: string) => {
    const dispute = ctx.get(state.disputes, 'dispute', id);
    const { metadata, evidence, submit } = request.params;
    if (metadata !== undefined) dispute.metadata = { ...(dispute.metadata as object), ...metadataOf(metadata) };
    if (evidence !== undefined || submit === 'true') {
      openDispute(id);
      if (typeof evidence === 'object' && !Array.isArray(evidence)) dispute.evidence = { ...(dispute.evidence as object), ...evidence };
      if (submit === 'true') {
        dispute.status = isInquiry(dispute) ? 'warning_under_review' : 'under_review';
        (dispute.evidence_details as { submission_count: number }).submission_count += 1;
      }
    }
    ctx.emit('charge.dispute.updated', dispute, request);
    return dispute;
  };

  /** POST /v1/disputes/{id}/close: the merchant accepts the dispute (Stripe's own API): lost, or warning_closed for an inquiry. */
  const accept = (request: ApiRequest, id: string) => {
    const dispute = openDispute(id);
    close(dispute, isInquiry(dispute) ? 'warning_closed' : 'lost', request);
    return dispute;
  };

  return [
    {
      method: 'GET', pattern: /^\/v1\/disputes$/,
      handle: (r) => ctx.list([...state.disputes.values()], r, (d) =>
        (!r.query.get('payment_intent') || d.payment_intent === r.query.get('payment_intent')) && (!r.query.get('charge') || d.charge === r.query.get('charge'))),
    },
    { method: 'GET', pattern: /^\/v1\/disputes\/([^/]+)$/, handle: (_, m) => ctx.get(state.disputes, 'dispute', m[1]) },
    { method: 'POST', pattern: /^\/v1\/disputes\/([^/]+)$/, handle: (r, m) => edit(r, m[1]) },
    { method: 'POST', pattern: /^\/v1\/disputes\/([^/]+)\/close$/, handle: (r, m) => accept(r, m[1]) },
    { method: 'POST', pattern: /^\/v1\/test_helpers\/payment_intents\/([^/]+)\/dispute$/, handle: (r, m) => open(r, m[1]) },
    { method: 'POST', pattern: /^\/v1\/test_helpers\/disputes\/([^/]+)\/update$/, handle: (r, m) => update(r, m[1]) },
    { method: 'POST', pattern: /^\/v1\/test_helpers\/disputes\/([^/]+)\/close$/, handle: (r, m) => decide(r, m[1]) },
  ];
}
