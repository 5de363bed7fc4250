import { checkParity } from '../parity';

/**
 * `npm run models:verify -- <package> [--providers cuda,cpu]`: compares a package's outputs in
 * onnxruntime-node with the PyTorch outputs the importer stored beside it. The importer runs it
 * before it writes a package; run it again on a GPU node to check the providers there.
 * Prints the report as JSON; exits 1 when an output differs.
 */
async function main(argv: string[]): Promise<number> {
  const dir = argv.find((a) => !a.startsWith('--'));
  const at = argv.indexOf('--providers');
  const providers = at >= 0 ? (argv[at + 1] ?? '').split(',').filter(Boolean) : ['cpu'];
  if (!dir) {
    process.stderr.write('usage: npm run models:verify -- <model package folder> [--providers cuda,cpu]\n');
    return 2;
  }
  try {
    const report = await checkParity(dir, { executionProviders: providers });
    process.stdout.write(`${JSON.stringify(report, null, 1)}\n`);
    return report.ok ? 0 : 1;
  } catch (err) {
    process.stderr.write(`models:verify: ${(err as Error).message}\n`);
    return 2;
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code));
