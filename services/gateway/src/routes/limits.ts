import { Router, type Request, type Response } from 'express';
import type { MediaLimits } from '@talkie/media';
import { requireScope } from '../auth/authenticate';
import { CONTAINER_OF_EXTENSION } from '../upload/upload-storage';

/**
 * `GET /v1/limits`: what an upload may be, so a client (the web console) can refuse a file that
 * would be refused anyway before sending a byte of it. The gateway still checks every upload.
 */
export function limitsRoutes(deps: { maxUploadBytes: number; mediaLimits: MediaLimits }): Router {
  const router = Router();
  const body = {
    max_upload_bytes: deps.maxUploadBytes,
    max_duration_s: deps.mediaLimits.maxDurationS,
    max_frame_pixels: deps.mediaLimits.maxFramePixels,
    max_frames: deps.mediaLimits.maxFrames,
    extensions: Object.keys(CONTAINER_OF_EXTENSION),
  };
  router.get('/', requireScope('jobs:read'), (_req: Request, res: Response) => {
    res.json(body);
  });
  return router;
}
