import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as main from './index';
import * as testing from './testing';

/**
 * The split between `@talkie/faces` (what services load) and `@talkie/faces/testing` (Talkie's
 * synthetic face package and fixture videos): services must not pull test fixtures in, and faces
 * must not need `@talkie/demo-model` at run time (issue 19).
 */
const PACKAGE = path.resolve(__dirname, '..');
const FIXTURE_EXPORTS = ['writeSyntheticFaceModels', 'syntheticFaceManifest', 'renderMovingMouth', 'renderTwoFaces', 'syntheticMeanFace', 'GRID_MEAN_FACE_FIXTURE'];

/** Every non-test source file of the package, relative to src/. */
function sources(dir = path.join(PACKAGE, 'src')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path.relative(path.join(PACKAGE, 'src'), full)] : [];
  });
}

describe('@talkie/faces entry points', () => {
  it('exports the synthetic fixtures from testing only', () => {
    for (const name of FIXTURE_EXPORTS) {
      expect([name, name in testing]).toEqual([name, true]);
      expect([name, name in main]).toEqual([name, false]);
    }
    // the tracker itself stays on the main entry point
    expect(typeof main.loadMouthTracker).toBe('function');
  });

  it('lists demo-model as a development dependency only', () => {
    const pkg = JSON.parse(readFileSync(path.join(PACKAGE, 'package.json'), 'utf8'));
    expect(Object.keys(pkg.dependencies)).not.toContain('@talkie/demo-model');
    expect(Object.keys(pkg.devDependencies)).toContain('@talkie/demo-model');
  });

  it('imports demo-model and the fixtures nowhere services reach', () => {
    const offenders = sources().filter((file) => {
      if (file === 'testing.ts' || file.startsWith(`synthetic${path.sep}`)) return false;
      const text = readFileSync(path.join(PACKAGE, 'src', file), 'utf8');
      // cli/grid-mean-face.ts rebuilds the committed GRID mean-face fixture: a developer tool
      const fixtureImport = file !== path.join('cli', 'grid-mean-face.ts') && /from '\.{1,2}\/(?:\.\.\/)*synthetic\//.test(text);
      return text.includes("'@talkie/demo-model'") || fixtureImport;
    });
    expect(offenders).toEqual([]);
  });

  it('resolves @talkie/faces/testing for node as well as for jest', () => {
    // jest maps the subpath to src/testing.ts; node (and tsc, moduleResolution "node") find the
    // package's testing.js / testing.d.ts stubs over dist/
    const resolved = execFileSync(process.execPath, ['-p', "require.resolve('@talkie/faces/testing')"], { cwd: PACKAGE, encoding: 'utf8' }).trim();
    expect(path.relative(PACKAGE, resolved)).toBe('testing.js');
    expect(readFileSync(path.join(PACKAGE, 'testing.js'), 'utf8')).toContain("require('./dist/testing')");
    expect(readFileSync(path.join(PACKAGE, 'testing.d.ts'), 'utf8')).toContain("from './dist/testing'");
  });
});
