/* The stop-instance action: EC2 StopInstances through the AWS client (the agent, or this
 * process's worker thread), one attempt at a time. It owns its retries (backoff on a timer,
 * within max(WarnSec=, 30 s)) and its fallback to the poweroff action when FallbackPoweroff=yes;
 * before each retry and before the fallback it asks the owner whether to go on, since time has
 * passed since the decision that started it. */
#include <errno.h>
#include <stdio.h>

#include "action-impl.h"
#include "log.h"
#include "timespan.h"

#define STOP_BUDGET_MIN_USEC    (30 * USEC_PER_SEC)
#define STOP_BACKOFF_FIRST_USEC USEC_PER_SEC
#define STOP_BACKOFF_MAX_USEC   (16 * USEC_PER_SEC)

static void on_fallback_report(void *userdata, ActionKind kind, int r, const ActionResult *res)
{
	Action *a = userdata;
	a->req.report(a->req.userdata, kind, r, res);
}

/* The fallback's own question is the owner's to answer; the answer, given to this action,
 * reaches the fallback (stop_go_on()). */
static void on_fallback_ask_go_on(void *userdata, Action *fallback, const char *step)
{
	Action *a = userdata;
	a->req.ask_go_on(a->req.userdata, a, step);
}

static void on_fallback_done(void *userdata)
{
	Action *a = userdata;
	a->req.done(a->req.userdata);
}

static void fallback(Action *a)
{
	if (!a->req.config->fallback_poweroff) {
		log_error("FallbackPoweroff=no: not powering off; the machine stays up");
		return a->req.done(a->req.userdata);
	}
	a->falling_back = true;
	a->req.ask_go_on(a->req.userdata, a, "the fallback power-off"); /* a may be gone */
}

static void fallback_start(Action *a)
{
	log_notice("falling back to an OS power-off (FallbackPoweroff=yes; with shutdown "
	           "behaviour 'stop' this stops the instance too)");
	ActionRequest req = a->req;
	req.kind = ACTION_POWEROFF;
	req.report = on_fallback_report;
	req.ask_go_on = on_fallback_ask_go_on;
	req.done = on_fallback_done;
	req.userdata = a;
	int r = action_start(&req, &a->fallback);
	if (r < 0) {
		ActionResult res = { .path = "none" };
		snprintf(res.message, sizeof(res.message), "cannot start: %s", strerror(-r));
		a->req.report(a->req.userdata, ACTION_POWEROFF, r, &res);
		a->req.done(a->req.userdata);
	}
}

static void attempt_over(Action *a, int r, ActionResult *res)
{
	char next[32];
	a->attempts++;
	if (r == -EAGAIN && now_boottime() + a->backoff <= a->deadline) {
		log_warning("stop-instance attempt %u failed: %s; trying again in %s", a->attempts,
		            res->message, timespan_format(next, sizeof(next), a->backoff));
		sd_event_source_set_time(a->timer, now_boottime() + a->backoff);
		sd_event_source_set_enabled(a->timer, SD_EVENT_ONESHOT);
		a->backoff = MIN(a->backoff * 2, STOP_BACKOFF_MAX_USEC);
		return;
	}
	if (r == -EAGAIN)
		strappendf(res->message, sizeof(res->message), "; giving up after %u attempt(s)",
		           a->attempts);
	a->req.report(a->req.userdata, ACTION_STOP_INSTANCE, r, res);
	if (r < 0)
		return fallback(a);
	a->req.done(a->req.userdata);
}

static void on_attempt_done(AwsCall *call, void *userdata)
{
	Action *a = userdata;
	a->call = NULL; /* freed by the client once this returns */
	attempt_over(a, call->r, &call->result);
}

static void attempt(Action *a)
{
	ActionResult res;
	if (!a->target.instance_id[0]) {
		ec2_stop_no_instance(&res);
		return attempt_over(a, -ENXIO, &res);
	}
	AwsCall *call = aws_call_new(AWS_OP_STOP);
	int r = call ? 0 : -ENOMEM;
	if (call) {
		call->target = a->target;
		call->dry_run = a->req.dry_run;
		r = aws_async_submit(a->req.aws, call, on_attempt_done, a);
	}
	if (r >= 0) {
		a->call = call;
		return;
	}
	res = (ActionResult){ .path = "ec2" };
	snprintf(res.message, sizeof(res.message), "StopInstances: %s", strerror(-r));
	attempt_over(a, r, &res);
}

/* The first attempt, and each retry after asking the owner whether to go on. */
static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	Action *a = userdata;
	char step[64];
	if (a->attempts == 0) {
		attempt(a);
		return 0;
	}
	snprintf(step, sizeof(step), "stop-instance attempt %u", a->attempts + 1);
	a->req.ask_go_on(a->req.userdata, a, step); /* a may be gone */
	return 0;
}

static void stop_go_on(Action *a)
{
	if (a->fallback)
		return action_go_on(a->fallback);
	if (a->falling_back)
		return fallback_start(a);
	attempt(a);
}

static int stop_start(Action *a)
{
	if (a->req.identity)
		a->target = *a->req.identity;
	a->req.identity = NULL; /* the copy above is what counts */
	a->backoff = STOP_BACKOFF_FIRST_USEC;
	a->deadline = now_boottime() + MAX(a->req.config->warn, STOP_BUDGET_MIN_USEC);
	/* The first attempt from the loop too: its outcome never comes inside start. */
	return sd_event_add_time(a->req.event, &a->timer, CLOCK_BOOTTIME, 0, USEC_PER_SEC / 10,
	                         on_timer, a);
}

static void stop_cancel(Action *a)
{
}

const ActionOps action_stop_instance_ops = { .start = stop_start,
	                                     .cancel = stop_cancel,
	                                     .go_on = stop_go_on };
