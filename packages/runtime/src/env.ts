import { z } from 'zod';

/**
 * Validates the environment once at start. Fails with the list of every bad key, so an operator
 * fixes them in one go rather than one restart per mistake.
 */
export function parseEnv<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const picked: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    // An empty variable means "unset": `FOO= npm start` should fall back to the default.
    picked[key] = value === '' ? undefined : value;
  }
  const parsed = schema.safeParse(picked);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.') || '(env)'}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** `true`/`false`/`1`/`0`/`yes`/`no`, for explicit opt-ins. Anything else is a config error. */
export const envBoolean = (defaultValue: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .optional()
    .transform((value) => (value === undefined ? defaultValue : ['true', '1', 'yes'].includes(value)));

export const envInt = (defaultValue: number, bounds: { min?: number; max?: number } = {}) =>
  z.coerce
    .number()
    .int()
    .min(bounds.min ?? Number.MIN_SAFE_INTEGER)
    .max(bounds.max ?? Number.MAX_SAFE_INTEGER)
    .default(defaultValue);

export const LogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info');

/**
 * A rule across keys (a pair set together, say) that runs even when some field failed: zod skips
 * an object's refinements after a failed transform, and the rule's key belongs in the list of bad
 * keys with the others. For `schema.check(...)`; the value's fields may then be unparsed.
 */
export const crossKeyCheck = <T>(check: (value: T, ctx: z.RefinementCtx<T>) => void) => z.superRefine<T>(check, { when: () => true });
