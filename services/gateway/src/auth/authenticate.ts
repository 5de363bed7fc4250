import type { NextFunction, Request, Response } from 'express';
import type { ErrorCode, Principal, Scope } from '@talkie/contracts';
import { TalkieError } from '@talkie/contracts';
import { sendError } from '../http/errors';
import type { ApiKeyStore } from './api-keys';
import { InvalidTokenError, TokenRefusedError } from './errors';
import type { JwtVerifier } from './jwt-verifier';

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
  }
}

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/;

/**
 * `Authorization: Bearer <JWT>` or `X-API-Key: <key>`, and nothing else: credentials in a query
 * string would end up in proxy logs and browser history, so they are never read from there.
 * A failure is `401 unauthorized`, whatever went wrong, so probing learns nothing; except that a
 * token whose signature checked out but which lives too long or was revoked gets its own code
 * (`token_lifetime_exceeded`, `token_revoked`), which only a holder of a signed token can see.
 */
export function authenticate(deps: { jwt?: JwtVerifier; apiKeys?: ApiKeyStore; onFailure?: (reason: string) => void }) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const fail = (reason: string, code: ErrorCode = 'unauthorized') => {
      deps.onFailure?.(reason);
      req.log?.info({ auth_failure: reason }, 'authentication failed');
      sendError(req, res, code);
    };
    const header = req.headers.authorization;
    const apiKey = req.headers['x-api-key'];
    if (header && apiKey) return fail('two_credentials');
    if (typeof apiKey === 'string') {
      if (!deps.apiKeys) return fail('api_keys_disabled');
      const principal = await deps.apiKeys.verify(apiKey);
      if (!principal) return fail('bad_api_key');
      req.principal = principal;
      return next();
    }
    if (!header) return fail('missing');
    const match = BEARER.exec(header);
    if (!match) return fail('malformed');
    if (!deps.jwt) return fail('jwt_disabled');
    try {
      req.principal = await deps.jwt.verify(match[1]);
    } catch (err) {
      if (err instanceof TokenRefusedError) return fail(err.code === 'token_revoked' ? 'token_revoked' : 'token_lifetime', err.code);
      // Redis unreachable while checking revocations: neither yes nor no
      if (err instanceof TalkieError) throw err;
      if (err instanceof InvalidTokenError || (err as Error).name === 'SigningKeyNotFoundError') return fail('bad_token');
      if ((err as Error).name?.startsWith('Jwks')) throw new TalkieError('service_unavailable', { cause: err });
      return fail('bad_token');
    }
    next();
  };
}

/**
 * True when the request carries a bearer token the verifier accepted recently. Such a request is no
 * credential guess, so the per-address failure limiter need not touch Redis for it.
 */
export function knownCredential(jwt: JwtVerifier | undefined) {
  return (req: Request): boolean => {
    if (!jwt || req.headers['x-api-key'] !== undefined) return false;
    const match = BEARER.exec(req.headers.authorization ?? '');
    return match !== null && jwt.knows(match[1]);
  };
}

/** `403` unless the caller's credentials carry `scope` (or `admin`). */
export function requireScope(scope: Scope) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const scopes = req.principal?.scopes;
    if (!scopes || !(scopes.has(scope) || scopes.has('admin'))) return sendError(req, res, 'forbidden');
    next();
  };
}
