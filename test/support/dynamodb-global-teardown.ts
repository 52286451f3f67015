import type { DynamoDbLocalProcess } from '../../local/dynamodb-local';

const running = globalThis as { sharedDynamoDbLocal?: DynamoDbLocalProcess };

/** Stops the shared JVM (the watchdog in local/dynamodb-local.ts covers a run that never gets here). */
export default async function globalTeardown(): Promise<void> {
  const jvm = running.sharedDynamoDbLocal;
  running.sharedDynamoDbLocal = undefined;
  await jvm?.stop();
}
