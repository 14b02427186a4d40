import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { GetAWSDefaultServiceQuotaCommand, GetServiceQuotaCommand } from '@aws-sdk/client-service-quotas';
import { parseArgs } from '../bin/check-quota';
import { QuotaClient, checkQuota, formatReport } from '../lib/quota';

type Answer = number | Error;

function namedError(name: string, message = name): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

/** Stub Service Quotas client: applied values, then AWS defaults, per quota code. */
function stub(applied: Record<string, Answer>, defaults: Record<string, Answer> = {}) {
  const calls: string[] = [];
  const client: QuotaClient = {
    async send(command) {
      const input = command.input as { ServiceCode: string; QuotaCode: string };
      assert.equal(input.ServiceCode, 'ec2');
      const applies = command instanceof GetServiceQuotaCommand;
      assert.ok(applies || command instanceof GetAWSDefaultServiceQuotaCommand);
      calls.push(`${applies ? 'applied' : 'default'}:${input.QuotaCode}`);
      const answer = (applies ? applied : defaults)[input.QuotaCode];
      if (answer === undefined) throw namedError('NoSuchResourceException');
      if (answer instanceof Error) throw answer;
      return { Quota: { Value: answer } };
    },
  };
  return { client, calls };
}

describe('check-quota', () => {
  it('reads the Trn spot and on-demand quotas, counted in vCPUs', async () => {
    const { client, calls } = stub({ 'L-6B0D517C': 16, 'L-2C3B7624': 8 });
    const r = await checkQuota({ client, region: 'us-east-2' });
    assert.deepEqual(calls, ['applied:L-6B0D517C', 'applied:L-2C3B7624']);
    assert.equal(r.vcpusPerInstance, 8);
    assert.equal(r.lines[0].quota.name, 'All Trn Spot Instance Requests');
    assert.equal(r.lines[0].instancesThatFit, 2);
    assert.equal(r.lines[1].quota.name, 'Running On-Demand Trn instances');
    assert.equal(r.lines[1].instancesThatFit, 1);
    assert.ok(r.ok);
    const text = formatReport(r);
    assert.match(text, /All Trn Spot Instance Requests \(L-6B0D517C\): 16 vCPUs/);
    assert.match(text, /fits 2 x trn1\.2xlarge/);
    assert.match(text, /^OK: /m);
    assert.doesNotMatch(text, /request-service-quota-increase/);
  });

  it('prints the exact request command when the spot quota is 0', async () => {
    const { client } = stub({ 'L-6B0D517C': 0, 'L-2C3B7624': 0 });
    const r = await checkQuota({ client, region: 'us-east-2' });
    assert.equal(r.ok, false);
    const text = formatReport(r);
    assert.ok(
      text.includes(
        'aws service-quotas request-service-quota-increase --region us-east-2 ' +
          '--service-code ec2 --quota-code L-6B0D517C --desired-value 8',
      ),
      text,
    );
    assert.match(text, /NOT ENOUGH spot quota/);
    assert.match(text, /Dedicated trn1 Hosts.*wrong|spot cannot use/);
  });

  it('falls back to the AWS default when no value is applied', async () => {
    const { client, calls } = stub({}, { 'L-6B0D517C': 0, 'L-2C3B7624': 0 });
    const r = await checkQuota({ client, region: 'eu-north-1' });
    assert.deepEqual(calls, [
      'applied:L-6B0D517C',
      'default:L-6B0D517C',
      'applied:L-2C3B7624',
      'default:L-2C3B7624',
    ]);
    assert.equal(r.lines[0].source, 'default');
    assert.match(formatReport(r), /AWS default/);
  });

  it('sizes the request for several instances and other types', async () => {
    const { client } = stub({ 'L-6B0D517C': 128, 'L-2C3B7624': 0 });
    const r = await checkQuota({ client, region: 'us-west-2', instanceType: 'trn1.32xlarge', count: 2 });
    assert.equal(r.lines[0].instancesThatFit, 1);
    assert.equal(r.ok, false);
    assert.match(r.lines[0].requestCommand, /--quota-code L-6B0D517C --desired-value 256$/);
    await assert.rejects(checkQuota({ client, region: 'us-west-2', instanceType: 'x1.big' }), /--vcpus/);
  });

  it('reports AccessDenied instead of crashing', async () => {
    const { client } = stub({
      'L-6B0D517C': namedError('AccessDeniedException', 'not authorized'),
      'L-2C3B7624': 8,
    });
    const r = await checkQuota({ client, region: 'us-east-2' });
    assert.equal(r.lines[0].source, 'error');
    assert.equal(r.ok, false);
    assert.match(formatReport(r), /unreadable \(AccessDeniedException: not authorized\)/);
  });

  it('parses its arguments', () => {
    assert.deepEqual(parseArgs(['--region', 'us-east-1', '--count=3']), { region: 'us-east-1', count: '3' });
    assert.throws(() => parseArgs(['us-east-1']), /unexpected argument/);
    assert.throws(() => parseArgs(['--region']), /needs a value/);
  });
});
