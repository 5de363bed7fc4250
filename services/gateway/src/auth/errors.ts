/** A bearer token that failed verification, whatever the reason (the client always gets one 401). */
export class InvalidTokenError extends Error {
  override name = 'InvalidTokenError';
}
