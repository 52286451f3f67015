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
  /**
   * Orders looked up at Stripe per run at most; the rest wait for the next run. Abandoned carts
   * stay due until Stripe expires their session (24 h), so without a cap every run would read
   * all of them. @default 200
   */
  maxChecksPerRun?: number;
  /** Shuffles each run's work list, so a budget or a 429 never starves the same orders. @default Math.random */
  random?: () => number;
  now?: () => Date;
}

export interface RecoveryReport {
  /** Reservations and sessions looked up at Stripe in this run. */
  checked: number;
  sessionsSynced: number;
  reservationsRecorded: number;
  reservationsReleased: number;
  /** Stripe was unavailable or rate limiting: the rest waits for the next run. */
  stoppedEarly: boolean;
  /** Due and old enough, but beyond this run's budget (or after Stripe stopped it): left for the next run. */
  deferred: number;
  /** Checks that failed for a reason of their own (logged; metric RecoveryChecksFailed): the others still ran. */
  failed: number;
}

/** Fisher–Yates, so every order has the same chance to come first in a run. */
function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const result = [...items];
  for (let i = result.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [result[i], result[j]] = [result[j]!, result[i]!];
  }
  return result;
}

/**
 * The scheduled recovery function (every 5 minutes deployed, every minute under `npm start`).
 * Its work list is the sparse `byRecoveryDue` index: orders whose session is still pending, or
 * with a refund reservation whose Stripe outcome is unknown. For each, it asks Stripe, never a
 * 24-hour idempotency key: a session is brought up to date with the same rule the processor
 * uses; a reservation whose refund Stripe holds (matched on metadata.refundId) is recorded, and
 * one Stripe never made is released so its amount is refundable again.
 *
 * Pacing: each run checks at most `maxChecksPerRun` orders, reservations before sessions (held
 * money matters more than abandoned carts), each group in a fresh random order. A run stopped
 * by the budget or by a 429 leaves the rest for the next run, which starts somewhere else: no
 * fixed head of the list can starve the orders behind it.
 */
export function createRecovery(deps: RecoveryDeps) {
  const now = deps.now ?? (() => new Date());
  const orders = new DynamoDbOrderStore(deps.dynamoDb, deps.ordersTableName, now);
  const graceMs = (deps.graceSeconds ?? 600) * 1000;
  const maxChecks = deps.maxChecksPerRun ?? 200;
  const random = deps.random ?? Math.random;

  return async (): Promise<RecoveryReport> => {
    const report: RecoveryReport = { checked: 0, sessionsSynced: 0, reservationsRecorded: 0, reservationsReleased: 0, stoppedEarly: false, deferred: 0, failed: 0 };
    const oldEnough = (iso: string) => now().getTime() - Date.parse(iso) >= graceMs;
    const due = [];
    for (const orderId of await orders.ordersDueForRecovery()) {
      const order = await orders.getOrder(orderId);
      if (order) due.push(order);
    }
    const reservations = due.flatMap((order) =>
      Object.values(order.reservations)
        .filter((reservation) => isOutstanding(reservation) && oldEnough(reservation.lastAttemptAt ?? reservation.createdAt))
        .map((reservation) => ({ orderId: order.orderId, refundId: reservation.refundId })),
    );
    const sessions = due.filter((order) => order.paymentStatus === 'pending' && oldEnough(order.createdAt));
    const work = [
      ...shuffled(reservations, random).map((r) => () => resolveReservation(r.orderId, r.refundId)),
      ...shuffled(sessions, random).map((order) => () => syncSession(order.orderId, order.checkoutSessionId)),
    ];
    let done = 0;
    try {
      for (const check of work.slice(0, maxChecks)) {
        let outcome;
        try {
          outcome = await check();
        } catch (error) {
          // Stripe unavailable or rate limiting: stop the run (below). Anything else concerns this
          // one order (a definitive refusal, a corrupt item): say so and go on with the others.
          if (error instanceof PaymentProviderUnavailableError) throw error;
          report.failed++;
          logger.error('Recovery check failed; the next run tries again', { error: error as Error });
        }
        if (outcome === 'recorded') report.reservationsRecorded++;
        if (outcome === 'released') report.reservationsReleased++;
        if (outcome === 'synced') report.sessionsSynced++;
        done++;
      }
    } catch (error) {
      if (!(error instanceof PaymentProviderUnavailableError)) throw error;
      report.stoppedEarly = true;
      logger.warn('Stripe unavailable; recovery continues on the next run', { error: error.message });
    }
    report.checked = done;
    report.deferred = work.length - done;
    metrics.addMetric('RecoveryReservationsReleased', MetricUnit.Count, report.reservationsReleased);
    metrics.addMetric('RecoveryReservationsRecorded', MetricUnit.Count, report.reservationsRecorded);
    metrics.addMetric('RecoverySessionsSynced', MetricUnit.Count, report.sessionsSynced);
    metrics.addMetric('RecoveryChecksFailed', MetricUnit.Count, report.failed);
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    logger.info('Recovery run finished', { ...report });
    return report;
  };

  async function syncSession(orderId: string, checkoutSessionId: string): Promise<'synced' | 'unchanged'> {
    const session = await deps.gateway.retrieveCheckoutSession(checkoutSessionId);
    if (!session) return 'unchanged';
    const change = await orders.mutate(orderId, (o) => applySessionFact(o, sessionFactOf(session)), null);
    return change.kind === 'applied' ? 'synced' : 'unchanged';
  }

  async function resolveReservation(orderId: string, refundId: string): Promise<'recorded' | 'released' | 'busy'> {
    try {
      const result = await sendReservedRefund(orderId, refundId, { gateway: deps.gateway, orders, now }, { resolveOnly: true, minAgeMs: graceMs });
      return result.kind === 'created' ? 'recorded' : 'released';
    } catch (error) {
      // Released as never executed, or another attempt holds it: either way nothing to record.
      if ((error as Error).name !== 'RefundInProgressError') throw error;
      const after = (await orders.getOrder(orderId))?.reservations[refundId];
      return after?.releasedAt ? 'released' : 'busy';
    }
  }
}
