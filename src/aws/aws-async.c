/* What both AwsAsync implementations share: the calls' life cycle, and running one call on a
 * blocking AwsClient (the local worker thread and the agent do that). */
#include <errno.h>
#include <stdlib.h>

#include "aws-async.h"

AwsCall *aws_call_new(AwsOp op)
{
	AwsCall *c = calloc(1, sizeof(*c));
	if (c)
		c->op = op;
	return c;
}

int aws_async_submit(AwsAsync *a, AwsCall *call, AwsCallDone done, void *userdata)
{
	call->done = done;
	call->userdata = userdata;
	call->cancelled = false;
	call->next = NULL;
	int r = a->ops->submit(a, call);
	if (r < 0)
		free(call);
	return r;
}

void aws_call_cancel(AwsCall *call)
{
	if (call)
		call->cancelled = true;
}

void aws_call_finish(AwsCall *call)
{
	if (!call->cancelled && call->done)
		call->done(call, call->userdata);
	free(call);
}

void aws_async_run_blocking(AwsAsync *a, AwsCall *call)
{
	a->ops->run_blocking(a, call);
}

AwsAsync *aws_async_free(AwsAsync *a)
{
	if (a)
		a->ops->free(a);
	return NULL;
}

void aws_call_run(AwsClient *c, AwsCall *call)
{
	const AwsClientOps *ops = c->ops;
	char *err = call->err;
	size_t len = sizeof(call->err);
	err[0] = '\0';
	switch (call->op) {
	case AWS_OP_IDENTIFY:
		call->r = ops->identify(c, &call->identity, err, len);
		break;
	case AWS_OP_SPOT:
		call->r = ops->spot_action(c, &call->notice, err, len);
		break;
	case AWS_OP_REBALANCE:
		call->r = ops->rebalance(c, call->notice_time, sizeof(call->notice_time), err, len);
		break;
	case AWS_OP_STOP:
		call->r = ops->stop_instance(c, &call->target, call->dry_run, &call->result);
		break;
	case AWS_OP_METRICS:
		call->r = ops->put_metrics(c, &call->target, call->metrics, call->n_metrics, err,
		                           len);
		break;
	case AWS_OP_PUBLISH:
		call->r = ops->publish(c, call->subject, call->message, err, len);
		break;
	case AWS_OP_RELOAD:
		call->r = ops->reload(c, err, len);
		break;
	default:
		call->r = -EOPNOTSUPP;
	}
}
