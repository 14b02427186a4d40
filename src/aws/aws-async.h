/* The daemon's AWS calls without waiting: each call is submitted, and its outcome comes back
 * later through a callback from the event loop. Two implementations of one interface:
 *
 *  - remote (aws-async-remote.c): one long-lived Varlink connection to trnidled-aws, the
 *    unprivileged agent, whose replies are sd-event io sources, each call bounded by a deadline
 *    timer; the OpenBSD ntpd way, whose parent never blocks on its child;
 *  - local (aws-async-local.c, no agent): one worker thread runs the blocking in-process
 *    AwsClient (aws-client.h) and hands each outcome back through an eventfd.
 *
 * Calls run one at a time, in the order submitted (the agent answers one at a time too).
 * Adding an operation: an AwsOp, its inputs/outputs in AwsCall, a case in aws_call_run() (the
 * blocking AwsClientOps it runs) and a row in the remote table (method, budget, encoder,
 * reader); the agent answers it in src/agent. */
#pragma once

#include <stdbool.h>

#include <systemd/sd-event.h>

#include "action.h"
#include "aws-client.h"
#include "aws-wire.h"
#include "notify.h"

typedef enum AwsOp {
	AWS_OP_IDENTIFY,  /* -> identity */
	AWS_OP_SPOT,      /* -> notice; -ENOENT when none is pending */
	AWS_OP_REBALANCE, /* -> notice_time */
	AWS_OP_STOP,      /* target, dry_run -> result (-EAGAIN: another attempt may succeed) */
	AWS_OP_METRICS,   /* target, metrics -> nothing */
	AWS_OP_PUBLISH,   /* subject, message -> nothing (to [AWS] NotifyTopicArn=) */
	AWS_OP_RELOAD,    /* the configuration was reloaded */
	_AWS_OP_MAX,
} AwsOp;

typedef struct AwsCall AwsCall;
typedef void (*AwsCallDone)(AwsCall *call, void *userdata);

struct AwsCall {
	AwsOp op;
	/* Inputs. */
	AwsIdentity target;
	bool dry_run;
	CloudWatchMetric metrics[AWS_METRICS_MAX]; /* names and units: string literals */
	size_t n_metrics;
	char subject[NOTIFY_SUBJECT_MAX + 1];
	char message[NOTIFY_MESSAGE_MAX];
	/* Outputs: r is 0 or a negative errno with a sentence in err (result.message for stop). */
	int r;
	char err[768];
	AwsIdentity identity;
	SpotFacts notice;
	char notice_time[32];
	ActionResult result;
	/* Private to the implementation. */
	AwsCallDone done;
	void *userdata;
	bool cancelled;
	void *impl; /* what the implementation carries along (the local one: new settings) */
	AwsCall *next;
};

typedef struct AwsAsync AwsAsync;

/* config must stay at its address (the manager's Config, replaced in place on reload): the
 * local client copies what it needs at each submit, never reading it from its thread. */
int aws_async_new_local(sd_event *e, const Config *config, AwsAsync **ret);
/* Talks to the agent listening on socket_path. */
int aws_async_new_remote(sd_event *e, const char *socket_path, AwsAsync **ret);
/* Outstanding calls end without their callbacks. */
AwsAsync *aws_async_free(AwsAsync *a);

/* A new call of op (zeroed, inputs to fill), or NULL. */
AwsCall *aws_call_new(AwsOp op);
/* Takes call; done(call, userdata) runs later from the event loop, never from inside this
 * function, and the call is freed when done returns. On failure (-ENOMEM) call is freed. */
int aws_async_submit(AwsAsync *a, AwsCall *call, AwsCallDone done, void *userdata);
/* done will not run for call (submitted, not yet done); forget the pointer. NULL is fine. */
void aws_call_cancel(AwsCall *call);
/* Runs call to the end here and now, waiting (up to its budget): only before the event loop
 * runs, for the identity the start-up record and the first check need. */
void aws_async_run_blocking(AwsAsync *a, AwsCall *call);

/* Runs call on a blocking AwsClient: what the local worker and the agent both do. */
void aws_call_run(AwsClient *c, AwsCall *call);

/* ---- for the implementations ---------------------------------------------------------- */

typedef struct AwsAsyncOps {
	int (*submit)(AwsAsync *a, AwsCall *call);
	void (*run_blocking)(AwsAsync *a, AwsCall *call);
	void (*free)(AwsAsync *a);
} AwsAsyncOps;

struct AwsAsync {
	const AwsAsyncOps *ops;
};

/* Hands a finished call to its owner (unless cancelled) and frees it. */
void aws_call_finish(AwsCall *call);
