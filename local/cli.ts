// The AWS SDK reads this when its first client is built: set before any CLI builds one, so the
// tools do not open with nine lines about Node versions the Lambdas never run on.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ||= 'true';

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { LOCAL_SERVICES } from './ports';

/**
 * The shape every command-line tool shares: `--help` (usage, options with defaults, an example),
 * usage and exit 2 for a bad option, and a plain message instead of a stack trace when the local
 * stack is not running.
 */
export interface CliOption {
  type: 'string' | 'boolean';
  description: string;
  default?: string | boolean;
  /** The value's name in the usage line: `--ttl <seconds>`. */
  value?: string;
  short?: string;
}

export interface CliSpec<O extends Record<string, CliOption>> {
  /** How a developer runs it, options following: `npm run token --`. */
  command: string;
  summary: string;
  options: O;
  examples: string[];
  /** The tool talks to a running `npm start`; usage lists the port variables. */
  usesLocalStack?: boolean;
  /** Positional arguments, for the usage line (none allowed when absent). */
  positionals?: string;
}

export type CliValues<O extends Record<string, CliOption>> = {
  [K in keyof O]: O[K] extends { type: 'boolean' } ? boolean : O[K] extends { default: string } ? string : string | undefined;
};

/** Declares a tool's command line (the literal types give parseCli its value types). */
export const defineCli = <const O extends Record<string, CliOption>>(spec: CliSpec<O>): CliSpec<O> => spec;

/** A mistake in how the tool was called: answered with the usage and exit code 2. */
export class UsageError extends Error {}

export function usage<O extends Record<string, CliOption>>(spec: CliSpec<O>): string {
  const rows = Object.entries(spec.options).map(([name, option]) => {
    const flag = `${option.short ? `-${option.short}, ` : ''}--${name}${option.type === 'string' ? ` <${option.value ?? 'value'}>` : ''}`;
    const fallback = option.default === undefined || option.default === false ? '' : `  (default: ${option.default})`;
    return [flag, `${option.description}${fallback}`];
  });
  rows.push(['-h, --help', 'show this help']);
  const width = Math.max(...rows.map(([flag]) => flag.length));
  const ports = Object.values(LOCAL_SERVICES).map((s) => `${s.env}=${s.defaultPort}`).join(' ');
  return [
    `Usage: ${spec.command} [options]${spec.positionals ? ` ${spec.positionals}` : ''}`,
    '',
    spec.summary,
    '',
    'Options:',
    ...rows.map(([flag, text]) => `  ${flag.padEnd(width)}  ${text}`),
    ...(spec.usesLocalStack ? ['', `Local stack ports (environment): ${ports}`] : []),
    '',
    spec.examples.length > 1 ? 'Examples:' : 'Example:',
    ...spec.examples.map((example) => `  ${example}`),
    '',
  ].join('\n');
}

function refuse<O extends Record<string, CliOption>>(spec: CliSpec<O>, message: string): never {
  process.stderr.write(`${message}\n\n${usage(spec)}`);
  process.exit(2);
}

/** Parses argv; prints the usage and exits on --help (0) or a bad option (2). */
export function parseCli<O extends Record<string, CliOption>>(spec: CliSpec<O>, argv = process.argv.slice(2)): { values: CliValues<O>; positionals: string[] } {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage(spec));
    process.exit(0);
  }
  try {
    const options = Object.fromEntries(
      Object.entries(spec.options).map(([name, o]) => [name, { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.default !== undefined ? { default: o.default } : {}) }]),
    );
    const parsed = parseArgs({ args: argv, options: options as ParseArgsConfig['options'], allowPositionals: spec.positionals !== undefined, strict: true });
    return { values: parsed.values as CliValues<O>, positionals: parsed.positionals };
  } catch (error) {
    const message = (error as Error).message;
    // `npm run token --tenant acme` hands `--tenant` to npm and only `acme` to the tool.
    const hint = /Unexpected argument/.test(message) ? `\nOptions go after \`--\`: ${spec.command} --name value` : '';
    refuse(spec, `${message.split('. To specify')[0]}${hint}`);
  }
}

/** A whole number option, checked: a bad one is a usage error, not NaN flowing on. */
export function integerOption(name: string, raw: string | undefined, min = 0): number {
  const value = Number(raw);
  if (raw === undefined || !/^\d+$/.test(raw) || value < min) throw new UsageError(`--${name} must be a whole number ≥ ${min}, got "${raw}"`);
  return value;
}

/** True when an error (or one it wraps) says a local port refused the connection. */
export function isConnectionRefused(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== 'object' || depth > 5) return false;
  const e = error as { code?: unknown; type?: unknown; message?: unknown; cause?: unknown; errors?: unknown; detail?: unknown };
  if (e.code === 'ECONNREFUSED' || e.type === 'StripeConnectionError') return true;
  if (typeof e.message === 'string' && /ECONNREFUSED/.test(e.message)) return true;
  const nested = [e.cause, e.detail, ...(Array.isArray(e.errors) ? e.errors : [])];
  return nested.some((inner) => isConnectionRefused(inner, depth + 1));
}

/**
 * Runs a tool's main: its return value is the exit code; a usage error prints the usage (2); a
 * refused connection asks whether `npm start` is running (1); anything else prints its message,
 * never a stack trace (1).
 */
export function runCli<O extends Record<string, CliOption>>(spec: CliSpec<O>, main: () => Promise<number | void>, stackHint?: () => string): void {
  main()
    .then((code) => {
      process.exitCode = code ?? 0;
    })
    .catch((error: unknown) => {
      if (error instanceof UsageError) refuse(spec, error.message);
      if (isConnectionRefused(error)) {
        process.stderr.write(`Cannot reach the local stack${stackHint ? ` (${stackHint()})` : ''}: is \`npm start\` running?\n`);
      } else {
        process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      }
      process.exit(1);
    });
}
