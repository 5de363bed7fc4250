#!/usr/bin/env node
import { parseArgs } from 'node:util';
import jwt from 'jsonwebtoken';
import { jwtSecret } from './state';

const USAGE = `usage: npm run token -- --sub alice [--tenant acme] [--scope "jobs:read jobs:write"] [--ttl 24h]

Prints a bearer token (HS256 JWT) signed with JWT_SECRET, or with the secret that \`npm start\`
keeps in .talkie/jwt-secret. --ttl takes a number of seconds or a span like 30m, 24h, 7d.`;

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
  const { secret } = jwtSecret(process.env, false);
  const ttl = /^\d+$/.test(values.ttl!) ? Number(values.ttl) : values.ttl!;
  const claims: Record<string, string> = { scope: values.scope! };
  if (values.tenant) claims.tenant = values.tenant;
  const token = jwt.sign(claims, secret, { algorithm: 'HS256', subject: values.sub, expiresIn: ttl as jwt.SignOptions['expiresIn'] });
  process.stdout.write(`${token}\n`);
}

try {
  main();
} catch (err) {
  console.error(`token: ${(err as Error).message}`);
  process.exit(1);
}
