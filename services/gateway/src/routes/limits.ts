import { Router, type Request, type Response } from 'express';
import { UPLOAD_EXTENSIONS } from '@talkie/contracts';
import type { MediaLimits } from '@talkie/media';
import type { CorrectionCapability } from '@talkie/queue';
import { requireScope } from '../auth/authenticate';

/**
 * `GET /v1/limits`: what an upload may be, so a client (the web console) can refuse a file that
 * would be refused anyway before sending a byte of it, and what this gateway can do with it:
 * whether LLM correction is available (a postprocess service with an LLM announced itself) and
 * whether the caller's jobs get it when a submit does not say. The gateway still checks every upload.
 */
export function limitsRoutes(deps: {
  maxUploadBytes: number;
  mediaLimits: MediaLimits;
  correction: Pick<CorrectionCapability, 'available'>;
  correctByDefault?: (tenant: string) => boolean;
}): Router {
  const router = Router();
  const body = {
    max_upload_bytes: deps.maxUploadBytes,
    max_duration_s: deps.mediaLimits.maxDurationS,
    max_frame_pixels: deps.mediaLimits.maxFramePixels,
    max_frames: deps.mediaLimits.maxFrames,
    extensions: UPLOAD_EXTENSIONS,
  };
  router.get('/', requireScope('jobs:read'), async (req: Request, res: Response) => {
    const available = await deps.correction.available();
    res.json({ ...body, correction: { available, by_default: deps.correctByDefault?.(req.principal!.tenant) ?? false } });
  });
  return router;
}
