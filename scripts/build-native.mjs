#!/usr/bin/env node
// Builds the strata_native addon with npm's own node-gyp (run by `npm install` and by
// `npm run build:native`). Never downloads anything: Node's headers must already be on disk.
// A failed build is not an install failure: Strata then runs on the pure-TypeScript reference
// backend, and this script says so in one line (the full log is kept in build/native-build.log).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const logPath = path.join(root, 'build', 'native-build.log');

function warn(reason) {
  console.warn(
    `strata: native addon could not be built (${reason}); ` +
      'Strata will run on the pure-TypeScript reference backend',
  );
}

// Command that runs node-gyp: npm's setting, then the copy bundled with npm, then npx (local only).
function nodeGypCommand() {
  const configured = process.env.npm_config_node_gyp;
  if (configured && existsSync(configured)) return [process.execPath, [configured]];
  const bin = path.dirname(process.execPath);
  const bundled = [
    path.join(bin, '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
    path.join(bin, 'node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  ];
  for (const candidate of bundled) {
    if (existsSync(candidate)) return [process.execPath, [candidate]];
  }
  return [process.platform === 'win32' ? 'npx.cmd' : 'npx', ['--no', 'node-gyp']];
}

// --nodedir argument, or null when node-gyp's own header cache already holds this version.
// Returns undefined when no headers are on disk (node-gyp would try to download them).
function nodedirArgs() {
  const configured = process.env.npm_config_nodedir;
  if (configured) return [`--nodedir=${configured}`];
  for (const prefix of ['/usr', path.resolve(path.dirname(process.execPath), '..')]) {
    if (existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) return [`--nodedir=${prefix}`];
  }
  const devdir = process.env.npm_config_devdir || path.join(os.homedir(), '.cache', 'node-gyp');
  const version = process.version.slice(1);
  if (existsSync(path.join(devdir, version, 'include', 'node', 'node_api.h'))) return [];
  return undefined;
}

function main() {
  if (process.env.STRATA_SKIP_NATIVE === '1') {
    warn('STRATA_SKIP_NATIVE=1');
    return;
  }
  const headers = nodedirArgs();
  if (headers === undefined) {
    warn('no Node.js headers on disk; set npm_config_nodedir to a Node source or install prefix');
    return;
  }
  const [command, prefixArgs] = nodeGypCommand();
  const args = [...prefixArgs, 'rebuild', '-j', '2', ...headers];
  const result = spawnSync(command, args, {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, npm_config_offline: 'true' },
  });
  const log = `$ ${command} ${args.join(' ')}\n${result.stdout ?? ''}${result.stderr ?? ''}`;
  try {
    mkdirSync(path.dirname(logPath), { recursive: true });
    writeFileSync(logPath, log);
  } catch {
    // the log is a convenience; a read-only checkout must not fail the install
  }
  if (result.error) {
    warn(`could not run node-gyp: ${result.error.message}`);
    return;
  }
  if (result.status !== 0) {
    const firstError = log.split('\n').find((line) => /\berror\b/i.test(line) && !line.startsWith('$'));
    const detail = firstError ? `: ${firstError.trim().slice(0, 200)}` : '';
    warn(`node-gyp exited with code ${result.status}${detail}; see ${path.relative(root, logPath)}`);
    return;
  }
  const addon = path.join(root, 'build', 'Release', 'strata_native.node');
  if (!existsSync(addon)) {
    warn(`node-gyp succeeded but ${path.relative(root, addon)} is missing`);
    return;
  }
  console.log(`strata: native addon built (${path.relative(root, addon)})`);
}

try {
  main();
} catch (error) {
  warn(error instanceof Error ? error.message : String(error));
}
process.exitCode = 0;
