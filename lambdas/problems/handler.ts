import { createProblemsHandler } from './create-problems-handler';

export const handler = createProblemsHandler();
