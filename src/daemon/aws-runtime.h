/* The daemon's EC2 side, run from the event loop on its own timers (never inside a sample):
 * finding out once at start whether this is EC2 and spot (rechecked rarely when not), polling
 * spot/instance-action every 5 s on spot instances, the stop-instance action with retries on
 * timers and the fallback to power-off, and the metrics after each check. */
#pragma once

#include <stdbool.h>

#include <systemd/sd-event.h>

#include "action.h"
#include "config.h"
#include "core.h"
#include "imds.h"
#include "notify.h"
#include "sample.h"

typedef struct AwsRuntime AwsRuntime;

typedef struct AwsCallbacks {
	/* A new spot interruption notice appeared (it is logged already). */
	void (*spot_notice)(void *userdata, const SpotFacts *n);
	/* The stop-instance action, or its fallback, has an outcome to log. */
	void (*action_result)(void *userdata, const ActionOps *ops, int r, const ActionResult *res);
	/* Asked before each step after the first (a retry, the fallback power-off): whether the
	 * machine is still idle now. false stops the action (the caller says why). */
	bool (*may_go_on)(void *userdata, const char *step);
	/* The action has ended: done, failed, or stopped by may_go_on. */
	void (*action_finished)(void *userdata);
	void *userdata;
} AwsCallbacks;

/* config must stay at its address (the manager's Config, replaced in place on reload). With
 * agent (a socket path) the AWS calls go to trnidled-aws there; NULL makes them here. */
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

/* Starts StopInstances with retries (backoff on timers within max(WarnSec, 30s)), then the
 * fallback to power-off when FallbackPoweroff=yes, each later step only when cb->may_go_on
 * says so. Outcomes go to cb->action_result, the end to cb->action_finished. */
void aws_runtime_stop_instance(AwsRuntime *a, const char *why);
/* Stops a stop-instance under way before its next step; cb->action_finished is not called. */
void aws_runtime_stop_cancel(AwsRuntime *a);

/* After each scheduled check: the textfile and CloudWatch. Failures are logged, rate-limited,
 * and never disturb the checks. */
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

/* "stop-instance" or "poweroff" for Action=auto: stop-instance only on spot. */
const char *aws_resolve_auto(bool spot);

/* The action Action= means on this machine, asking IMDS once for auto (for --once). */
const char *aws_resolve_action_once(const Config *c);
