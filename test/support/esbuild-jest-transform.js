// Jest transform: TypeScript → CommonJS with esbuild (already a dependency for bundling).
// Type checking is `tsc -p .`, run by `npm test` before jest.
const { createHash } = require('node:crypto');
const { readFileSync } = require('node:fs');
const { transformSync, version } = require('esbuild');

const options = {
  loader: 'ts',
  format: 'cjs',
  target: 'node20',
  // Jest's CommonJS runtime cannot load native import(); let esbuild turn it into require().
  supported: { 'dynamic-import': false },
  sourcemap: 'external',
  sourcesContent: false,
};
const transformerHash = createHash('sha256').update(readFileSync(__filename)).update(version).digest('hex');

module.exports = {
  process(source, filename) {
    const { code, map } = transformSync(source, { ...options, sourcefile: filename });
    return { code, map };
  },
  getCacheKey(source, filename) {
    return createHash('sha256').update(transformerHash).update(filename).update(source).digest('hex');
  },
};
