// Builds dist/ for `npm test`: the JavaScript every time (about 2 s), the type declarations only
// when a file they are built from is newer than they are (about 8 s more; only the type tests read
// them). `npm run build` always builds both from an empty dist/.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const declarations = join(root, 'dist', 'index.d.ts');
const inputs = ['src', 'workers', 'package.json', 'tsconfig.json', 'tsup.config.ts'];

/** The newest modification time among `path` and everything below it. */
function newest(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce((latest, name) => Math.max(latest, newest(join(path, name))), stat.mtimeMs);
}

const stale = !existsSync(declarations) || Math.max(...inputs.map((input) => newest(join(root, input)))) > statSync(declarations).mtimeMs;
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
execFileSync(npm, ['run', stale ? 'build' : 'build:js', '--silent'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
