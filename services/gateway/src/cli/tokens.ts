#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { createRedis } from '@talkie/queue';
import { revokedBeforeS, TokenRevocations, type RevocationKind } from '../auth/token-revocations';

const USAGE = `usage:
  npm run tokens -- revoke --sub alice [--before 2025-01-31T12:00:00Z]
  npm run tokens -- revoke --tenant acme [--before ...]
  npm run tokens -- list
  npm run tokens -- clear --sub alice | --tenant acme

Bearer tokens (JWTs) cannot be recalled one by one, so they are revoked by time: every token of
the subject (sub claim) or tenant issued (iat claim) before --before, by default every token issued
up to now, is refused with 401 token_revoked from then on; tokens issued later work. Every gateway
sees it within 5 s. Stored in Redis (REDIS_URL, default redis://127.0.0.1:6379). API keys are
revoked with \`npm run keys -- revoke <id>\`.`;

const iso = (s: number) => new Date(s * 1000).toISOString();

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { sub: { type: 'string' }, tenant: { type: 'string' }, before: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const [command] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const target = (): { kind: RevocationKind; id: string } | undefined => {
    if ((values.sub === undefined) === (values.tenant === undefined)) return undefined;
    return values.sub !== undefined ? { kind: 'sub', id: values.sub } : { kind: 'tenant', id: values.tenant! };
  };
  if (command !== 'list' && !target()) {
    console.error(`name exactly one of --sub and --tenant\n\n${USAGE}`);
    return 2;
  }
  let beforeS = revokedBeforeS(Date.now());
  if (values.before !== undefined && values.before !== 'now') {
    const at = Date.parse(values.before);
    if (Number.isNaN(at)) {
      console.error(`--before: not a time: ${values.before} (an ISO 8601 time, e.g. 2025-01-31T12:00:00Z, or "now")`);
      return 2;
    }
    // A time ahead would refuse tokens not issued yet, including the ones meant to replace these.
    if (at > Date.now() + 60_000) {
      console.error('--before: that is in the future; revoke what exists now, and stop the identity provider issuing more');
      return 2;
    }
    beforeS = Math.ceil(at / 1000);
  }

  const redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', 'worker');
  const revocations = new TokenRevocations(redis, { cacheTtlMs: 0 });
  try {
    switch (command) {
      case 'revoke': {
        const { kind, id } = target()!;
        const inForce = await revocations.revoke(kind, id, beforeS);
        console.error(
          inForce > beforeS
            ? `${kind} ${id}: tokens issued before ${iso(inForce)} were already revoked (a later time than asked); nothing changed`
            : `${kind} ${id}: tokens issued before ${iso(inForce)} are revoked`,
        );
        return 0;
      }
      case 'list':
        for (const r of await revocations.list()) console.log([r.kind, r.id, iso(r.revoked_before)].join('\t'));
        return 0;
      case 'clear': {
        const { kind, id } = target()!;
        if (!(await revocations.clear(kind, id))) {
          console.error(`no revocation for ${kind} ${id}`);
          return 1;
        }
        console.error(`${kind} ${id}: revocation lifted (its unexpired tokens work again)`);
        return 0;
      }
      default:
        console.error(USAGE);
        return 2;
    }
  } finally {
    redis.disconnect();
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`tokens: ${err.message}`);
    process.exit(1);
  },
);
