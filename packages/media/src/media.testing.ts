import { TalkieError } from '@talkie/contracts';

/**
 * The error `promise` rejects with, checked to be a `type` (TalkieError unless told); a promise that
 * resolves fails the test. Shared by the media tests (not public API).
 */
export async function rejection<E extends Error = TalkieError>(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => E = TalkieError as unknown as abstract new (...args: never[]) => E,
): Promise<E> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(type);
    return err as E;
  }
  throw new Error('expected a rejection');
}
