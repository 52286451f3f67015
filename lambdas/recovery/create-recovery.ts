import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { PaymentProviderUnavailableError } from '../domain/errors';
import { applySessionFact, isOutstanding } from '../domain/ledger';
import type { PaymentGateway } from '../domain/ports';
import { sendReservedRefund } from '../domain/refund';
import { sessionFactOf } from '../domain/stripe-events';
import { logger, metrics } from '../shared/observability';
import { DynamoDbOrderStore } from '../shared/order-store';

export interface RecoveryDeps {
  dynamoDb: DynamoDBClient;
  ordersTableName: string;
  gateway: PaymentGateway;
  /** Leave younger work alone: its own request or webhook may still be on the way. @default 600 */
  graceSeconds?: number;
  now?: () => Date;
}

export interface RecoveryReport {
  ordersChecked: number;
  sessionsSynced: number;
  reservationsRecorded: number;
  reservationsReleased: number;
  /** Stripe was unavailable or rate limiting: the rest waits for the next run. */
  stoppedEarly: boolean;
}

/**
 * The scheduled recovery function (every 5 minutes deployed, every minute under `npm start`).
 * Its work list is the sparse `byRecoveryDue` index: orders whose session is still pending, or
 * with a refund reservation whose Stripe outcome is unknown. For each, it asks Stripe, never a
 * 24-hour idempotency key: a session is brought up to date with the same rule the processor
 * uses; a reservation whose refund Stripe holds (matched on metadata.refundId) is recorded, and
 * one Stripe never made is released so its amount is refundable again.
 */
export function createRecovery(deps: RecoveryDeps) {
  const now = deps.now ?? (() => new Date());
  const orders = new DynamoDbOrderStore(deps.dynamoDb, deps.ordersTableName, now);
  const graceMs = (deps.graceSeconds ?? 600) * 1000;

  return async (): Promise<RecoveryReport> => {
    const report: RecoveryReport = { ordersChecked: 0, sessionsSynced: 0, reservationsRecorded: 0, reservationsReleased: 0, stoppedEarly: false };
    const oldEnough = (iso: string) => now().getTime() - Date.parse(iso) >= graceMs;
    try {
      const due = [];
      for (const orderId of await orders.ordersDueForRecovery()) {
        const order = await orders.getOrder(orderId);
        if (order) due.push(order);
      }
      report.ordersChecked = due.length;
      // Reservations first: held money matters more than abandoned carts when Stripe rate limits us.
      for (const order of due) {
        for (const reservation of Object.values(order.reservations)) {
          if (!isOutstanding(reservation) || !oldEnough(reservation.lastAttemptAt ?? reservation.createdAt)) continue;
          const { outcome } = await resolveReservation(order.orderId, reservation.refundId);
          if (outcome === 'recorded') report.reservationsRecorded++;
          if (outcome === 'released') report.reservationsReleased++;
        }
      }
      for (const order of due) {
        if (order.paymentStatus !== 'pending' || !oldEnough(order.createdAt)) continue;
        const session = await deps.gateway.retrieveCheckoutSession(order.checkoutSessionId);
        if (!session) continue;
        const change = await orders.mutate(order.orderId, (o) => applySessionFact(o, sessionFactOf(session)), null);
        if (change.kind === 'applied') report.sessionsSynced++;
      }
    } catch (error) {
      if (!(error instanceof PaymentProviderUnavailableError)) throw error;
      report.stoppedEarly = true;
      logger.warn('Stripe unavailable; recovery continues on the next run', { error: error.message });
    }
    metrics.addMetric('RecoveryReservationsReleased', MetricUnit.Count, report.reservationsReleased);
    metrics.addMetric('RecoveryReservationsRecorded', MetricUnit.Count, report.reservationsRecorded);
    metrics.addMetric('RecoverySessionsSynced', MetricUnit.Count, report.sessionsSynced);
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    logger.info('Recovery run finished', { ...report });
    return report;
  };

  async function resolveReservation(orderId: string, refundId: string): Promise<{ outcome: 'recorded' | 'released' | 'busy' }> {
    try {
      const result = await sendReservedRefund(orderId, refundId, { gateway: deps.gateway, orders, now }, { resolveOnly: true, minAgeMs: graceMs });
      return { outcome: result.kind === 'created' ? 'recorded' : 'released' };
    } catch (error) {
      // Released as never executed, or another attempt holds it: either way nothing to record.
      if ((error as Error).name !== 'RefundInProgressError') throw error;
      const after = (await orders.getOrder(orderId))?.reservations[refundId];
      return { outcome: after?.releasedAt ? 'released' : 'busy' };
    }
  }
}
