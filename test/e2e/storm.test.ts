import { runStorm } from '../../bench/storm';
import { testDynamoDb } from '../support/dynamodb';

/** The CI-sized webhook storm (`npm run storm -- --events 10000` is the full one). */
it('absorbs ~500 webhooks with 30% duplicates, 20% reordered and 5% poison: every order equals Stripe', async () => {
  const report = await runStorm({ events: 500, concurrency: 32, seed: 11, dynamoDb: await testDynamoDb() });
  expect(report.mismatchExamples).toEqual([]);
  expect(report.mismatches).toBe(0);
  expect(report.foreignSessionsNamingOrders).toBeGreaterThan(0);
  expect(report.anomaliesMissed).toBe(0);
  expect(report.subscriptions).toBeGreaterThan(0);
  expect(report.subscriptionMismatches).toBe(0);
  expect(report.poison).toBeGreaterThan(0);
  expect(report.inDeadLetterQueue).toBe(report.poison);
  expect(report.unexpectedInDeadLetterQueue).toBe(0);
  expect(report.poisonMissingFromDeadLetterQueue).toBe(0);
  expect(report.duplicates).toBeGreaterThan(100);
  expect(report.reordered).toBeGreaterThan(50);
  expect(report.delivered).toBeGreaterThanOrEqual(480);
}, 180_000);
