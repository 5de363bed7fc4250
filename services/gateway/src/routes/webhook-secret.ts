import { Router, type Request, type Response } from 'express';
import { requireScope } from '../auth/authenticate';

/**
 * `POST /v1/webhooks/secret`: creates or rotates the tenant's signing secret and returns it once.
 * The previous secret keeps signing beside the new one for the overlap window, so receivers can
 * switch without missing a delivery.
 */
export function webhookSecretRoutes(deps: { secrets: { rotate(tenant: string): Promise<string> }; overlapS: number }): Router {
  const router = Router();
  router.post('/secret', requireScope('jobs:write'), async (req: Request, res: Response) => {
    const secret = await deps.secrets.rotate(req.principal!.tenant);
    req.log.info('webhook secret rotated'); // never the secret itself
    res.status(201).json({ secret, previous_secret_valid_for_s: deps.overlapS });
  });
  return router;
}
