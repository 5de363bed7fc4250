export * from './audit-policy';
export * from './sbom';
export { npmCommand, repoRoot } from './npm';
