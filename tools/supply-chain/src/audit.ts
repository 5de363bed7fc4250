/**
 * `npm run audit`: runs `npm audit --omit=dev --json` at the repository root and applies the
 * policy in audit-policy.ts (fail on high/critical advisories unless allow-listed in
 * security/audit-allowlist.json; fail on expired entries; exit 3 when the audit could not run).
 *
 *   npm run audit                      # CI and releases
 *   npm run audit -- --allow-offline   # local only: an unreachable registry warns instead of failing
 *   npm run audit -- --allowlist <file>
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { EXIT_CODES, evaluateAudit, formatDecision } from './audit-policy';
import { npmCommand, repoRoot } from './npm';

const USAGE = 'usage: npm run audit [-- --allow-offline] [--allowlist <file>]';
/** npm audit that has not answered after this long counts as unreachable (ETIMEDOUT). */
const AUDIT_TIMEOUT_MS = 180_000;

function parseArgs(argv: string[]): { allowOffline: boolean; allowlist?: string } | string {
  const options: { allowOffline: boolean; allowlist?: string } = { allowOffline: false };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--allow-offline') options.allowOffline = true;
    else if (arg === '--allowlist' && argv[i + 1]) options.allowlist = argv[++i];
    else if (arg.startsWith('--allowlist=')) options.allowlist = arg.slice('--allowlist='.length);
    else return `unknown argument ${JSON.stringify(arg)}\n${USAGE}`;
  }
  return options;
}

function main(): number {
  const args = parseArgs(process.argv.slice(2));
  if (typeof args === 'string') {
    console.error(args);
    return EXIT_CODES.error;
  }
  const root = repoRoot();
  const allowlistFile = path.resolve(root, args.allowlist ?? 'security/audit-allowlist.json');
  if (!existsSync(allowlistFile)) {
    console.error(`audit: ERROR: ${allowlistFile} is missing; an empty allow-list is {"entries": []}`);
    return EXIT_CODES.error;
  }

  const [command, ...prefix] = npmCommand();
  const run = spawnSync(command, [...prefix, 'audit', '--omit=dev', '--json'], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    timeout: AUDIT_TIMEOUT_MS,
  });
  let stderr = run.stderr ?? '';
  if (run.error) {
    const code = (run.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      console.error(`audit: ERROR: could not run npm (${run.error.message})`);
      return EXIT_CODES.error;
    }
    // A timeout (ETIMEDOUT) means the endpoint never answered: the reading says unreachable.
    stderr += `\nnpm error ${run.error.message} (${code ?? 'no code'})`;
  }

  const decision = evaluateAudit({
    stdout: run.error ? '' : (run.stdout ?? ''),
    stderr,
    allowlistText: readFileSync(allowlistFile, 'utf8'),
    today: new Date().toISOString().slice(0, 10),
    allowOffline: args.allowOffline,
    ci: Boolean(process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0'),
  });
  const lines = formatDecision(decision);
  (decision.exitCode === EXIT_CODES.pass && decision.status === 'pass' ? console.log : console.error)(lines.join('\n'));
  return decision.exitCode;
}

process.exitCode = main();
