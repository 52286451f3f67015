import type { EventOutcome } from '../lambdas/domain/stripe-events';
import type { RequestLogEntry } from './api-gateway';

/**
 * What the `npm start` terminal shows: one line per API request and one per processed Stripe
 * event, in words (`--json` keeps the handlers' raw Powertools lines and adds requests as JSON).
 * The handlers log JSON to stdout as in Lambda; this reads those lines back and rewrites them.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

const rank = (level: string) => LOG_LEVELS.indexOf(level.toLowerCase() as LogLevel);
const clock = (date = new Date()) => date.toISOString().slice(11, 19);

/** `urn:payments:problem:refund-exceeds-balance` → "refund exceeds balance". */
const problemWords = (type: string | undefined) => (type ? type.split(':').pop()!.replace(/-/g, ' ') : undefined);

export function requestLine(entry: RequestLogEntry, at = new Date()): string {
  const { status } = entry;
  const outcome = entry.replayed
    ? 'replayed the stored answer (same Idempotency-Key)'
    : status < 300
      ? status === 201 ? 'created' : 'ok'
      : status === 409 && entry.problemType?.endsWith('in-progress')
        ? 'refused: the same request is still running (client retries)'
        : status < 500
          ? `refused: ${problemWords(entry.problemType) ?? 'client error'}`
          : `failed: ${problemWords(entry.problemType) ?? 'server error'} (the client may retry with the same key)`;
  return `${clock(at)} ${entry.method.padEnd(4)} ${entry.path}  ${status} ${outcome}  ${entry.ms} ms`;
}

/** What an event processor outcome means for the order, in plain words. */
const EVENT_OUTCOMES: Record<EventOutcome, string> = {
  applied: 'applied to the order',
  stale: 'nothing to change: the order already reflects this or a later event',
  ignored: 'ignored: an event type we do not act on',
  foreign: 'foreign: not about anything this backend created; acknowledged, nothing changed',
  anomaly: 'ANOMALY: about our order but contradicting it; recorded on the order, not applied (see npm run reconcile)',
};

/** A handler's Powertools line rewritten, or undefined when it should not be shown. */
export function handlerLine(record: Record<string, unknown>, level: LogLevel): string | undefined {
  const recordLevel = String(record.level ?? 'INFO').toLowerCase();
  if (rank(recordLevel) < rank(level)) return undefined;
  const at = typeof record.timestamp === 'string' ? new Date(record.timestamp) : new Date();
  const event = `${record.stripeEventType ?? 'event'} ${record.stripeEventId ?? ''}`.trim();
  const order = record.orderId ? ` order ${record.orderId}:` : '';
  if (record.message === 'Stripe event handled') {
    const outcome = record.duplicate ? 'duplicate delivery: already handled, nothing done' : (EVENT_OUTCOMES[record.outcome as EventOutcome] ?? String(record.outcome));
    const reason = record.reason && !record.duplicate && record.outcome !== 'applied' ? ` (${String(record.reason)})` : '';
    return `${clock(at)} EVENT ${event} →${order} ${outcome}${reason}  ${record.ms ?? '?'} ms`;
  }
  if (record.message === 'Stripe event failed; SQS will retry it') {
    const error = record.error as { message?: string } | undefined;
    return `${clock(at)} EVENT ${event} → not applied (receive ${record.receiveCount ?? '?'}; SQS retries it, then the DLQ): ${error?.message ?? 'error'}`;
  }
  // Other informational lines repeat what the request line says; shown from --log-level debug.
  if (recordLevel === 'info' && level !== 'debug') return undefined;
  const { level: _level, message, timestamp: _t, service: _s, xray_trace_id: _x, sampling_rate: _r, ...rest } = record;
  const details = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
  return `${clock(at)} ${recordLevel.toUpperCase()} ${message}${details ? `  ${details}` : ''}`;
}

/**
 * Rewrites the handlers' JSON lines on stdout (Powertools writes them there, as in Lambda).
 * Returns the function that logs one request.
 */
export function installTerminalLog(options: { level: LogLevel; json: boolean; stream?: NodeJS.WriteStream }): (entry: RequestLogEntry) => void {
  const stream = options.stream ?? process.stdout;
  const write = stream.write.bind(stream) as (chunk: string) => boolean;
  if (options.json) {
    return (entry) => {
      if (rank('info') >= rank(options.level)) write(`${JSON.stringify({ level: 'INFO', message: 'API request', timestamp: new Date().toISOString(), ...entry })}\n`);
    };
  }
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    if (!text.startsWith('{')) return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
    const lines = text.split('\n').filter(Boolean).map((line) => {
      try {
        const record = JSON.parse(line) as Record<string, unknown>;
        return typeof record.level === 'string' && 'message' in record ? handlerLine(record, options.level) : line;
      } catch {
        return line;
      }
    });
    const shown = lines.filter((line): line is string => line !== undefined);
    const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    if (shown.length === 0) {
      callback?.();
      return true;
    }
    return (write as (...args: unknown[]) => boolean)(`${shown.join('\n')}\n`, ...rest);
  }) as typeof stream.write;
  return (entry) => {
    if (rank('info') >= rank(options.level)) write(`${requestLine(entry)}\n`);
  };
}
