import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  AdminCreateUserCommand,
  AdminInitiateAuthCommand,
  AdminSetUserPasswordCommand,
  CognitoIdentityProviderClient,
} from '@aws-sdk/client-cognito-identity-provider';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { main, passwordFile } from '../../bin/users';

/** user:create and user:token against fakes of CloudFormation and Cognito (no local Cognito exists). */
let dir: string;
let cloudFormation: CloudFormationClient;
let cognito: CognitoIdentityProviderClient;
let cognitoMock: ReturnType<typeof mockClient>;
let output: string[];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'users-'));
  cloudFormation = new CloudFormationClient({ region: 'eu-west-1' });
  cognito = new CognitoIdentityProviderClient({ region: 'eu-west-1' });
  mockClient(cloudFormation).on(DescribeStacksCommand, { StackName: 'Payments-dev' }).resolves({
    Stacks: [{ StackName: 'Payments-dev', StackStatus: 'CREATE_COMPLETE', CreationTime: new Date(), Outputs: [{ OutputKey: 'UserPoolId', OutputValue: 'eu-west-1_Pool' }, { OutputKey: 'AppClientIds', OutputValue: 'client1,client2' }] }],
  });
  cognitoMock = mockClient(cognito);
  cognitoMock.on(AdminInitiateAuthCommand).resolves({ AuthenticationResult: { IdToken: 'eyJ.id.token', AccessToken: 'eyJ.access.token' } });
  output = [];
  jest.spyOn(console, 'log').mockImplementation((line: string) => void output.push(line));
  jest.spyOn(console, 'error').mockImplementation((line: string) => void output.push(line));
});
afterEach(() => {
  jest.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});
const deps = () => ({ cloudFormation, cognito, passwordDir: dir, out: (line: string) => output.push(line) });

it('creates a user with its tenant (no invitation email), a permanent generated password in a 600 file, never printed', async () => {
  expect(await main('create', ['--stage', 'dev', '--email', 'alice@example.com', '--tenant', 'acme'], deps())).toBe(0);
  const [create] = cognitoMock.commandCalls(AdminCreateUserCommand);
  expect(create.args[0].input).toEqual({
    UserPoolId: 'eu-west-1_Pool',
    Username: 'alice@example.com',
    MessageAction: 'SUPPRESS',
    UserAttributes: [{ Name: 'email', Value: 'alice@example.com' }, { Name: 'email_verified', Value: 'true' }, { Name: 'custom:tenant_id', Value: 'acme' }],
  });
  const [setPassword] = cognitoMock.commandCalls(AdminSetUserPasswordCommand);
  const file = passwordFile(dir, 'dev', 'alice@example.com');
  const password = readFileSync(file, 'utf8').trim();
  expect(setPassword.args[0].input).toEqual({ UserPoolId: 'eu-west-1_Pool', Username: 'alice@example.com', Password: password, Permanent: true });
  expect(password).toMatch(/^(?=.*[a-z])(?=.*[A-Z])(?=.*\d)(?=.*[^\w]).{24,}$/);
  expect(statSync(file).mode & 0o777).toBe(0o600);
  expect(output.join('\n')).toContain(file);
  expect(output.join('\n')).not.toContain(password);
});

it('prints only the ID token, signing in with the first accepted app client and the stored password', async () => {
  await main('create', ['--stage', 'dev', '--email', 'alice@example.com', '--tenant', 'acme'], deps());
  output.splice(0);
  expect(await main('token', ['--stage', 'dev', '--email', 'alice@example.com'], deps())).toBe(0);
  expect(output).toEqual(['eyJ.id.token']);
  const [auth] = cognitoMock.commandCalls(AdminInitiateAuthCommand);
  const password = readFileSync(passwordFile(dir, 'dev', 'alice@example.com'), 'utf8').trim();
  expect(auth.args[0].input).toEqual({ UserPoolId: 'eu-west-1_Pool', ClientId: 'client1', AuthFlow: 'ADMIN_USER_PASSWORD_AUTH', AuthParameters: { USERNAME: 'alice@example.com', PASSWORD: password } });
});

it.each([
  ['create', ['--stage', 'dev', '--email', 'alice@example.com', '--tenant', 'acme/../globex'], '--tenant must match'],
  ['create', ['--stage', 'dev', '--email', 'alice@example.com'], '--tenant <tenant id> is required'],
  ['token', ['--stage', 'dev', '--email', 'nobody@example.com'], 'No password file'],
  ['token', ['--stage', 'dev', '--email', 'alice@example.com', '--client-id', 'intruder', '--password-file', __filename], 'not one the API accepts'],
  ['token', ['--stage', 'qa', '--email', 'alice@example.com'], '--stage dev or --stage prod'],
  ['delete', ['--stage', 'dev', '--email', 'alice@example.com'], 'the command is create or token'],
  ['create', ['--bogus'], "Unknown option '--bogus'"],
])('%s %j exits 2 with usage, calling nothing at Cognito', async (command, argv, message) => {
  expect(await main(command, argv, deps())).toBe(2);
  expect(output.join('\n')).toContain(message);
  expect(output.join('\n')).toContain('Usage:');
  expect(cognitoMock.calls()).toHaveLength(0);
});
