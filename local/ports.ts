/**
 * The local stack's services, their port variables and defaults: one table read by `npm start`,
 * every CLI that talks to the stack, and the README.
 */
export const LOCAL_SERVICES = {
  api: { env: 'PORT', defaultPort: 3000, label: 'API Gateway emulator' },
  shop: { env: 'SHOP_PORT', defaultPort: 3001, label: 'demo shop' },
  stripe: { env: 'STRIPE_EMULATOR_PORT', defaultPort: 12111, label: 'Stripe emulator' },
  sqs: { env: 'SQS_PORT', defaultPort: 9324, label: 'SQS emulator' },
  dynamodb: { env: 'DYNAMODB_PORT', defaultPort: 8000, label: 'DynamoDB' },
} as const;

export type LocalService = keyof typeof LOCAL_SERVICES;

/** The port a service uses: its variable when set (0 picks a free port), else the default. */
export function localPort(service: LocalService, env: NodeJS.ProcessEnv = process.env): number {
  const { env: name, defaultPort } = LOCAL_SERVICES[service];
  const raw = env[name];
  if (raw === undefined || raw === '') return defaultPort;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value > 65535) throw new PortVariableError(`${name} must be a port number (0–65535), got "${raw}"`);
  return value;
}

export const localUrl = (service: LocalService, env: NodeJS.ProcessEnv = process.env) => `http://127.0.0.1:${localPort(service, env)}`;

export class PortVariableError extends Error {}

/** A port the stack could not listen on, told in terms a developer can act on. */
export class PortInUseError extends Error {
  constructor(
    readonly service: LocalService,
    readonly port: number,
    code: string,
  ) {
    const { label, env } = LOCAL_SERVICES[service];
    const why = code === 'EADDRINUSE' ? 'is already in use' : `cannot be opened (${code})`;
    super(
      `The ${label} cannot listen on port ${port}: the port ${why}.\n` +
        `  Is another \`npm start\` running? Stop it, or choose another port: ${env}=<port> npm start (0 picks a free one).`,
    );
    this.name = 'PortInUseError';
  }
}

/** Runs a service's start-up and names the service when its port is taken. */
export async function listening<T>(service: LocalService, port: number, starting: Promise<T>): Promise<T> {
  try {
    return await starting;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') throw new PortInUseError(service, port, code);
    throw error;
  }
}
