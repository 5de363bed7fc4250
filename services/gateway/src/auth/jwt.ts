import type { NextFunction, Request, Response } from 'express';
import jwt from 'jsonwebtoken';
import { sendError } from '../http/errors';

export interface Principal {
  /** owner of the jobs this caller creates and may read */
  tenant: string;
  subject: string;
}

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
  }
}

/**
 * Bearer JWTs signed with HS256 and `JWT_SECRET`. The algorithm is pinned (no `none`, no
 * algorithm confusion), `exp` is required, and tokens are read only from the Authorization header,
 * never from a query string, where they would end up in proxy logs.
 */
export function requireJwt(secret: string) {
  const key = Buffer.from(secret, 'utf8');
  return (req: Request, res: Response, next: NextFunction): void => {
    const header = req.headers.authorization;
    const match = header ? /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/.exec(header) : null;
    if (!match) return sendError(req, res, 'unauthorized');
    let claims: jwt.JwtPayload;
    try {
      const decoded = jwt.verify(match[1], key, { algorithms: ['HS256'], clockTolerance: 30 });
      if (typeof decoded === 'string') throw new Error('payload is not an object');
      claims = decoded;
    } catch {
      return sendError(req, res, 'unauthorized');
    }
    const tenantClaim = typeof claims.tenant === 'string' ? claims.tenant : undefined;
    if (typeof claims.exp !== 'number' || typeof claims.sub !== 'string' || !claims.sub) {
      return sendError(req, res, 'unauthorized');
    }
    req.principal = { subject: claims.sub, tenant: tenantClaim || claims.sub };
    next();
  };
}
