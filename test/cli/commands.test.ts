// The CLI's command manifest: each group lists exactly the commands its module registers, so a run
// that names a command imports only that group's module.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { commandGroups, groupsFor } from '../../src/cli/commands/index.js';
import { createProgram } from '../../src/cli/program.js';

const quiet = { out: () => {}, err: () => {} };

describe('strata command groups', () => {
  test('every group lists exactly the commands its module registers, each name once', async () => {
    const seen = new Set<string>();
    for (const [name, group] of Object.entries(commandGroups)) {
      const program = new Command();
      (await group.load())(program, quiet);
      const registered = program.commands.map((c) => c.name());
      assert.deepEqual([...group.commands].sort(), registered.sort(), `commands/index.ts: group '${name}' registers ${registered.join(', ')}`);
      for (const c of registered) {
        assert.ok(!seen.has(c), `'${c}' is registered twice`);
        seen.add(c);
      }
    }
  });

  test('a run loads the group of the command it names; help, typos and no command load all', async () => {
    const all = Object.values(commandGroups);
    for (const group of all) for (const c of group.commands) assert.deepEqual(groupsFor(['node', 'strata', c, '--json', 'x']), [group]);
    for (const argv of [[], ['--help'], ['help', 'generate'], ['genrate'], ['-V']]) assert.equal(groupsFor(['node', 'strata', ...argv]).length, all.length, argv.join(' '));
    const one = await createProgram(quiet, ['node', 'strata', 'complete', '--help']);
    assert.deepEqual(one.commands.map((c) => c.name()), [...commandGroups.tasks.commands]);
    const every = await createProgram(quiet);
    assert.equal(every.commands.length, all.reduce((n, g) => n + g.commands.length, 0));
  });
});
