/**
 * `npm run sbom`: one CycloneDX SBOM per service image, written to sbom/<service>.cdx.json.
 *
 * Each is `npm sbom --sbom-format cyclonedx --omit dev --workspace services/<service>` at the
 * repository root: npm 11 selects that workspace and everything it depends on at run time
 * (the @talkie/* workspaces it links, transitively, and their npm packages), which is what the
 * service's image installs with `npm ci --omit=dev --workspace=services/<service>`. The root
 * package.json needs a "version" for this (npm builds a purl for the root component).
 *
 *   npm run sbom                 # sbom/gateway.cdx.json, sbom/worker.cdx.json
 *   npm run sbom -- --out <dir>  # elsewhere
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { npmCommand, repoRoot } from './npm';

export interface CycloneDxComponent {
  'bom-ref'?: string;
  type: string;
  name: string;
  group?: string;
  version: string;
  scope?: string;
  purl?: string;
}

export interface CycloneDxBom {
  bomFormat: 'CycloneDX';
  specVersion: string;
  metadata: { timestamp?: string; component?: CycloneDxComponent; tools?: unknown };
  components: CycloneDxComponent[];
  dependencies?: { ref: string; dependsOn?: string[] }[];
}

/** The services with an image: every services/<name> folder with a package.json. */
export function listServices(root = repoRoot()): string[] {
  const dir = path.join(root, 'services');
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(path.join(dir, entry.name, 'package.json')))
    .map((entry) => entry.name)
    .sort();
}

/** The package a component stands for, from its purl (npm names workspace links by folder). */
export function componentPackage(component: CycloneDxComponent): { name: string; version: string } | undefined {
  const match = /^pkg:npm\/(.+)@([^@?#]+)(?:[?#].*)?$/.exec(component.purl ?? '');
  if (!match) return undefined;
  return { name: decodeURIComponent(match[1]), version: decodeURIComponent(match[2]) };
}

/** Runs npm sbom for one service; throws with npm's own error when it fails. */
export function generateSbom(service: string, root = repoRoot()): CycloneDxBom {
  const [command, ...prefix] = npmCommand();
  const args = [...prefix, 'sbom', '--sbom-format', 'cyclonedx', '--omit', 'dev', '--workspace', `services/${service}`];
  const run = spawnSync(command, args, { cwd: root, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: 120_000 });
  const errors = (run.stderr ?? '')
    .split('\n')
    .filter((line) => /^npm error/.test(line) && !/complete log of this run/.test(line))
    .join('\n');
  if (run.error || run.status !== 0) {
    throw new Error(`npm sbom for services/${service} failed (${run.error?.message ?? `exit ${run.status}`})${errors ? `:\n${errors}` : ''}`);
  }
  const bom = JSON.parse(run.stdout) as CycloneDxBom;
  if (bom.bomFormat !== 'CycloneDX' || !Array.isArray(bom.components)) {
    throw new Error(`npm sbom for services/${service} did not print a CycloneDX document`);
  }
  if (!bom.components.some((c) => componentPackage(c)?.name === `@talkie/${service}`)) {
    throw new Error(`npm sbom for services/${service} does not list @talkie/${service}: the workspace selection did not apply`);
  }
  return bom;
}

export function writeSboms(options: { root?: string; outDir?: string; services?: string[] } = {}): { service: string; file: string; components: number }[] {
  const root = options.root ?? repoRoot();
  const outDir = options.outDir ?? path.join(root, 'sbom');
  mkdirSync(outDir, { recursive: true });
  return (options.services ?? listServices(root)).map((service) => {
    const bom = generateSbom(service, root);
    const file = path.join(outDir, `${service}.cdx.json`);
    writeFileSync(file, `${JSON.stringify(bom, null, 2)}\n`);
    return { service, file, components: bom.components.length };
  });
}

function main(argv: string[]): number {
  let outDir: string | undefined;
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--out' && argv[i + 1]) outDir = path.resolve(argv[++i]);
    else {
      console.error(`unknown argument ${JSON.stringify(argv[i])}\nusage: npm run sbom [-- --out <dir>]`);
      return 2;
    }
  }
  try {
    for (const written of writeSboms({ outDir })) {
      console.log(`sbom: ${path.relative(process.cwd(), written.file) || written.file} (${written.components} components)`);
    }
    return 0;
  } catch (err) {
    console.error(`sbom: ${(err as Error).message}`);
    return 1;
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
