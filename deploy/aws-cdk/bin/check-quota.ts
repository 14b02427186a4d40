#!/usr/bin/env node
// check-quota [--region R] [--instance-type T] [--vcpus N] [--count N]
// Reads the Trn Service Quotas with your AWS credentials. Exit 0 when the spot quota fits,
// 1 when it does not, 2 on a usage or read error.
import { checkQuota, defaultClient, formatReport } from '../lib/quota';

export function parseArgs(argv: string[]): Record<string, string> {
  const args: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m) throw new Error(`unexpected argument: ${argv[i]}`);
    if (m[1] === 'help') {
      args.help = 'yes';
      continue;
    }
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`--${m[1]} needs a value`);
    args[m[1]] = value;
  }
  return args;
}

async function main(): Promise<number> {
  let args: Record<string, string>;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`check-quota: ${(e as Error).message}`);
    return 2;
  }
  if (args.help) {
    console.log('usage: check-quota [--region R] [--instance-type trn1.2xlarge] [--vcpus N] [--count N]');
    return 0;
  }
  const region = args.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-2';
  const report = await checkQuota({
    client: defaultClient(region),
    region,
    instanceType: args['instance-type'],
    vcpus: args.vcpus ? Number(args.vcpus) : undefined,
    count: args.count ? Number(args.count) : undefined,
  });
  console.log(formatReport(report));
  if (report.lines.some((l) => l.source === 'error')) return 2;
  return report.ok ? 0 : 1;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      console.error(`check-quota: ${(e as Error).message}`);
      process.exit(2);
    },
  );
}
