import { findTorchPython, runImporter } from '../importer';

/**
 * `npm run models:import -- --checkpoint model.pth --units units.txt --out models/avsr [...]`: the
 * importer (export_auto_avsr.py) on a Python that has PyTorch, after `npm run build` has built the
 * parity check it ends with. Every option is the script's (`--help`).
 */
async function main(argv: string[]): Promise<number> {
  const python = await findTorchPython();
  if (!python) {
    process.stderr.write('models:import: no Python with PyTorch found (Debian: apt-get install python3-torch; or set PYTHON)\n');
    return 1;
  }
  const result = await runImporter(python, argv);
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  return result.code;
}

main(process.argv.slice(2)).then((code) => process.exit(code));
