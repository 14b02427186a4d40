import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { App, Aspects } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { OPEN_SSH, SUPPRESSIONS, addNagSuppressions } from '../lib/nag';
import { TrnidledStack, TrnidledStackProps } from '../lib/trnidled-stack';
import { makeStack } from './helpers';

function findings(props: TrnidledStackProps): string[] {
  return findingsOf(makeStack(props, new App()));
}

function findingsOf(stack: TrnidledStack): string[] {
  addNagSuppressions(stack);
  Aspects.of(stack).add(new AwsSolutionsChecks({ verbose: true }));
  const a = Annotations.fromStack(stack);
  const rule = Match.stringLikeRegexp('AwsSolutions-');
  return [...a.findError('*', rule), ...a.findWarning('*', rule)].map(
    (m) => `${m.id}: ${String(m.entry.data).split('\n')[0]}`,
  );
}

describe('cdk-nag AwsSolutions', () => {
  it('has no unsuppressed finding on the default stack', () => {
    assert.deepEqual(findings({}), []);
  });

  it('has no unsuppressed finding with every option on', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trnidled-deb-'));
    const deb = path.join(dir, 'trnidled_0.1_amd64.deb');
    fs.writeFileSync(deb, '!<arch>\n');
    assert.deepEqual(
      findings({ cpuAlarm: true, debPath: deb, sshCidr: '198.51.100.0/24', ami: 'neuron-dlami', cpuCores: 4 }),
      [],
    );
  });

  it('has no unsuppressed finding with one user, and with three', () => {
    for (const users of [['alice'], ['alice', 'bob', 'carol']]) {
      const stack = makeStack({ users, notifyEmails: ['team@example.com'], maxHoldHours: 4, cpuAlarm: true }, new App());
      assert.equal(stack.machines.length, users.length);
      assert.deepEqual(findingsOf(stack), []);
    }
  });

  it('suppresses EC23 only when the user opens SSH to the world on purpose', () => {
    assert.deepEqual(findings({ sshCidr: '0.0.0.0/0' }), []);
    const app = new App();
    const stack = makeStack({ sshCidr: '203.0.113.7/32' }, app);
    addNagSuppressions(stack);
    assert.doesNotMatch(JSON.stringify(Template.fromStack(stack).toJSON()), /AwsSolutions-EC23/);
  });

  it('gives a written reason for every suppression', () => {
    for (const [p, list] of [...Object.entries(SUPPRESSIONS), ['Sg', [OPEN_SSH]] as const]) {
      for (const s of list) {
        assert.ok(s.reason.length >= 40, `${p} ${s.id}: reason too short`);
      }
    }
  });
});
