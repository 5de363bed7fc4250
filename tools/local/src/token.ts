#!/usr/bin/env node
import { parseArgs } from 'node:util';
import jwt from 'jsonwebtoken';
import { jwtSecret } from './state';
import { tokenSpec } from './token-claims';

const USAGE = `usage: npm run token -- --sub alice [--tenant acme] [--scope "jobs:read jobs:write"] [--ttl 24h]

Prints a bearer token (HS256 JWT, with iat and exp) signed with JWT_SECRET, or with the secret that
\`npm start\` keeps in .talkie/jwt-secret. --ttl takes a number of seconds or a span like 30m, 24h,
1d, up to JWT_MAX_TTL_S (default 86400, 24 h), the longest lifetime the gateway accepts. With
JWT_TENANT_CLAIM set, --tenant goes into that claim and is required.`;

function main() {
  const { values } = parseArgs({
    options: {
      sub: { type: 'string' },
      tenant: { type: 'string' },
      scope: { type: 'string', default: 'jobs:read jobs:write' },
      ttl: { type: 'string', default: '24h' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || !values.sub) {
    console.log(USAGE);
    process.exit(values.help ? 0 : 2);
  }
  const { claims, expiresInS } = tokenSpec({ sub: values.sub, tenant: values.tenant, scope: values.scope!, ttl: values.ttl! }, process.env);
  const { secret } = jwtSecret(process.env, false);
  const token = jwt.sign(claims, secret, { algorithm: 'HS256', subject: values.sub, expiresIn: expiresInS });
  process.stdout.write(`${token}\n`);
}

try {
  main();
} catch (err) {
  console.error(`token: ${(err as Error).message}`);
  process.exit(1);
}
