/* The AWS network operations the daemon's EC2 side needs, blocking, in this process (curl):
 * what trnidled-aws, the unprivileged agent, runs for the daemon, and what the daemon runs on
 * a worker thread without the agent. The daemon itself only sees them through AwsAsync
 * (aws-async.h), which never waits. Neither logs. Every operation returns 0 or a negative
 * errno with a sentence in err (or ret->message). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "action.h"
#include "config.h"
#include "imds.h"
#include "cloudwatch.h"

typedef struct AwsClient AwsClient;

typedef struct AwsClientOps {
	/* imds_identify(). */
	int (*identify)(AwsClient *c, AwsIdentity *ret, char *err, size_t errlen);
	/* spot/instance-action: 0 with a notice, -ENOENT when none is pending, -EBADMSG when
	 * the answer is unreadable, another < 0 when IMDS did not answer. */
	int (*spot_action)(AwsClient *c, SpotFacts *ret, char *err, size_t errlen);
	/* events/recommendations/rebalance: 0 with its noticeTime, -EBADMSG when unreadable,
	 * another < 0 when absent or unanswered. */
	int (*rebalance)(AwsClient *c, char *notice_time, size_t size, char *err, size_t errlen);
	/* One StopInstances attempt on id (ec2_stop_attempt()). */
	int (*stop_instance)(AwsClient *c, const AwsIdentity *id, bool dry_run, ActionResult *ret);
	/* CloudWatch PutMetricData of n metrics with the InstanceId dimension. */
	int (*put_metrics)(AwsClient *c, const AwsIdentity *id, const CloudWatchMetric *m, size_t n,
	                   char *err, size_t errlen);
	/* SNS Publish of subject and message to the client's own [AWS] NotifyTopicArn= (the
	 * agent publishes only to the topic its configuration names): -ENOTCONN when none is
	 * set. Tries again after a failure worth it while AWS_SNS_TIMEOUT_MS lasts. */
	int (*publish)(AwsClient *c, const char *subject, const char *message, char *err,
	               size_t errlen);
	/* After a configuration reload (another ImdsEndpoint=, Namespace=, endpoints). */
	int (*reload)(AwsClient *c, char *err, size_t errlen);
	void (*free)(AwsClient *c);
} AwsClientOps;

struct AwsClient {
	const AwsClientOps *ops;
};

/* config must stay at its address (the manager's Config, replaced in place on reload). */
AwsClient *aws_client_new_local(const Config *config);
AwsClient *aws_client_free(AwsClient *c);

/* One StopInstances attempt (ec2-stop.c): 0 done (in dry-run: EC2 confirms it would be),
 * -EAGAIN when another attempt may succeed (network, throttling, server errors, credentials
 * not there yet), other < 0 when it cannot. Fills ret->message. */
int ec2_stop_attempt(Imds *imds, const Config *config, const AwsIdentity *id, bool dry_run,
                     ActionResult *ret);
/* The answer for a machine that is not on EC2 (no instance id). */
void ec2_stop_no_instance(ActionResult *ret);

/* Time budgets of the remote calls: the in-process worst case and a margin for the agent's own
 * work. An IMDS GET (token PUT included) takes at most IMDS_TIMEOUT_MS; identify makes up to
 * four, fetching the role's keys two. The daemon never waits longer for the agent. */
#define AWS_MARGIN_MS             500
#define AWS_EC2_TIMEOUT_MS        8000L
#define AWS_CLOUDWATCH_TIMEOUT_MS 3000L
/* Every attempt of one Publish together: as long as a PutMetricData, never longer. */
#define AWS_SNS_TIMEOUT_MS     AWS_CLOUDWATCH_TIMEOUT_MS
#define AWS_SNS_ATTEMPTS       3
#define AWS_IDENTIFY_BUDGET_MS (4 * IMDS_TIMEOUT_MS + AWS_MARGIN_MS)
#define AWS_SPOT_BUDGET_MS     (IMDS_TIMEOUT_MS + AWS_MARGIN_MS)
#define AWS_STOP_BUDGET_MS     (2 * IMDS_TIMEOUT_MS + AWS_EC2_TIMEOUT_MS + AWS_MARGIN_MS)
#define AWS_METRICS_BUDGET_MS  (2 * IMDS_TIMEOUT_MS + AWS_CLOUDWATCH_TIMEOUT_MS + AWS_MARGIN_MS)
#define AWS_PUBLISH_BUDGET_MS  (2 * IMDS_TIMEOUT_MS + AWS_SNS_TIMEOUT_MS + AWS_MARGIN_MS)
#define AWS_RELOAD_BUDGET_MS   2000
