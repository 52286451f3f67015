import { chooseDynamoDbBackend } from '../../local/dynamodb';
import type { JavaRuntime } from '../../local/dynamodb-local';

/** DYNAMODB_BACKEND, and what happens without it: the one switch the tests, npm start, bench and storm share. */
const java17: JavaRuntime = { major: 17, versionLine: 'openjdk version "17.0.15" 2025-04-15' };
const java8: JavaRuntime = { major: 8, versionLine: 'openjdk version "1.8.0_402"' };
const noJava = () => undefined;

it('defaults to DynamoDB Local when Java 17+ is on PATH, quietly', () => {
  expect(chooseDynamoDbBackend({}, () => java17)).toEqual({ backend: 'dynamodb-local' });
  expect(chooseDynamoDbBackend({ CI: 'true' }, () => java17)).toEqual({ backend: 'dynamodb-local' });
});

it('falls back to dynalite without Java, with a one-line notice that says why and how to choose', () => {
  for (const java of [noJava, () => java8]) {
    const choice = chooseDynamoDbBackend({}, java);
    expect(choice.backend).toBe('dynalite');
    expect(choice.notice).toMatch(/Java 17 or later/);
    expect(choice.notice).toMatch(/DYNAMODB_BACKEND/);
    expect(choice.notice).not.toContain('\n');
  }
  expect(chooseDynamoDbBackend({}, () => java8).notice).toContain('1.8.0_402');
});

it('refuses the fallback under CI=true: a CI run never passes on dynalite by accident', () => {
  expect(() => chooseDynamoDbBackend({ CI: 'true' }, noJava)).toThrow(/CI=true requires DynamoDB Local.*no `java` on PATH/);
  expect(() => chooseDynamoDbBackend({ CI: 'true' }, () => java8)).toThrow(/CI=true requires DynamoDB Local/);
});

it('honours an explicit choice, and fails loudly when DynamoDB Local is asked for without Java', () => {
  let asked = 0;
  expect(chooseDynamoDbBackend({ DYNAMODB_BACKEND: 'dynalite', CI: 'true' }, () => (asked++, java17))).toEqual({ backend: 'dynalite' });
  expect(asked).toBe(0); // an explicit dynalite does not even look for Java
  expect(chooseDynamoDbBackend({ DYNAMODB_BACKEND: 'dynamodb-local' }, () => java17)).toEqual({ backend: 'dynamodb-local' });
  expect(() => chooseDynamoDbBackend({ DYNAMODB_BACKEND: 'dynamodb-local' }, noJava)).toThrow(/DYNAMODB_BACKEND=dynamodb-local: DynamoDB Local needs Java 17/);
});

it('names the accepted values for anything else', () => {
  expect(() => chooseDynamoDbBackend({ DYNAMODB_BACKEND: 'dynamo' }, () => java17)).toThrow('DYNAMODB_BACKEND must be one of dynamodb-local, dynalite; got "dynamo".');
});
