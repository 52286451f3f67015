import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { promisify } from 'node:util';

/** Every command-line tool in package.json (dlq has its own tests): --help, bad options, stack down. */
const TOOLS = {
  start: 'local/start.ts',
  token: 'local/token.ts',
  demo: 'local/demo.ts',
  reconcile: 'bin/reconcile.ts',
  storm: 'bench/storm.ts',
  bench: 'bench/run.ts',
};

async function run(file: string, args: string[], env: Record<string, string> = {}) {
  const clean = { ...process.env, STRIPE_SECRET_KEY: '', STRIPE_SECRET_NAME: '', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '', ...env };
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', file, ...args], { env: clean, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
const noStackTrace = (text: string) => expect(text).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);

it.each(Object.entries(TOOLS))('%s --help prints the usage, options with defaults and an example', async (_, file) => {
  const { code, stdout } = await run(file, ['--help']);
  expect(code).toBe(0);
  expect(stdout).toMatch(/^Usage: npm (start|run -?s? ?\w+) --/);
  expect(stdout).toMatch(/^Options:\n/m);
  expect(stdout).toMatch(/-h, --help/);
  expect(stdout).toMatch(/^Examples?:\n {2}\S/m);
}, 90_000);

it.each(Object.entries(TOOLS))('%s answers an unknown option and a stray argument with the usage and exit 2', async (_, file) => {
  for (const args of [['--no-such-option'], ['stray']]) {
    const { code, stdout, stderr } = await run(file, args);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^Usage: /m);
    expect(stdout).toBe('');
    noStackTrace(stderr);
  }
}, 90_000);

it('start, token and storm refuse bad values with exit 2 before doing anything', async () => {
  const answers = await Promise.all([run(TOOLS.start, ['--log-level', 'loud']), run(TOOLS.start, [], { PORT: 'abc' }), run(TOOLS.token, ['--ttl', '-5']), run(TOOLS.storm, ['--events', 'many'])]);
  expect(answers.map((a) => a.code)).toEqual([2, 2, 2, 2]);
  expect(answers[1].stderr).toMatch(/PORT must be a port number/);
  answers.forEach((a) => noStackTrace(a.stderr));
}, 90_000);

it('tools that need the stack ask whether `npm start` is running, without the AWS SDK warning', async () => {
  const port = await new Promise<number>((resolve) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); }); });
  const down = { PORT: String(port), STRIPE_EMULATOR_PORT: String(port), DYNAMODB_PORT: String(port), SQS_PORT: String(port) };
  for (const file of [TOOLS.demo, TOOLS.reconcile]) {
    const { code, stderr } = await run(file, [], down);
    expect(code).toBe(1);
    expect(stderr).toMatch(new RegExp(`Cannot reach the local stack \\(.*127\\.0\\.0\\.1:${port}.*\\): is \`npm start\` running\\?`));
    expect(stderr).not.toMatch(/NodeVersionSupportWarning|AWS SDK for JavaScript/);
    noStackTrace(stderr);
  }
}, 90_000);

/** The generators behind `npm run readme:events`, `request-validators` and `problem-docs`: never a silent rewrite. */
it.each(['bin/readme-events.ts', 'bin/request-validators.ts', 'bin/problem-docs.ts'])('%s answers --help with its usage and a bad option with exit 2, writing nothing', async (file) => {
  const help = await run(file, ['--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toMatch(/^usage: npm run [\w:-]+/);
  const bad = await run(file, ['--no-such-option']);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toMatch(/unknown option --no-such-option\nusage: /);
  noStackTrace(bad.stderr);
}, 60_000);
