import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { LocalDynamoDb } from '../../local/dynamodb';

/** Whether a map attribute has entries, marshalled ({ M: … }) or not (the document client marshals later). */
const hasEntries = (value: unknown) => {
  const map = (value as { M?: object } | undefined)?.M ?? value;
  return typeof map === 'object' && map !== null && Object.keys(map).length > 0;
};

/** A promise that never settles: the process died here. */
export const die = () => new Promise<never>(() => undefined);

export interface DynamoDbFault {
  command: 'PutItemCommand' | 'UpdateItemCommand' | 'DeleteItemCommand' | 'GetItemCommand';
  table: string;
  /** Only calls whose UpdateExpression contains this. */
  updateContains?: string;
  /** Only puts whose item has a non-empty map attribute of this name (e.g. the order's `reservations`). */
  putWithEntriesIn?: string;
  /** `throttle`: the call fails; `die-after`: the call succeeds, then the process dies. */
  effect: 'throttle' | 'die-after';
}

/**
 * A DynamoDB client on the given database whose first call matching `fault` misbehaves —
 * faults no local database produces on demand. Later calls pass through.
 */
export function faultyDynamoDb(db: LocalDynamoDb, fault: DynamoDbFault): DynamoDBClient {
  const client = db.newClient();
  let armed = true;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { TableName?: string; UpdateExpression?: string; Item?: Record<string, unknown> };
      const matches =
        armed &&
        context.commandName === fault.command &&
        input.TableName === fault.table &&
        (!fault.updateContains || (input.UpdateExpression ?? '').includes(fault.updateContains)) &&
        (!fault.putWithEntriesIn || hasEntries(input.Item?.[fault.putWithEntriesIn]));
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
