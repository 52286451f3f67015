import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import { LOCAL_CREDENTIALS } from '../../local/dynamodb';
import { lambdaContext } from '../../local/lambda-context';
import type { CallResult } from './harness';

/** A promise that never settles: the process died here. */
export const die = () => new Promise<never>(() => undefined);

export interface DynamoDbFault {
  command: 'PutItemCommand' | 'UpdateItemCommand' | 'DeleteItemCommand' | 'GetItemCommand';
  table: string;
  /** Only calls whose UpdateExpression contains this. */
  updateContains?: string;
  /** `throttle`: the call fails; `die-after`: the call succeeds, then the process dies. */
  effect: 'throttle' | 'die-after';
}

/**
 * A DynamoDB client on the given endpoint whose first call matching `fault` misbehaves —
 * faults dynalite cannot produce on demand. Later calls pass through.
 */
export function faultyDynamoDb(endpoint: string, fault: DynamoDbFault): DynamoDBClient {
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS, maxAttempts: 1 });
  let armed = true;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { TableName?: string; UpdateExpression?: string };
      const matches =
        armed &&
        context.commandName === fault.command &&
        input.TableName === fault.table &&
        (!fault.updateContains || (input.UpdateExpression ?? '').includes(fault.updateContains));
      if (!matches) return next(args);
      armed = false;
      if (fault.effect === 'throttle') {
        throw Object.assign(new Error('Rate of requests exceeds the allowed throughput.'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });
      }
      await next(args);
      return die();
    },
    { step: 'initialize', name: 'injectedFault' },
  );
  return client;
}

export interface RetryReport {
  result: CallResult;
  attempts: number;
  statuses: (number | 'timeout')[];
}

/**
 * Calls like a careful client: the same request (same Idempotency-Key) until a final answer,
 * giving up on an attempt after `clientTimeoutMs` (a dead server never answers), waiting
 * Retry-After on 409/429/5xx, exponential backoff on timeouts. Each attempt is a new Lambda
 * invocation with its own deadline, so a dead one's lock expires after `invocationMs`.
 */
export async function callLikeAClient(
  attempt: (context: Context) => Promise<CallResult>,
  { invocationMs = 400, clientTimeoutMs = 600, maxAttempts = 8 } = {},
): Promise<RetryReport> {
  const statuses: RetryReport['statuses'] = [];
  for (let n = 1; n <= maxAttempts; n++) {
    const timedOut = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), clientTimeoutMs));
    const outcome = await Promise.race([attempt(lambdaContext('fault-injection', invocationMs)), timedOut]);
    if (outcome === 'timeout') {
      statuses.push('timeout');
      await sleep(100 * 2 ** (n - 1));
      continue;
    }
    statuses.push(outcome.status);
    if ([409, 429, 500, 502, 503].includes(outcome.status)) {
      await sleep(Number(outcome.headers['retry-after'] ?? 1) * 1000);
      continue;
    }
    return { result: outcome, attempts: n, statuses };
  }
  throw new Error(`No final answer after ${maxAttempts} attempts: ${statuses.join(', ')}`);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
