/* The remote AwsClient: each operation is one blocking Varlink call to trnidled-aws, bounded
 * by the same budget the in-process call has, so the check loop never waits longer for the
 * agent than it would for AWS. The daemon parses nothing from the network: only the agent's
 * small, checked JSON (aws-wire.c). */
#include <errno.h>
#include <stdio.h>

#include "aws-client.h"
#include "aws-wire.h"

typedef struct RemoteClient {
	AwsClient base;
	char *path;
} RemoteClient;

/* A call that got no reply: like not reaching AWS, worth another attempt (-EHOSTUNREACH),
 * unless the agent answered garbage. */
static int transport_error(const char *path, int r, char *err, size_t errlen)
{
	snprintf(err, errlen, "the AWS agent at %s: %s%s", path,
	         r == -ETIMEDOUT ? "no answer within the time budget" : strerror(-r),
	         r == -ENOENT || r == -ECONNREFUSED ? " (is trnidled-aws.socket running?)" : "");
	return r == -EBADMSG || r == -EMSGSIZE ? -EPROTO : -EHOSTUNREACH;
}

/* Calls method; on success *ret holds the reply (the caller calls varlink_reply_done()). A
 * transport failure or an error reply is a negative errno with a sentence in err. */
static int remote_call(AwsClient *c, const char *method, json_object *params, int budget_ms,
                       VarlinkReply *ret, char *err, size_t errlen)
{
	const char *path = ((RemoteClient *)c)->path;
	int r = varlink_call(path, method, params, budget_ms, AWS_REPLY_MAX, ret);
	if (r < 0)
		return transport_error(path, r, err, errlen);
	if (ret->error) {
		r = aws_wire_read_error(ret, err, errlen);
		varlink_reply_done(ret);
		return r;
	}
	return 0;
}

/* The reply's parameters through reader; a reply the reader rejects is -EPROTO. */
static int read_or_eproto(int r, char *err, size_t errlen)
{
	if (r >= 0)
		return r;
	char why[256];
	strscpy(why, sizeof(why), err);
	snprintf(err, errlen, "the AWS agent's answer is unreadable: %s", why);
	return -EPROTO;
}

static int remote_identify(AwsClient *c, AwsIdentity *ret, char *err, size_t errlen)
{
	VarlinkReply reply;
	int r = remote_call(c, AWS_METHOD_IDENTIFY, NULL, AWS_IDENTIFY_BUDGET_MS, &reply, err,
	                    errlen);
	if (r < 0)
		return r;
	r = read_or_eproto(aws_wire_read_identity(reply.parameters, ret, err, errlen), err, errlen);
	varlink_reply_done(&reply);
	return r;
}

static int remote_spot_action(AwsClient *c, SpotFacts *ret, char *err, size_t errlen)
{
	VarlinkReply reply;
	int r = remote_call(c, AWS_METHOD_SPOT, NULL, AWS_SPOT_BUDGET_MS, &reply, err, errlen);
	if (r < 0)
		return r;
	r = read_or_eproto(aws_wire_read_notice(reply.parameters, ret, err, errlen), err, errlen);
	varlink_reply_done(&reply);
	return r;
}

static int remote_rebalance(AwsClient *c, char *notice_time, size_t size, char *err, size_t errlen)
{
	VarlinkReply reply;
	int r = remote_call(c, AWS_METHOD_REBALANCE, NULL, AWS_SPOT_BUDGET_MS, &reply, err, errlen);
	if (r < 0)
		return r;
	r = read_or_eproto(
	        aws_wire_read_rebalance(reply.parameters, notice_time, size, err, errlen), err,
	        errlen);
	varlink_reply_done(&reply);
	return r;
}

static int remote_stop_instance(AwsClient *c, const AwsIdentity *id, bool dry_run,
                                ActionResult *ret)
{
	VarlinkReply reply;
	char err[768];
	/* Not on EC2: the action's own answer, without asking anyone. */
	if (!id->instance_id[0])
		return action_stop_instance.run(&(ActionRequest){ .dry_run = dry_run }, ret);
	*ret = (ActionResult){ .path = "ec2" };
	const char *path = ((RemoteClient *)c)->path;
	int r = varlink_call(path, AWS_METHOD_STOP, aws_wire_stop_request(id, dry_run),
	                     AWS_STOP_BUDGET_MS, AWS_REPLY_MAX, &reply);
	if (r < 0) {
		r = transport_error(path, r, err, sizeof(err));
		snprintf(ret->message, sizeof(ret->message), "StopInstances: %s", err);
		/* An unreachable agent is retried like an unreachable EC2, then the fallback. */
		return r == -EHOSTUNREACH ? -EAGAIN : r;
	}
	(void)aws_wire_read_action_result(reply.parameters, ret);
	if (reply.error) {
		r = aws_wire_read_error(&reply, err, sizeof(err));
		if (!ret->message[0] || r == -EPERM || r == -EPROTO)
			snprintf(ret->message, sizeof(ret->message), "StopInstances: %s", err);
	}
	varlink_reply_done(&reply);
	return r;
}

static int remote_put_metrics(AwsClient *c, const AwsIdentity *id, const CloudWatchMetric *m,
                              size_t n, char *err, size_t errlen)
{
	VarlinkReply reply;
	int r = remote_call(c, AWS_METHOD_METRICS, aws_wire_metrics(id, m, n),
	                    AWS_METRICS_BUDGET_MS, &reply, err, errlen);
	if (r >= 0)
		varlink_reply_done(&reply);
	return r;
}

static int remote_publish(AwsClient *c, const char *subject, const char *message, char *err,
                          size_t errlen)
{
	VarlinkReply reply;
	int r = remote_call(c, AWS_METHOD_PUBLISH, aws_wire_publish(subject, message),
	                    AWS_PUBLISH_BUDGET_MS, &reply, err, errlen);
	if (r >= 0)
		varlink_reply_done(&reply);
	return r;
}

static int remote_reload(AwsClient *c, char *err, size_t errlen)
{
	VarlinkReply reply;
	/* The agent reads the same files, so it re-reads them when the daemon does. */
	int r = remote_call(c, AWS_METHOD_RELOAD, NULL, AWS_RELOAD_BUDGET_MS, &reply, err, errlen);
	if (r >= 0)
		varlink_reply_done(&reply);
	return r;
}

static void remote_free(AwsClient *c)
{
	free(((RemoteClient *)c)->path);
	free(c);
}

static const AwsClientOps remote_ops = {
	.identify = remote_identify,
	.spot_action = remote_spot_action,
	.rebalance = remote_rebalance,
	.stop_instance = remote_stop_instance,
	.put_metrics = remote_put_metrics,
	.publish = remote_publish,
	.reload = remote_reload,
	.free = remote_free,
};

AwsClient *aws_client_new_remote(const char *socket_path)
{
	RemoteClient *rc = calloc(1, sizeof(*rc));
	if (!rc || !(rc->path = strdup(socket_path))) {
		free(rc);
		return NULL;
	}
	rc->base.ops = &remote_ops;
	return &rc->base;
}
