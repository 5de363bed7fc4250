/**
 * The SBOMs that `npm run sbom` writes, generated for real with npm sbom: each service's lists
 * what its image installs, at the versions installed here, and nothing of the other service's.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { componentPackage, type CycloneDxBom, listServices, writeSboms } from './sbom';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const installed = (pkg: string) => (JSON.parse(readFileSync(path.join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;

describe('npm run sbom', () => {
  let dir: string;
  const boms: Record<string, CycloneDxBom> = {};
  const packages = (service: string) => boms[service].components.map((c) => componentPackage(c)).filter(Boolean) as { name: string; version: string }[];
  const versionsOf = (service: string, name: string) => packages(service).filter((p) => p.name === name).map((p) => p.version);

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'talkie-sbom-'));
    const written = writeSboms({ outDir: dir, services: ['gateway', 'worker'] });
    expect(written.map((w) => path.basename(w.file))).toEqual(['gateway.cdx.json', 'worker.cdx.json']);
    for (const { service, file } of written) boms[service] = JSON.parse(readFileSync(file, 'utf8')) as CycloneDxBom;
  }, 120_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds the services (npm run sbom writes one file for each)', () => {
    expect(listServices(ROOT)).toEqual(expect.arrayContaining(['gateway', 'worker']));
  });

  it.each(['gateway', 'worker'])('%s: a CycloneDX document that lists the service itself', (service) => {
    expect(boms[service]).toMatchObject({ bomFormat: 'CycloneDX', specVersion: expect.stringMatching(/^1\./) });
    expect(versionsOf(service, `@talkie/${service}`)).toEqual(['0.1.0']);
  });

  it('worker: lists onnxruntime-node and bullmq at their installed versions', () => {
    expect(versionsOf('worker', 'onnxruntime-node')).toEqual([installed('onnxruntime-node')]);
    expect(versionsOf('worker', 'bullmq')).toEqual([installed('bullmq')]);
    // reached through workspaces: @talkie/inference brings onnxruntime-node
    expect(versionsOf('worker', '@talkie/inference')).toEqual(['0.1.0']);
  });

  it('gateway: lists express and bullmq, and no onnxruntime-node', () => {
    expect(versionsOf('gateway', 'express')).toEqual([installed('express')]);
    expect(versionsOf('gateway', 'bullmq')).toEqual([installed('bullmq')]);
    expect(packages('gateway').filter((p) => p.name.startsWith('onnxruntime'))).toEqual([]);
  });

  it('leaves out dev dependencies', () => {
    for (const service of ['gateway', 'worker']) {
      for (const dev of ['typescript', 'jest', 'turbo', '@types/node']) expect(versionsOf(service, dev)).toEqual([]);
    }
  });
});
