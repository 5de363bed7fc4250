/**
 * The decision behind `npm run audit`, as pure functions: what `npm audit --omit=dev --json`
 * printed, the reviewed allow-list and today's date go in; pass/fail, the exit code and the
 * messages come out. No I/O here, so every case is tested against recorded audit outputs.
 */
import { z } from 'zod';

/** 0 pass, 1 advisories or allow-list entries to act on, 2 a broken input, 3 the audit did not run. */
export const EXIT_CODES = { pass: 0, fail: 1, error: 2, unreachable: 3 } as const;
export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

export const SEVERITIES = ['info', 'low', 'moderate', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];
/** Severities that fail the run unless allow-listed. */
export const FAILING_SEVERITIES: readonly Severity[] = ['high', 'critical'];

const GHSA_ID = /^GHSA(-[23456789cfghjmpqrvwx]{4}){3}$/;
const GHSA_IN_URL = /GHSA(-[23456789cfghjmpqrvwx]{4}){3}/;
const NPM_ADVISORY_NUMBER = /^[1-9]\d*$/;
/** Errors that mean the registry's audit endpoint was not reached at all. */
const NETWORK_CODES = /\b(ENOTFOUND|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ESOCKETTIMEDOUT|ERR_SOCKET_TIMEOUT)\b/;

function isCalendarDate(value: string): boolean {
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === value;
}

// ---------------------------------------------------------------------------------------------
// The allow-list (security/audit-allowlist.json)

export const AllowlistEntrySchema = z
  .object({
    /** the GHSA id (from the advisory's url) or npm's advisory number (`source` in npm audit --json) */
    id: z
      .union([z.string(), z.number()])
      .transform((value) => String(value).trim())
      .refine((value) => GHSA_ID.test(value) || NPM_ADVISORY_NUMBER.test(value), {
        message: 'expected a GHSA id ("GHSA-xxxx-xxxx-xxxx") or an npm advisory number (the "source" in npm audit --json)',
      }),
    /** the vulnerable package the advisory is about (its `name` in npm audit --json) */
    package: z.string().trim().min(1, 'name the vulnerable package'),
    /** why the advisory does not apply to Talkie, specific enough for the next reviewer to check */
    reason: z.string().trim().min(20, 'explain why the advisory does not apply to Talkie (20 characters at least)'),
    /** the entry stops allowing anything after this day (UTC): review it again by then */
    review_by: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date as YYYY-MM-DD')
      .refine(isCalendarDate, { message: 'not a calendar date' }),
  })
  .strict();
export type AllowlistEntry = z.infer<typeof AllowlistEntrySchema>;

export const AllowlistSchema = z
  .object({
    /** free text for humans (what the file is, how to add an entry) */
    comment: z.string().optional(),
    entries: z.array(AllowlistEntrySchema),
  })
  .strict()
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.entries.forEach((entry, index) => {
      const key = `${entry.id} ${entry.package}`;
      if (seen.has(key)) ctx.addIssue({ code: 'custom', path: ['entries', index], message: `duplicate entry for ${entry.id} (${entry.package})` });
      seen.add(key);
    });
  });

export type AllowlistParse = { ok: true; entries: AllowlistEntry[] } | { ok: false; problems: string[] };

/** Reads and validates the allow-list file's text. */
export function parseAllowlist(text: string): AllowlistParse {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, problems: [`not valid JSON: ${(err as Error).message}`] };
  }
  const parsed = AllowlistSchema.safeParse(json);
  if (!parsed.success) {
    return { ok: false, problems: parsed.error.issues.map((issue) => `${issue.path.join('.') || '(file)'}: ${issue.message}`) };
  }
  return { ok: true, entries: parsed.data.entries };
}

// ---------------------------------------------------------------------------------------------
// npm audit --json (report format v2, npm 7 and later)

export interface Advisory {
  /** npm's advisory number */
  source: number;
  /** GHSA id, from the advisory's url */
  ghsa?: string;
  /** the vulnerable package */
  package: string;
  title: string;
  url: string;
  severity: Severity;
  /** vulnerable versions */
  range: string;
  /** where the vulnerable package is installed */
  nodes: string[];
  /** npm's fixAvailable, in words */
  fix: string;
}

export type AuditReading =
  | { kind: 'report'; advisories: Advisory[]; failingPackages: string[] }
  | { kind: 'unreachable'; reason: string }
  | { kind: 'error'; reason: string };

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

function severityOf(value: unknown): Severity {
  // An unknown severity fails safe: treated as critical.
  return SEVERITIES.includes(value as Severity) ? (value as Severity) : 'critical';
}

function fixInWords(fixAvailable: unknown): string {
  if (fixAvailable === true) return 'fix available within the declared ranges (npm update / npm audit fix --omit=dev)';
  if (isObject(fixAvailable)) {
    const major = fixAvailable.isSemVerMajor ? ' (semver-major)' : '';
    return `fix: ${String(fixAvailable.name)}@${String(fixAvailable.version)}${major}`;
  }
  return 'no fix available yet';
}

function lastNpmErrorLine(stderr: string): string | undefined {
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /^npm (error|ERR!|warn audit)/.test(line) && !/complete log of this run/.test(line));
  return lines.length ? lines[lines.length - 1] : undefined;
}

/** Reads what `npm audit --json` printed: a report, or why there is none. */
export function readAuditOutput(stdout: string, stderr = ''): AuditReading {
  const text = stdout.trim();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!isObject(json)) {
    const network = NETWORK_CODES.exec(stderr)?.[1];
    const detail = lastNpmErrorLine(stderr);
    return {
      kind: 'unreachable',
      reason: `npm audit printed no JSON report${network ? ` (${network})` : ''}${detail ? `: ${detail}` : ''}`,
    };
  }

  if ('auditReportVersion' in json) {
    if (json.auditReportVersion !== 2 || !isObject(json.vulnerabilities)) {
      return { kind: 'error', reason: `unsupported npm audit report (auditReportVersion ${String(json.auditReportVersion)}); npm 7 or later prints version 2` };
    }
    const vulnerabilities = json.vulnerabilities as Record<string, Json>;
    const advisories = new Map<string, Advisory>();
    const failingPackages: string[] = [];
    for (const [name, vulnerability] of Object.entries(vulnerabilities)) {
      if (!isObject(vulnerability)) continue;
      if (FAILING_SEVERITIES.includes(severityOf(vulnerability.severity))) failingPackages.push(name);
      for (const via of Array.isArray(vulnerability.via) ? vulnerability.via : []) {
        // Strings name another vulnerable package (this one is affected through it); objects are advisories.
        if (!isObject(via)) continue;
        const pkg = String(via.name ?? name);
        const key = `${String(via.source)} ${pkg}`;
        if (advisories.has(key)) continue;
        const url = String(via.url ?? '');
        const owner = isObject(vulnerabilities[pkg]) ? vulnerabilities[pkg] : vulnerability;
        advisories.set(key, {
          source: Number(via.source),
          ghsa: GHSA_IN_URL.exec(url)?.[0],
          package: pkg,
          title: String(via.title ?? '(no title)'),
          url,
          severity: severityOf(via.severity),
          range: String(via.range ?? '*'),
          nodes: Array.isArray(owner.nodes) ? owner.nodes.map(String) : [],
          fix: fixInWords(owner.fixAvailable),
        });
      }
    }
    return { kind: 'report', advisories: [...advisories.values()], failingPackages };
  }

  // npm's error output: { message, ... } from a failed request, or { error: { code, summary } }.
  const error = isObject(json.error) ? json.error : {};
  const message = [json.message, error.summary, error.detail].filter((part) => typeof part === 'string' && part.trim()).join(' ').trim();
  const code = [json.code, json.errno, error.code].find((part) => typeof part === 'string') as string | undefined;
  const network = NETWORK_CODES.exec(`${code ?? ''} ${message} ${stderr}`)?.[1];
  if (network) {
    return { kind: 'unreachable', reason: `the registry's audit endpoint could not be reached (${network}): ${message || lastNpmErrorLine(stderr) || code}` };
  }
  const endpoint = typeof json.statusCode === 'number' || /security\/(advisories|audits)|audit endpoint/.test(`${message} ${String(json.uri ?? '')} ${stderr}`);
  if (endpoint) {
    const status = typeof json.statusCode === 'number' ? `HTTP ${json.statusCode}` : 'an error';
    return { kind: 'unreachable', reason: `the registry's audit endpoint answered with ${status}: ${message || lastNpmErrorLine(stderr) || 'no detail'}` };
  }
  return { kind: 'error', reason: `npm audit failed${code ? ` (${code})` : ''}: ${message || lastNpmErrorLine(stderr) || 'no detail'}` };
}

// ---------------------------------------------------------------------------------------------
// The decision

export interface AuditDecision {
  /** skipped: the audit did not run and --allow-offline let that through (exit 0, loudly) */
  status: 'pass' | 'fail' | 'unreachable' | 'error' | 'skipped';
  exitCode: ExitCode;
  /** why the run fails; empty when it passes */
  failures: string[];
  warnings: string[];
  notes: string[];
  /** high/critical advisories with no valid allow-list entry */
  blocking: Advisory[];
  /** high/critical advisories covered by an unexpired entry */
  allowed: { advisory: Advisory; entry: AllowlistEntry }[];
  /** moderate, low and info advisories: reported, never failing */
  belowThreshold: Advisory[];
  /** entries whose review_by day has passed */
  expired: AllowlistEntry[];
}

export interface DecideInput {
  reading: AuditReading;
  allowlist: AllowlistEntry[];
  /** YYYY-MM-DD (UTC) */
  today: string;
  /** --allow-offline: an audit that could not run warns instead of failing (local use only) */
  allowOffline?: boolean;
  /** running in CI (CI env set): --allow-offline is refused there */
  ci?: boolean;
}

const advisoryId = (a: Advisory) => a.ghsa ?? `npm advisory ${a.source}`;
const describe = (a: Advisory) =>
  `${a.severity.toUpperCase()} ${advisoryId(a)} in ${a.package} ${a.range}: ${a.title} (${a.url || 'no url'}); ${a.fix}` +
  (a.nodes.length ? `; installed at ${a.nodes.join(', ')}` : '');

function matches(entry: AllowlistEntry, advisory: Advisory): boolean {
  return (entry.id === advisory.ghsa || entry.id === String(advisory.source)) && entry.package === advisory.package;
}

export function decideAudit({ reading, allowlist, today, allowOffline = false, ci = false }: DecideInput): AuditDecision {
  const decision: AuditDecision = {
    status: 'pass',
    exitCode: EXIT_CODES.pass,
    failures: [],
    warnings: [],
    notes: [],
    blocking: [],
    allowed: [],
    belowThreshold: [],
    expired: [],
  };

  // Expired entries fail every run, reachable registry or not: they must be reviewed again.
  decision.expired = allowlist.filter((entry) => entry.review_by < today);
  for (const entry of decision.expired) {
    decision.failures.push(
      `allow-list entry ${entry.id} (${entry.package}) expired on ${entry.review_by}: review it again (does the reason still hold? is there a fix?) and set a new review_by, or remove it`,
    );
  }

  if (reading.kind === 'error') {
    decision.status = 'error';
    decision.exitCode = EXIT_CODES.error;
    decision.failures.unshift(reading.reason);
    return decision;
  }

  if (reading.kind === 'unreachable') {
    const message = `THE AUDIT DID NOT RUN: ${reading.reason}. No advisory data was checked; this is not a pass.`;
    if (allowOffline && !ci) {
      decision.warnings.push(`${message} Continuing because of --allow-offline (local use only): run npm run audit again when the registry is reachable.`);
      if (decision.expired.length) {
        decision.status = 'fail';
        decision.exitCode = EXIT_CODES.fail;
      } else {
        decision.status = 'skipped';
      }
      return decision;
    }
    if (allowOffline && ci) decision.notes.push('--allow-offline is refused in CI (the CI variable is set): it is for local use only');
    decision.status = 'unreachable';
    decision.exitCode = EXIT_CODES.unreachable;
    decision.failures.unshift(message);
    return decision;
  }

  const used = new Set<AllowlistEntry>();
  for (const advisory of reading.advisories) {
    if (!FAILING_SEVERITIES.includes(advisory.severity)) {
      decision.belowThreshold.push(advisory);
      continue;
    }
    const entry = allowlist.find((candidate) => matches(candidate, advisory));
    if (entry) used.add(entry);
    if (entry && !decision.expired.includes(entry)) {
      decision.allowed.push({ advisory, entry });
      decision.notes.push(`allowed until ${entry.review_by}: ${describe(advisory)} (reason: ${entry.reason})`);
      continue;
    }
    decision.blocking.push(advisory);
    const sameId = allowlist.find((candidate) => candidate.id === advisory.ghsa || candidate.id === String(advisory.source));
    const hint = sameId && sameId.package !== advisory.package ? ` (an allow-list entry names ${sameId.id} for package "${sameId.package}", not "${advisory.package}")` : '';
    decision.failures.push(`${describe(advisory)}${hint}`);
  }

  if (reading.failingPackages.length && !decision.blocking.length && !decision.allowed.length) {
    // The report marks packages high/critical but no advisory could be read: never pass on that.
    decision.status = 'error';
    decision.exitCode = EXIT_CODES.error;
    decision.failures.unshift(`the report marks ${reading.failingPackages.join(', ')} high or critical, but no advisory could be read from it`);
    return decision;
  }

  for (const advisory of decision.belowThreshold) decision.notes.push(`below the failing level: ${describe(advisory)}`);
  for (const entry of allowlist) {
    if (!used.has(entry) && !decision.expired.includes(entry)) {
      decision.warnings.push(`allow-list entry ${entry.id} (${entry.package}) matches no current advisory: remove it`);
    }
  }

  if (decision.failures.length) {
    decision.status = 'fail';
    decision.exitCode = EXIT_CODES.fail;
  }
  return decision;
}

/** The whole check from raw inputs: allow-list text, npm's output, today. */
export function evaluateAudit(input: {
  stdout: string;
  stderr?: string;
  allowlistText: string;
  today: string;
  allowOffline?: boolean;
  ci?: boolean;
}): AuditDecision {
  const allowlist = parseAllowlist(input.allowlistText);
  if (!allowlist.ok) {
    return {
      status: 'error',
      exitCode: EXIT_CODES.error,
      failures: allowlist.problems.map((problem) => `security/audit-allowlist.json: ${problem}`),
      warnings: [],
      notes: [],
      blocking: [],
      allowed: [],
      belowThreshold: [],
      expired: [],
    };
  }
  return decideAudit({
    reading: readAuditOutput(input.stdout, input.stderr),
    allowlist: allowlist.entries,
    today: input.today,
    allowOffline: input.allowOffline,
    ci: input.ci,
  });
}

/** The decision as the lines `npm run audit` prints. */
export function formatDecision(decision: AuditDecision): string[] {
  const lines: string[] = [];
  const headline = {
    pass: 'audit: PASS (production dependencies: no high or critical advisory without a valid allow-list entry)',
    fail: 'audit: FAIL',
    error: 'audit: ERROR (the check could not be made)',
    unreachable: 'audit: FAILED TO RUN (the registry audit endpoint was not reachable)',
    skipped: 'audit: NOT CHECKED (the audit did not run; --allow-offline let this through, local use only)',
  }[decision.status];
  lines.push(headline);
  for (const failure of decision.failures) lines.push(`  ✗ ${failure}`);
  for (const warning of decision.warnings) lines.push(`  ! WARNING: ${warning}`);
  for (const note of decision.notes) lines.push(`  - ${note}`);
  if (decision.status === 'unreachable') {
    lines.push('  Retry when the registry is reachable. For a local run only: npm run audit -- --allow-offline');
  }
  lines.push(`audit: exit code ${decision.exitCode}`);
  return lines;
}
