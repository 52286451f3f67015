// Integration tests talk to DynamoDB Local over HTTP, to a JVM that is slower per call than
// dynalite in-process (and much slower on a busy machine): 5 s is too tight for the longer ones.
jest.setTimeout(30_000);
