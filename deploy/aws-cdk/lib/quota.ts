// Reads the EC2 Service Quotas that gate a Trainium instance and says how many fit.
//
// Trn quotas count vCPUs, not instances. A persistent spot instance needs room in
// "All Trn Spot Instance Requests" (L-6B0D517C). "Running On-Demand Trn instances"
// (L-2C3B7624) is shown too, for on-demand fallback. "Running Dedicated trn1 Hosts"
// (L-5E4FB836), which the old guide pointed at, counts Dedicated Hosts: spot cannot use
// host tenancy, so it is the wrong quota.
import {
  GetAWSDefaultServiceQuotaCommand,
  GetServiceQuotaCommand,
  ServiceQuotasClient,
} from '@aws-sdk/client-service-quotas';

export const SERVICE_CODE = 'ec2';

export interface QuotaDef {
  readonly code: string;
  readonly name: string;
  readonly market: 'spot' | 'on-demand';
}

export const TRN_QUOTAS: QuotaDef[] = [
  { code: 'L-6B0D517C', name: 'All Trn Spot Instance Requests', market: 'spot' },
  { code: 'L-2C3B7624', name: 'Running On-Demand Trn instances', market: 'on-demand' },
];

/** vCPUs per instance type (DescribeInstanceTypes); others need --vcpus. */
export const TRN_VCPUS: Record<string, number> = {
  'trn1.2xlarge': 8,
  'trn1.32xlarge': 128,
  'trn1n.32xlarge': 128,
  'trn2.48xlarge': 192,
};

/** The one call the check needs, so tests can pass a stub. */
export interface QuotaClient {
  send(command: GetServiceQuotaCommand | GetAWSDefaultServiceQuotaCommand): Promise<{
    Quota?: { Value?: number; QuotaName?: string; Adjustable?: boolean };
  }>;
}

export interface QuotaLine {
  readonly quota: QuotaDef;
  /** Applied value in vCPUs; undefined when it could not be read. */
  readonly value?: number;
  /** 'applied' (account value), 'default' (AWS default: no applied value) or 'error'. */
  readonly source: 'applied' | 'default' | 'error';
  readonly error?: string;
  readonly instancesThatFit: number;
  readonly requestCommand: string;
}

export interface QuotaReport {
  readonly region: string;
  readonly instanceType: string;
  readonly vcpusPerInstance: number;
  readonly wanted: number;
  readonly lines: QuotaLine[];
  /** True when the spot quota fits the wanted number of instances. */
  readonly ok: boolean;
}

export interface CheckOptions {
  readonly client: QuotaClient;
  readonly region: string;
  readonly instanceType?: string;
  readonly vcpus?: number;
  /** Instances you want to run at once. @default 1 */
  readonly count?: number;
}

function errorName(e: unknown): string {
  return e instanceof Error ? e.name : String(e);
}

export function requestCommand(region: string, code: string, vcpus: number): string {
  return (
    `aws service-quotas request-service-quota-increase --region ${region} ` +
    `--service-code ${SERVICE_CODE} --quota-code ${code} --desired-value ${vcpus}`
  );
}

async function readQuota(
  client: QuotaClient,
  code: string,
): Promise<{ value?: number; source: QuotaLine['source']; error?: string }> {
  const input = { ServiceCode: SERVICE_CODE, QuotaCode: code };
  try {
    const out = await client.send(new GetServiceQuotaCommand(input));
    return { value: out.Quota?.Value ?? 0, source: 'applied' };
  } catch (e) {
    if (errorName(e) !== 'NoSuchResourceException') {
      return { source: 'error', error: `${errorName(e)}: ${(e as Error).message ?? ''}`.trim() };
    }
  }
  try {
    const out = await client.send(new GetAWSDefaultServiceQuotaCommand(input));
    return { value: out.Quota?.Value ?? 0, source: 'default' };
  } catch (e) {
    return { source: 'error', error: `${errorName(e)}: ${(e as Error).message ?? ''}`.trim() };
  }
}

export async function checkQuota(opts: CheckOptions): Promise<QuotaReport> {
  const instanceType = opts.instanceType ?? 'trn1.2xlarge';
  const vcpus = opts.vcpus ?? TRN_VCPUS[instanceType];
  if (!vcpus) {
    throw new Error(`unknown vCPU count for ${instanceType}: pass --vcpus N`);
  }
  const wanted = opts.count ?? 1;
  const lines: QuotaLine[] = [];
  for (const quota of TRN_QUOTAS) {
    const read = await readQuota(opts.client, quota.code);
    const value = read.value;
    lines.push({
      quota,
      ...read,
      instancesThatFit: value === undefined ? 0 : Math.floor(value / vcpus),
      requestCommand: requestCommand(opts.region, quota.code, wanted * vcpus),
    });
  }
  const spot = lines.find((l) => l.quota.market === 'spot')!;
  return {
    region: opts.region,
    instanceType,
    vcpusPerInstance: vcpus,
    wanted,
    lines,
    ok: spot.instancesThatFit >= wanted,
  };
}

export function formatReport(r: QuotaReport): string {
  const out: string[] = [
    `Region ${r.region}, ${r.instanceType} = ${r.vcpusPerInstance} vCPUs; wanted: ${r.wanted} instance(s).`,
    'Trn quotas are counted in vCPUs.',
    '',
  ];
  for (const l of r.lines) {
    const value =
      l.source === 'error'
        ? `unreadable (${l.error})`
        : `${l.value} vCPUs${l.source === 'default' ? ' (AWS default, no applied value)' : ''}`;
    out.push(`${l.quota.name} (${l.quota.code}): ${value}`);
    if (l.source !== 'error') {
      out.push(`  fits ${l.instancesThatFit} x ${r.instanceType}`);
    }
    if (l.instancesThatFit < r.wanted) {
      out.push(`  to request ${r.wanted * r.vcpusPerInstance} vCPUs:`, `    ${l.requestCommand}`);
    }
  }
  out.push('');
  out.push(
    r.ok
      ? `OK: the spot quota fits ${r.wanted} x ${r.instanceType}.`
      : `NOT ENOUGH spot quota: this stack needs L-6B0D517C >= ${r.wanted * r.vcpusPerInstance}. ` +
          'Run the request command above, then wait for approval (aws service-quotas ' +
          `list-requested-service-quota-change-history --service-code ec2 --region ${r.region}).`,
  );
  out.push(
    'Not "Running Dedicated trn1 Hosts" (L-5E4FB836): that quota counts Dedicated Hosts, which spot cannot use.',
  );
  return out.join('\n');
}

export function defaultClient(region: string): QuotaClient {
  return new ServiceQuotasClient({ region }) as QuotaClient;
}
