#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { Scope } from '@talkie/contracts';
import { createRedis } from '@talkie/queue';
import { ApiKeyStore } from '../auth/api-keys';

const USAGE = `usage:
  npm run keys -- create --tenant acme --scopes jobs:read,jobs:write [--name "CI uploader"]
  npm run keys -- list
  npm run keys -- revoke <id>

API keys are stored in Redis (REDIS_URL, default redis://127.0.0.1:6379) as hashes only: the key
is printed once, at creation. Scopes: ${Scope.options.join(', ')}.`;

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { tenant: { type: 'string' }, scopes: { type: 'string' }, name: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const [command, arg] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', 'worker');
  const keys = new ApiKeyStore(redis);
  try {
    switch (command) {
      case 'create': {
        const scopes = (values.scopes ?? '').split(',').map((s) => s.trim()).filter(Boolean);
        const bad = scopes.filter((s) => !Scope.safeParse(s).success);
        if (!values.tenant || !scopes.length || bad.length) {
          console.error(bad.length ? `unknown scope(s): ${bad.join(', ')}` : USAGE);
          return 2;
        }
        const { key, info } = await keys.create({ tenant: values.tenant, scopes: scopes as Scope[], name: values.name });
        console.error(`created key ${info.id} for tenant ${info.tenant} (${info.scopes.join(' ')}); it is shown once, store it now:`);
        console.log(key);
        return 0;
      }
      case 'list':
        for (const k of await keys.list()) {
          console.log([k.id, k.tenant, k.scopes.join(','), k.created_at, k.revoked_at ? `revoked ${k.revoked_at}` : 'active', k.name ?? ''].join('\t'));
        }
        return 0;
      case 'revoke':
        if (!arg) {
          console.error(USAGE);
          return 2;
        }
        if (!(await keys.revoke(arg))) {
          console.error(`no key ${arg}`);
          return 1;
        }
        console.error(`revoked ${arg}`);
        return 0;
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
    console.error(`keys: ${err.message}`);
    process.exit(1);
  },
);
