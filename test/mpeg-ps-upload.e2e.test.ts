import { readdir, readFile, writeFile } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { submit, waitForJob } from './support/client';
import { fixture } from './support/fixtures';
import { gridDir } from './support/shared-data';
import { ARTIFACTS, startStack, type Stack } from './support/stack';

/**
 * MPEG program streams (`.mpg`, the GRID corpus's format) go through the same magic-byte sniff
 * and bounded probe as the other containers, and the worker decodes them with the same allow-list:
 * a real GRID clip is accepted and read by the demo-model worker; a `.mpg` name on other bytes is
 * refused, and the refusal says what is accepted and how to convert.
 */
const GRID_CLIP = path.join(gridDir(), 'bbaf2n.mpg');

describe('MPEG-PS uploads (.mpg)', () => {
  let stack: Stack;
  let mp4NamedMpg: string;
  beforeAll(async () => {
    stack = await startStack({ name: 'mpeg-ps-upload' });
    const dir = path.join(ARTIFACTS, 'mpeg-ps');
    mkdirSync(dir, { recursive: true });
    mp4NamedMpg = path.join(dir, 'really-an-mp4.mpg');
    await writeFile(mp4NamedMpg, await readFile((await fixture('NOT MPEG')).file));
  }, 60_000);
  afterAll(() => stack?.stop());

  it('lists .mpg among the accepted extensions', async () => {
    const res = await fetch(`${stack.baseUrl}/v1/limits`, { headers: { authorization: `Bearer ${stack.token('alice')}` } });
    const limits = (await res.json()) as { extensions: string[]; correction: unknown };
    expect(limits.extensions).toEqual(expect.arrayContaining(['.mpg', '.mpeg']));
    // no postprocess service with an LLM in this stack
    expect(limits.correction).toEqual({ available: false, by_default: false });
  });

  it('accepts a GRID corpus clip (202) and the worker completes it', async () => {
    const created = await submit(stack.baseUrl, stack.token('alice'), GRID_CLIP);
    expect([created.status, created.body.status]).toEqual([202, 'queued']);
    expect(created.headers.get('location')).toBe(`/v1/jobs/${created.body.id}`);
    const job = await waitForJob(stack.baseUrl, stack.token('alice'), created.body.id, 90_000);
    expect(job.error).toBeUndefined();
    expect(job.status).toBe('completed');
    // 3 s of 25 fps MPEG-1 video: every frame decoded (the demo model reads no lips, so its text is not checked)
    expect(job.result).toMatchObject({ duration_s: 3, frames: 75, model: { name: 'talkie-demo-letters' } });
    const gatewayLog = await readFile(stack.logFile('gateway'), 'utf8');
    expect(gatewayLog).toMatch(/"container":"mpeg-ps"/);
  }, 120_000);

  it('refuses a .mpg name on other bytes with 415 unsupported_media_type, naming the accepted types and an ffmpeg line', async () => {
    // the completed job's upload may still be on its way out (the worker deletes it after the
    // record completes): the refusal must add nothing, whatever else goes meanwhile
    const uploads = () => readdir(path.join(stack.storageDir, 'uploads')).catch(() => [] as string[]);
    const before = await uploads();
    const res = await submit(stack.baseUrl, stack.token('alice'), mp4NamedMpg);
    expect(res.status).toBe(415);
    expect(res.body).toEqual({ error: { code: 'unsupported_media_type', message: expect.any(String), request_id: expect.any(String) } });
    const message = res.body.error!.message;
    expect(message).toMatch(/^The file content does not match its extension\. Accepted: \.mp4 \.mov \.webm \.mkv \.avi \.mpg \.mpeg\. To convert a video: ffmpeg -i /);
    expect(message).not.toMatch(/\/tmp|\/work|really-an-mp4/);
    const after = await uploads();
    expect(after.filter((name) => !before.includes(name))).toEqual([]);
  });
});
