/** Which answers a retry with the same Idempotency-Key can change, and how long to wait first. */

export const IN_PROGRESS = 'urn:payments:problem:idempotency-request-in-progress';
/** Another request (another tab, another key) is opening the same subscription checkout: retry, and get that session. */
export const SUBSCRIPTION_CHECKOUT_IN_PROGRESS = 'urn:payments:problem:subscription-checkout-in-progress';

/**
 * What an HTTP answer means for the operation.
 * - `retry`: transient; the same key is safe to send again (408, 425, 429, 5xx, 409 in progress).
 * - `definitive`: the API judged this request; sending it again changes nothing, so the key is retired.
 * - `unjudged`: refused before our API looked at the request (401, 403, a proxy's non-problem page);
 *   the operation is still unresolved.
 */
export type Verdict = 'retry' | 'definitive' | 'unjudged';

export function verdictOf(status: number, problemType: string | undefined): Verdict {
  if (status === 409) return problemType === IN_PROGRESS || problemType === SUBSCRIPTION_CHECKOUT_IN_PROGRESS ? 'retry' : problemType ? 'definitive' : 'unjudged';
  if (status === 408 || status === 425 || status === 429 || status === 500 || status === 502 || status === 503 || status === 504) return 'retry';
  if (status === 401 || status === 403 || status >= 500 || problemType === undefined) return 'unjudged';
  return 'definitive';
}

/**
 * Could the API have acted on a request that got this answer? Throttling (429) and
 * authorization (401, 403) happen in API Gateway before any handler runs.
 */
export function mayHaveRun(status: number): boolean {
  return status !== 429 && status !== 401 && status !== 403;
}

const IMF_FIXDATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const MONTHS = 'JanFebMarAprMayJunJulAugSepOctNovDec';

/**
 * `Retry-After` (RFC 9110 §10.2.3) in milliseconds from `nowMs`: delay-seconds (digits only —
 * not `0x10`, `1e1`, `1.5` or `-1`) or an IMF-fixdate. Anything else is ignored (undefined).
 */
export function retryAfterMs(header: string | null, nowMs: number): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = IMF_FIXDATE.exec(value);
  if (!date) return undefined;
  const [, day, month, year, hours, minutes, seconds] = date;
  const atMs = Date.UTC(Number(year), MONTHS.indexOf(month!) / 3, Number(day), Number(hours), Number(minutes), Number(seconds));
  return Number.isNaN(atMs) ? undefined : Math.max(0, atMs - nowMs);
}

/** Full jitter (AWS Architecture Blog): uniform in [0, min(cap, base·2^(n-1))). */
export function backoffMs(attempt: number, baseDelayMs: number, maxDelayMs: number, random: () => number): number {
  return random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
}
