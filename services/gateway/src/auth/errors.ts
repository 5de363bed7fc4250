/** A bearer token that failed verification, whatever the reason (the client always gets one 401). */
export class InvalidTokenError extends Error {
  override name = 'InvalidTokenError';
}

/**
 * A token whose signature, issuer and audience checked out, refused for a reason its holder may
 * know (the answer's code says it): it lives longer than JWT_MAX_TTL_S (or has no `iat`), or it
 * was revoked. Someone without the key never gets this far, so it tells a prober nothing.
 */
export class TokenRefusedError extends InvalidTokenError {
  override name = 'TokenRefusedError';
  constructor(readonly code: 'token_lifetime_exceeded' | 'token_revoked', message: string) {
    super(message);
  }
}
