/** Tests by kind: each jest project can run alone (`npx jest --selectProjects unit`). */
const transform = { '^.+\\.ts$': '<rootDir>/test/support/esbuild-jest-transform.js' };
const project = (name, extra = {}) => ({
  displayName: name,
  testMatch: [`<rootDir>/test/${name}/**/*.test.ts`],
  testEnvironment: 'node',
  transform,
  setupFiles: ['<rootDir>/test/support/quiet-env.ts'],
  ...extra,
});

module.exports = {
  projects: [
    project('unit'),
    project('integration', { slowTestThreshold: 30 }),
    project('infra'),
    project('e2e'),
    project('browser'),
  ],
};
