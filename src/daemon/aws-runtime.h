/* The daemon's EC2 side, run from the event loop on its own timers (never inside a sample),
 * through the AWS client that never waits (aws-async.h): finding out at start whether this is
 * EC2 and spot (rechecked rarely when not), polling spot/instance-action every 5 s on spot
 * instances, and CloudWatch after each check. The stop-instance action (src/actions) uses its
 * client. */
#pragma once

#include <stdbool.h>

#include <systemd/sd-event.h>

#include "action.h"
#include "aws-async.h"
#include "config.h"
#include "core.h"
#include "imds.h"
#include "notify.h"
#include "sample.h"

typedef struct AwsRuntime AwsRuntime;

typedef struct AwsCallbacks {
	/* A new spot interruption notice appeared (it is logged already). */
	void (*spot_notice)(void *userdata, const SpotFacts *n);
	void *userdata;
} AwsCallbacks;

/* config must stay at its address (the manager's Config, replaced in place on reload). With
 * agent (a socket path) the AWS calls go to trnidled-aws there; NULL makes them here (on a
 * worker thread). The first identification waits (up to its budget): call it before the
 * loop runs. */
int aws_runtime_new(sd_event *e, const Config *config, bool dry_run, const char *agent,
                    const AwsCallbacks *cb, AwsRuntime **ret);
AwsRuntime *aws_runtime_free(AwsRuntime *a);
/* After a configuration reload: a new ImdsEndpoint= means finding out anew. */
void aws_runtime_reload(AwsRuntime *a);

bool aws_runtime_is_spot(const AwsRuntime *a);
/* The pending spot interruption, or NULL. */
const SpotFacts *aws_runtime_spot_notice(const AwsRuntime *a);
/* Instance id, region and life cycle, or NULL when not on EC2 (or not known yet). */
const AwsIdentity *aws_runtime_identity(const AwsRuntime *a);
/* The AWS client, for the stop-instance action. */
AwsAsync *aws_runtime_client(const AwsRuntime *a);

/* After each scheduled check: CloudWatch, when the previous put has been answered. Failures
 * are logged, rate-limited, and never disturb the checks. */
void aws_runtime_after_check(AwsRuntime *a, const Decision *d);

/* Publishes event f to [AWS] NotifyTopicArn= (nothing when none is set); the instance's id
 * and region are filled in here. Bounded like a PutMetricData; a failure is logged (at most
 * once every 10 minutes) and changes nothing else. */
void aws_runtime_notify(AwsRuntime *a, NotifyFacts *f);

/* Whether this machine's firmware says it is an EC2 instance (DMI vendor "Amazon EC2", or a Xen
 * hypervisor uuid starting with "ec2"), read under sys_root ("/sys"). With the default
 * ImdsEndpoint= the daemon asks instance metadata only then, so that a machine elsewhere never
 * sends a packet to 169.254.169.254. */
bool aws_platform_is_ec2(const char *sys_root);

/* What Action=auto means: stop-instance only on spot. */
ActionKind aws_resolve_auto(bool spot);

/* The action Action= means on this machine, asking IMDS once for auto (for --once). */
const char *aws_resolve_action_once(const Config *c);
