import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  AdminCreateUserCommand,
  AdminInitiateAuthCommand,
  AdminSetUserPasswordCommand,
  CognitoIdentityProviderClient,
} from '@aws-sdk/client-cognito-identity-provider';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

/**
 * Users of a deployed stage, for a first test and for smoke tests (admin credentials only; the
 * pool allows no self sign-up):
 *
 *   npm run user:create -- --stage dev --email alice@example.com --tenant acme
 *   npm run -s user:token -- --stage dev --email alice@example.com     # prints an ID token
 *
 * The tenant is set by the administrator at creation and is immutable. The password is
 * generated and written to a file only its owner can read (never printed); the token command
 * reads it from there.
 */
export interface UsersDeps {
  cloudFormation: CloudFormationClient;
  cognito: CognitoIdentityProviderClient;
  /** Where generated password files go. @default .users/ in the working directory */
  passwordDir?: string;
  out?: (line: string) => void;
}

const TENANT_PATTERN = /^[\w.@:+-]{1,128}$/; // what the handlers accept (lambdas/shared/request-identity.ts)

export async function stackOutputs(cloudFormation: CloudFormationClient, stackName: string): Promise<Record<string, string>> {
  const { Stacks } = await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }));
  return Object.fromEntries((Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey!, o.OutputValue!]));
}

function required(outputs: Record<string, string>, key: string, stackName: string): string {
  if (!outputs[key]) throw new UsageError(`Stack ${stackName} has no output ${key}: deploy the current stack first`);
  return outputs[key];
}

export const passwordFile = (dir: string, stage: string, email: string) => path.join(dir, `${stage}-${email.replace(/[^\w.@+-]/g, '_')}.password`);

export async function createUser(deps: UsersDeps, options: { stage: string; stackName: string; email: string; tenant: string }): Promise<string> {
  if (!TENANT_PATTERN.test(options.tenant)) throw new UsageError(`--tenant must match ${TENANT_PATTERN} (what the API accepts), got ${JSON.stringify(options.tenant)}`);
  const outputs = await stackOutputs(deps.cloudFormation, options.stackName);
  const UserPoolId = required(outputs, 'UserPoolId', options.stackName);
  // Cognito's default policy (and ours) wants all four character classes.
  const password = `${randomBytes(18).toString('base64url')}aA1!`;
  await deps.cognito.send(
    new AdminCreateUserCommand({
      UserPoolId,
      Username: options.email,
      MessageAction: 'SUPPRESS',
      UserAttributes: [
        { Name: 'email', Value: options.email },
        { Name: 'email_verified', Value: 'true' },
        { Name: 'custom:tenant_id', Value: options.tenant },
      ],
    }),
  );
  await deps.cognito.send(new AdminSetUserPasswordCommand({ UserPoolId, Username: options.email, Password: password, Permanent: true }));
  const dir = deps.passwordDir ?? path.resolve('.users');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = passwordFile(dir, options.stage, options.email);
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  (deps.out ?? console.error)(`Created ${options.email} in tenant ${options.tenant} (pool ${UserPoolId}); password in ${file} (mode 600).`);
  return file;
}

export async function idToken(deps: UsersDeps, options: { stage: string; stackName: string; email: string; passwordFile?: string; clientId?: string }): Promise<string> {
  const outputs = await stackOutputs(deps.cloudFormation, options.stackName);
  const UserPoolId = required(outputs, 'UserPoolId', options.stackName);
  const clientIds = required(outputs, 'AppClientIds', options.stackName).split(',');
  const ClientId = options.clientId ?? clientIds[0];
  if (!clientIds.includes(ClientId)) throw new UsageError(`--client-id ${ClientId} is not one the API accepts (${clientIds.join(', ')})`);
  const file = options.passwordFile ?? passwordFile(deps.passwordDir ?? path.resolve('.users'), options.stage, options.email);
  let password: string;
  try {
    password = readFileSync(file, 'utf8').trim();
  } catch {
    throw new UsageError(`No password file ${file}: create the user with npm run user:create, or pass --password-file`);
  }
  const { AuthenticationResult, ChallengeName } = await deps.cognito.send(
    new AdminInitiateAuthCommand({ UserPoolId, ClientId, AuthFlow: 'ADMIN_USER_PASSWORD_AUTH', AuthParameters: { USERNAME: options.email, PASSWORD: password } }),
  );
  if (!AuthenticationResult?.IdToken) throw new Error(`Cognito asked for ${ChallengeName ?? 'a challenge'} instead of issuing tokens`);
  return AuthenticationResult.IdToken;
}

export class UsageError extends Error {}

const USAGE = `Usage:
  npm run user:create -- --stage <dev|prod> --email <address> --tenant <tenant id> [--stack-name <name>]
  npm run -s user:token -- --stage <dev|prod> --email <address> [--password-file <file>] [--client-id <id>] [--stack-name <name>]

user:create makes a user (admin-only) with its immutable custom:tenant_id and a generated
password written to .users/<stage>-<email>.password (mode 600). user:token prints an ID token
for it, for the Authorization: Bearer header. Uses your AWS credentials (AWS_PROFILE, AWS_REGION).`;

export async function main(command: string | undefined, argv: string[], deps?: UsersDeps): Promise<number> {
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        stage: { type: 'string' }, email: { type: 'string' }, tenant: { type: 'string' }, 'stack-name': { type: 'string' },
        'password-file': { type: 'string' }, 'client-id': { type: 'string' }, region: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (command !== 'create' && command !== 'token') throw new UsageError('the command is create or token');
    if (!values.stage || !/^(dev|prod)$/.test(values.stage)) throw new UsageError('--stage dev or --stage prod is required');
    if (!values.email || !/^[^\s@]+@[^\s@]+$/.test(values.email)) throw new UsageError('--email <address> is required');
    const region = values.region ? { region: values.region } : {};
    const resolved = deps ?? { cloudFormation: new CloudFormationClient(region), cognito: new CognitoIdentityProviderClient(region) };
    const common = { stage: values.stage, stackName: values['stack-name'] ?? `Payments-${values.stage}`, email: values.email };
    if (command === 'create') {
      if (!values.tenant) throw new UsageError('--tenant <tenant id> is required');
      await createUser(resolved, { ...common, tenant: values.tenant });
    } else {
      console.log(await idToken(resolved, { ...common, passwordFile: values['password-file'], clientId: values['client-id'] }));
    }
    return 0;
  } catch (error) {
    const usage = error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    console.error(usage ? `${(error as Error).message}\n\n${USAGE}` : `Failed: ${(error as Error).name}: ${(error as Error).message}`);
    return usage ? 2 : 1;
  }
}

if (require.main === module) {
  main(process.argv[2], process.argv.slice(3)).then((code) => process.exit(code));
}
