import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { problemTypesMarkdown } from '../lambdas/problems/pages';

/** Writes docs/problems.md from the problem catalogue (lambdas/shared/problem.ts). */
export const PROBLEM_DOCS_PATH = path.join(__dirname, '..', 'docs', 'problems.md');

if (require.main === module) {
  const args = process.argv.slice(2);
  if (args.length > 0) {
    const help = args.includes('--help') || args.includes('-h');
    (help ? console.log : console.error)(help ? 'usage: npm run problem-docs\n  Regenerates docs/problems.md from lambdas/shared/problem.ts.' : `unknown option ${args[0]}\nusage: npm run problem-docs`);
    process.exit(args.includes('--help') || args.includes('-h') ? 0 : 2);
  }
  writeFileSync(PROBLEM_DOCS_PATH, problemTypesMarkdown());
  console.log(`wrote ${path.relative(process.cwd(), PROBLEM_DOCS_PATH)}`);
}
