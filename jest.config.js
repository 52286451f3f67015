/** Tests by kind: each jest project can run alone (`npx jest --selectProjects unit`). */
const transform = { '^.+\\.ts$': '<rootDir>/test/support/esbuild-jest-transform.js' };
const project = (name, extra = {}) => ({
  displayName: name,
  testMatch: [`<rootDir>/test/${name}/**/*.test.ts`],
  testEnvironment: 'node',
  transform,
  // client/ is an ES module package (NodeNext wants `./x.js` for `./x.ts`); tests load its sources.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  setupFiles: ['<rootDir>/test/support/quiet-env.ts'],
  ...extra,
});

// One DynamoDB Local JVM for both projects that need a database (test/support/dynamodb.ts).
const sharedDynamoDb = {
  globalSetup: '<rootDir>/test/support/dynamodb-global-setup.ts',
  globalTeardown: '<rootDir>/test/support/dynamodb-global-teardown.ts',
};

module.exports = {
  projects: [
    project('unit'),
    project('integration', { slowTestThreshold: 30, setupFilesAfterEnv: ['<rootDir>/test/support/database-test-timeout.ts'], ...sharedDynamoDb }),
    project('infra'),
    project('e2e', sharedDynamoDb),
    project('browser'),
  ],
};
