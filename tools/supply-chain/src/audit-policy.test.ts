import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type AllowlistEntry, decideAudit, EXIT_CODES, evaluateAudit, formatDecision, parseAllowlist, readAuditOutput } from './audit-policy';

const fixture = (name: string) => readFileSync(path.join(__dirname, '__fixtures__', name), 'utf8');
const TODAY = '2026-06-15';
const allowlistText = (entries: object[]) => JSON.stringify({ entries });

const PROTOBUF_ENTRY: AllowlistEntry = {
  id: 'GHSA-h755-8qp9-cq85',
  package: 'protobufjs',
  reason: 'Only onnx-proto (demo model generator) parses protobuf, and only files Talkie itself writes; no untrusted protobuf input.',
  review_by: '2026-09-30',
};

const run = (stdout: string, entries: object[] = [], extra: { stderr?: string; allowOffline?: boolean; ci?: boolean; today?: string } = {}) =>
  evaluateAudit({ stdout, allowlistText: allowlistText(entries), today: extra.today ?? TODAY, ...extra });

describe('reading npm audit --json', () => {
  it('reads advisories from via objects, once each, with their GHSA ids and install locations', () => {
    const reading = readAuditOutput(fixture('audit-critical-protobufjs.json'));
    expect(reading.kind).toBe('report');
    if (reading.kind !== 'report') return;
    expect(reading.advisories.map((a) => [a.ghsa, a.package, a.severity, a.source])).toEqual([
      ['GHSA-h755-8qp9-cq85', 'protobufjs', 'critical', 1092414],
      ['GHSA-c2qf-rxjj-qqgw', 'semver', 'moderate', 1101088],
    ]);
    expect(reading.advisories[0].nodes).toEqual(['node_modules/protobufjs']);
    expect(reading.failingPackages.sort()).toEqual(['onnx-proto', 'protobufjs']);
  });

  it('reads a clean report as no advisories', () => {
    expect(readAuditOutput(fixture('audit-clean.json'))).toEqual({ kind: 'report', advisories: [], failingPackages: [] });
  });

  it.each([
    ['audit-offline-enotfound.json', /could not be reached \(ENOTFOUND\)/],
    ['audit-offline-econnrefused.json', /could not be reached \(ECONNREFUSED\)/],
    ['audit-endpoint-405.json', /audit endpoint answered with HTTP 405/],
  ])('reads recorded %s as unreachable', (name, reason) => {
    const reading = readAuditOutput(fixture(name));
    expect(reading.kind).toBe('unreachable');
    if (reading.kind === 'unreachable') expect(reading.reason).toMatch(reason);
  });

  it.each(['ETIMEDOUT', 'EAI_AGAIN'])('reads a %s request failure as unreachable', (code) => {
    const stdout = JSON.stringify({
      message: `request to https://registry.npmjs.org/-/npm/v1/security/advisories/bulk failed, reason: getaddrinfo ${code} registry.npmjs.org`,
      error: { summary: '', detail: '' },
    });
    expect(readAuditOutput(stdout)).toEqual({ kind: 'unreachable', reason: expect.stringContaining(`(${code})`) });
  });

  it('reads no JSON at all (empty or cut-off output) as unreachable, with npm’s error line', () => {
    const stderr = 'npm warn audit request to https://registry.npmjs.org/-/npm/v1/security/advisories/bulk failed\nnpm error code ETIMEDOUT\n';
    expect(readAuditOutput('', stderr)).toEqual({ kind: 'unreachable', reason: 'npm audit printed no JSON report (ETIMEDOUT): npm error code ETIMEDOUT' });
    expect(readAuditOutput('{"auditReportVersion": 2, "vulner').kind).toBe('unreachable');
  });

  it('reads other npm errors (no lockfile) and old report formats as errors, not as unreachable', () => {
    expect(readAuditOutput(fixture('audit-enolock.json'))).toEqual({ kind: 'error', reason: expect.stringMatching(/^npm audit failed \(ENOLOCK\): This command requires an existing lockfile/) });
    expect(readAuditOutput(JSON.stringify({ auditReportVersion: 1, advisories: {} })).kind).toBe('error');
  });
});

describe('the audit decision', () => {
  it('passes a clean report', () => {
    const decision = run(fixture('audit-clean.json'));
    expect(decision).toMatchObject({ status: 'pass', exitCode: EXIT_CODES.pass, failures: [] });
  });

  it('fails on an unknown high advisory, naming it', () => {
    const decision = run(fixture('audit-high-multer.json'));
    expect(decision.status).toBe('fail');
    expect(decision.exitCode).toBe(1);
    expect(decision.blocking.map((a) => a.ghsa)).toEqual(['GHSA-fjgf-rc76-4x9p']);
    expect(decision.failures.join('\n')).toMatch(/HIGH GHSA-fjgf-rc76-4x9p in multer >=1\.4\.4-lts\.1 <2\.0\.2: Multer vulnerable to Denial of Service/);
  });

  it('fails on a critical transitive advisory that is not allow-listed', () => {
    const decision = run(fixture('audit-critical-protobufjs.json'));
    expect(decision.exitCode).toBe(1);
    expect(decision.blocking.map((a) => a.package)).toEqual(['protobufjs']);
  });

  it('passes when the high/critical advisory has a listed, unexpired entry (moderate ones only noted)', () => {
    const decision = run(fixture('audit-critical-protobufjs.json'), [PROTOBUF_ENTRY]);
    expect(decision).toMatchObject({ status: 'pass', exitCode: 0, failures: [], blocking: [] });
    expect(decision.allowed.map((a) => a.entry.id)).toEqual(['GHSA-h755-8qp9-cq85']);
    expect(decision.belowThreshold.map((a) => a.package)).toEqual(['semver']);
    expect(decision.notes.join('\n')).toMatch(/allowed until 2026-09-30/);
  });

  it('accepts the npm advisory number as the id', () => {
    const decision = run(fixture('audit-critical-protobufjs.json'), [{ ...PROTOBUF_ENTRY, id: 1092414 }]);
    expect(decision.exitCode).toBe(0);
  });

  it('still passes on the review_by day itself, and fails the day after', () => {
    expect(run(fixture('audit-critical-protobufjs.json'), [PROTOBUF_ENTRY], { today: '2026-09-30' }).exitCode).toBe(0);
    const expired = run(fixture('audit-critical-protobufjs.json'), [PROTOBUF_ENTRY], { today: '2026-10-01' });
    expect(expired.exitCode).toBe(1);
    expect(expired.failures.join('\n')).toMatch(/allow-list entry GHSA-h755-8qp9-cq85 \(protobufjs\) expired on 2026-09-30/);
    // An expired entry no longer allows anything.
    expect(expired.blocking.map((a) => a.package)).toEqual(['protobufjs']);
  });

  it('fails on an expired entry even when no advisory matches it', () => {
    const decision = run(fixture('audit-clean.json'), [{ ...PROTOBUF_ENTRY, review_by: '2026-01-31' }]);
    expect(decision.exitCode).toBe(1);
    expect(decision.expired).toHaveLength(1);
  });

  it('does not let an entry for the same id but another package allow the advisory', () => {
    const decision = run(fixture('audit-critical-protobufjs.json'), [{ ...PROTOBUF_ENTRY, package: 'onnx-proto' }]);
    expect(decision.exitCode).toBe(1);
    expect(decision.failures.join('\n')).toMatch(/an allow-list entry names GHSA-h755-8qp9-cq85 for package "onnx-proto"/);
  });

  it('does not fail on moderate and low advisories', () => {
    const decision = run(fixture('audit-moderate-low.json'));
    expect(decision).toMatchObject({ status: 'pass', exitCode: 0, failures: [], blocking: [] });
    expect(decision.belowThreshold.map((a) => `${a.severity} ${a.package}`).sort()).toEqual(['low cookie', 'moderate express']);
  });

  it('warns about entries that match no current advisory', () => {
    const decision = run(fixture('audit-clean.json'), [PROTOBUF_ENTRY]);
    expect(decision.exitCode).toBe(0);
    expect(decision.warnings).toEqual([expect.stringMatching(/GHSA-h755-8qp9-cq85 \(protobufjs\) matches no current advisory: remove it/)]);
  });

  it.each(['audit-offline-enotfound.json', 'audit-offline-econnrefused.json', 'audit-endpoint-405.json'])(
    'reports recorded %s as unreachable: exit 3, never a pass',
    (name) => {
      const decision = run(fixture(name));
      expect(decision.status).toBe('unreachable');
      expect(decision.exitCode).toBe(EXIT_CODES.unreachable);
      expect(decision.failures[0]).toMatch(/^THE AUDIT DID NOT RUN: .*this is not a pass/);
      expect(formatDecision(decision).join('\n')).toMatch(/FAILED TO RUN[\s\S]*--allow-offline[\s\S]*exit code 3/);
    },
  );

  it('reports empty output as unreachable', () => {
    expect(run('', [], { stderr: 'npm error code EAI_AGAIN\n' }).exitCode).toBe(3);
  });

  it('lets --allow-offline downgrade unreachable to a loud warning with exit 0, locally only', () => {
    const local = run(fixture('audit-offline-enotfound.json'), [], { allowOffline: true });
    expect(local).toMatchObject({ status: 'skipped', exitCode: 0, failures: [] });
    expect(local.warnings[0]).toMatch(/THE AUDIT DID NOT RUN.*--allow-offline \(local use only\)/);
    expect(formatDecision(local)[0]).toMatch(/NOT CHECKED/);

    const ci = run(fixture('audit-offline-enotfound.json'), [], { allowOffline: true, ci: true });
    expect(ci.exitCode).toBe(3);
    expect(ci.notes).toEqual([expect.stringMatching(/refused in CI/)]);
  });

  it('still fails expired entries offline, even with --allow-offline', () => {
    const decision = run(fixture('audit-offline-enotfound.json'), [{ ...PROTOBUF_ENTRY, review_by: '2026-01-31' }], { allowOffline: true });
    expect(decision.exitCode).toBe(1);
  });

  it('exits 2 on npm errors that are not about the network', () => {
    expect(run(fixture('audit-enolock.json'))).toMatchObject({ status: 'error', exitCode: 2 });
  });

  it('never passes a report that marks packages high but whose advisories cannot be read', () => {
    const odd = JSON.stringify({ auditReportVersion: 2, vulnerabilities: { a: { name: 'a', severity: 'high', via: ['b'] } } });
    expect(decideAudit({ reading: readAuditOutput(odd), allowlist: [], today: TODAY }).exitCode).toBe(2);
  });
});

describe('the allow-list file', () => {
  it('validates entries with zod and says what is wrong', () => {
    const result = parseAllowlist(
      allowlistText([
        { id: 'CVE-2023-36665', package: 'protobufjs', reason: 'short', review_by: '2026-02-30' },
        { id: 'GHSA-h755-8qp9-cq85', reason: PROTOBUF_ENTRY.reason, review_by: '2026-09-30' },
      ]),
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const problems = result.problems.join('\n');
    expect(problems).toMatch(/entries\.0\.id: expected a GHSA id/);
    expect(problems).toMatch(/entries\.0\.reason: explain why/);
    expect(problems).toMatch(/entries\.0\.review_by: not a calendar date/);
    expect(problems).toMatch(/entries\.1\.package/);
  });

  it('rejects unknown keys, duplicates and non-JSON', () => {
    expect(parseAllowlist(JSON.stringify({ entries: [{ ...PROTOBUF_ENTRY, severity: 'high' }] })).ok).toBe(false);
    expect(parseAllowlist(allowlistText([PROTOBUF_ENTRY, PROTOBUF_ENTRY]))).toEqual({ ok: false, problems: [expect.stringMatching(/duplicate entry/)] });
    expect(parseAllowlist('{ entries: [] }').ok).toBe(false);
  });

  it('makes a broken allow-list an error (exit 2), whatever the audit says', () => {
    expect(evaluateAudit({ stdout: fixture('audit-clean.json'), allowlistText: '[]', today: TODAY }).exitCode).toBe(2);
  });

  it('security/audit-allowlist.json itself is valid (expiry is npm run audit’s check)', () => {
    const text = readFileSync(path.join(__dirname, '..', '..', '..', 'security', 'audit-allowlist.json'), 'utf8');
    expect(parseAllowlist(text)).toEqual({ ok: true, entries: expect.any(Array) });
  });
});
