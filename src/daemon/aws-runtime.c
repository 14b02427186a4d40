/* The daemon's AWS side on the loop: identity (what Action=auto means here), the spot and
 * rebalance polls, the metrics after each check and the notifications, all through one
 * AwsAsync client. One file over 400 lines: each part is short, but they share the client, the
 * identity and the one-call-at-a-time slots that keep a slow AWS from piling calls up. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "aws-runtime.h"
#include "log.h"
#include "cloudwatch.h"
#include "timespan.h"

#define SPOT_POLL_USEC        (5 * USEC_PER_SEC) /* as AWS advises */
#define IDENTIFY_RECHECK_USEC (10 * USEC_PER_MINUTE)

struct AwsRuntime {
	sd_event *event;
	const Config *config;
	bool dry_run;
	AwsCallbacks cb;
	char endpoint[256];

	AwsAsync *client; /* in-process (a worker thread), or the agent trnidled-aws */
	AwsIdentity id;
	bool present;
	int identify_error; /* the last error logged, so each kind is logged once */
	sd_event_source *identify_timer, *spot_timer;
	/* The calls under way, at most one of each: a slow AWS never piles them up. */
	AwsCall *identifying, *polling, *putting;

	bool spot_pending;
	SpotFacts notice;
	char rebalance_seen[32];

	LogRateLimit cloudwatch, sns;
	usec_t last_check_at; /* CLOCK_BOOTTIME of the previous check, for UpSeconds */
};

ActionKind aws_resolve_auto(bool spot)
{
	return spot ? ACTION_STOP_INSTANCE : ACTION_POWEROFF;
}

bool aws_runtime_is_spot(const AwsRuntime *a)
{
	return a && a->present && streq(a->id.life_cycle, "spot");
}

const SpotFacts *aws_runtime_spot_notice(const AwsRuntime *a)
{
	return a && a->spot_pending ? &a->notice : NULL;
}

const AwsIdentity *aws_runtime_identity(const AwsRuntime *a)
{
	return a && a->present ? &a->id : NULL;
}

AwsAsync *aws_runtime_client(const AwsRuntime *a)
{
	return a->client;
}

/* ---- finding out where we run ---------------------------------------------------------- */

static bool file_starts_with(const char *path, const char *prefix)
{
	char buf[128];
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool yes = fgets(buf, sizeof(buf), f) && strncasecmp(buf, prefix, strlen(prefix)) == 0;
	fclose(f);
	return yes;
}

bool aws_platform_is_ec2(const char *sys_root)
{
	static const char *const dmi[] = { "sys_vendor", "board_vendor", "bios_vendor" };
	char path[512];
	for (size_t i = 0; i < ELEMENTSOF(dmi); i++) {
		snprintf(path, sizeof(path), "%s/class/dmi/id/%s", sys_root, dmi[i]);
		if (file_starts_with(path, "Amazon EC2"))
			return true;
	}
	/* Older Xen instances: no DMI vendor, but the hypervisor uuid starts with ec2. */
	snprintf(path, sizeof(path), "%s/hypervisor/uuid", sys_root);
	return file_starts_with(path, "ec2");
}

/* The default endpoint is only worth asking on EC2 hardware; an endpoint set by hand is. */
static bool imds_worth_asking(const char *endpoint)
{
	size_t n = strlen(IMDS_DEFAULT_ENDPOINT);
	bool is_default = strncmp(endpoint, IMDS_DEFAULT_ENDPOINT, n) == 0 &&
	                  (endpoint[n] == '\0' || streq(endpoint + n, "/"));
	return !is_default || aws_platform_is_ec2("/sys");
}

static void log_identify_failure(AwsRuntime *a, int r, const char *err)
{
	if (r == a->identify_error)
		return;
	a->identify_error = r;
	if (r == -EACCES)
		log_warning("instance metadata at %s: %s. trnidled speaks IMDSv2 only; with IMDS "
		            "off it cannot tell spot from on-demand, so Action=auto means poweroff "
		            "and spot interruption notices are not seen. Asking again every 10min",
		            a->endpoint, err);
	else
		log_info("no instance metadata at %s (%s): not on EC2, so Action=auto means "
		         "poweroff; asking again every 10min",
		         a->endpoint, err);
}

static void identified(AwsRuntime *a, const AwsCall *call)
{
	if (call->r < 0) {
		a->present = false;
		a->spot_pending = false;
		sd_event_source_set_enabled(a->spot_timer, SD_EVENT_OFF);
		log_identify_failure(a, call->r, call->err);
		sd_event_source_set_time(a->identify_timer, now_boottime() + IDENTIFY_RECHECK_USEC);
		sd_event_source_set_enabled(a->identify_timer, SD_EVENT_ONESHOT);
		return;
	}
	a->id = call->identity;
	a->present = true;
	a->identify_error = 0;
	log_info("on EC2: instance %s in %s, life cycle %s%s", a->id.instance_id, a->id.region,
	         a->id.life_cycle,
	         aws_runtime_is_spot(a) ? "; watching for spot interruption notices every 5s" : "");
	if (aws_runtime_is_spot(a)) {
		/* First look right away: a notice may already be there. */
		sd_event_source_set_time(a->spot_timer, now_boottime());
		sd_event_source_set_enabled(a->spot_timer, SD_EVENT_ON);
	} else
		sd_event_source_set_enabled(a->spot_timer, SD_EVENT_OFF);
}

static void on_identified(AwsCall *call, void *userdata)
{
	AwsRuntime *a = userdata;
	a->identifying = NULL;
	identified(a, call);
}

/* blocking: only at start, before the loop runs (see aws_runtime_new()). */
static void identify(AwsRuntime *a, bool blocking)
{
	if (!imds_worth_asking(a->endpoint)) {
		/* Firmware does not change while we run: no recheck. */
		log_info("not on EC2 (the firmware names no Amazon EC2 vendor), so Action=auto "
		         "means poweroff; instance metadata is not asked");
		a->present = a->spot_pending = false;
		sd_event_source_set_enabled(a->spot_timer, SD_EVENT_OFF);
		return;
	}
	aws_call_cancel(a->identifying); /* an answer from the old endpoint is no answer */
	a->identifying = aws_call_new(AWS_OP_IDENTIFY);
	if (!a->identifying)
		return;
	if (blocking) {
		aws_async_run_blocking(a->client, a->identifying);
		identified(a, a->identifying);
		free(a->identifying);
		a->identifying = NULL;
	} else if (aws_async_submit(a->client, a->identifying, on_identified, a) < 0)
		a->identifying = NULL;
}

static int on_identify_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	identify(userdata, false);
	return 0;
}

/* ---- spot interruption notices ---------------------------------------------------------- */

static void spot_notice_found(AwsRuntime *a, const SpotFacts *n)
{
	char f_action[48], f_time[64], f_id[64];
	if (a->spot_pending && streq(n->action, a->notice.action) && streq(n->time, a->notice.time))
		return;
	a->notice = *n;
	a->spot_pending = true;
	snprintf(f_action, sizeof(f_action), "TRNIDLED_SPOT_ACTION=%s", n->action);
	snprintf(f_time, sizeof(f_time), "TRNIDLED_SPOT_TIME=%s", n->time);
	snprintf(f_id, sizeof(f_id), "TRNIDLED_INSTANCE_ID=%s", a->id.instance_id);
	const char *fields[] = { f_action, f_time, f_id, NULL };
	log_event(LOG_WARNING, MESSAGE_ID_SPOT_INTERRUPTION, fields,
	          "spot interruption notice: EC2 will %s instance %s at %s; no idle action starts "
	          "while it is pending",
	          n->action, a->id.instance_id, n->time);
	if (a->cb.spot_notice)
		a->cb.spot_notice(a->cb.userdata, n);
}

static void on_rebalance(AwsCall *call, void *userdata)
{
	AwsRuntime *a = userdata;
	char f_time[64];
	a->polling = NULL;
	if (call->r == -EBADMSG)
		log_warning("events/recommendations/rebalance: %s", call->err);
	if (call->r < 0)
		return; /* 404 is the normal case; other failures show in the spot poll */
	if (streq(call->notice_time, a->rebalance_seen))
		return;
	strscpy(a->rebalance_seen, sizeof(a->rebalance_seen), call->notice_time);
	snprintf(f_time, sizeof(f_time), "TRNIDLED_REBALANCE_TIME=%s", call->notice_time);
	const char *fields[] = { f_time, NULL };
	log_event(LOG_NOTICE, MESSAGE_ID_REBALANCE, fields,
	          "EC2 rebalance recommendation at %s: this spot instance is at elevated risk of "
	          "interruption",
	          call->notice_time);
}

/* Submits op with callback done as the poll under way; false when it could not. */
static bool poll_submit(AwsRuntime *a, AwsOp op, AwsCallDone done)
{
	a->polling = aws_call_new(op);
	if (a->polling && aws_async_submit(a->client, a->polling, done, a) >= 0)
		return true;
	a->polling = NULL;
	return false;
}

static void on_spot_action(AwsCall *call, void *userdata)
{
	AwsRuntime *a = userdata;
	a->polling = NULL;
	if (call->r == -ENOENT) {
		if (a->spot_pending)
			log_notice("spot interruption notice withdrawn (spot/instance-action is "
			           "gone); idle actions may start again");
		a->spot_pending = false;
	} else if (call->r == -EBADMSG)
		log_warning("spot/instance-action: %s", call->err);
	else if (call->r < 0) {
		/* A timeout already cost the budget: leave the rest for the next round. */
		log_warning("spot/instance-action: %s", call->err);
		return;
	} else
		spot_notice_found(a, &call->notice);
	(void)poll_submit(a, AWS_OP_REBALANCE, on_rebalance);
}

static int on_spot_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	AwsRuntime *a = userdata;
	sd_event_source_set_time(s, now_boottime() + SPOT_POLL_USEC);
	/* The last round still waits for IMDS: it will be asked again once it answers. */
	if (!a->polling)
		(void)poll_submit(a, AWS_OP_SPOT, on_spot_action);
	return 0;
}

/* ---- metrics ---------------------------------------------------------------------------- */

static void on_metrics_put(AwsCall *call, void *userdata)
{
	AwsRuntime *a = userdata;
	a->putting = NULL;
	if (call->r < 0)
		log_failure_rate_limited(&a->cloudwatch, now_boottime(), "CloudWatch PutMetricData",
		                         call->err);
	else
		log_success_rate_limited(&a->cloudwatch, "CloudWatch PutMetricData");
}

static int cloudwatch_put(AwsRuntime *a, const Decision *d, char *err, size_t errlen)
{
	if (!a->present) {
		snprintf(err, errlen, "not on EC2 (no instance id for the InstanceId dimension)");
		return -ENXIO;
	}
	if (a->putting) {
		snprintf(err, errlen, "the previous PutMetricData has not been answered yet");
		return -EBUSY;
	}
	AwsCall *call = aws_call_new(AWS_OP_METRICS);
	if (!call)
		return -ENOMEM;
	/* The first check after a start stands for one interval. */
	usec_t now = now_boottime(), interval = a->config->interval;
	usec_t since_last = a->last_check_at > 0 ? now - a->last_check_at : interval;
	a->last_check_at = now;
	call->target = a->id;
	call->n_metrics = cloudwatch_check_metrics(d, since_last, interval, call->metrics);
	int r = aws_async_submit(a->client, call, on_metrics_put, a);
	if (r >= 0)
		a->putting = call;
	return r;
}

void aws_runtime_after_check(AwsRuntime *a, const Decision *d)
{
	char err[768];
	if (a->config->cloudwatch && cloudwatch_put(a, d, err, sizeof(err)) < 0)
		log_failure_rate_limited(&a->cloudwatch, now_boottime(), "CloudWatch PutMetricData",
		                         err);
}

/* ---- notifications ---------------------------------------------------------------------- */

static void on_published(AwsCall *call, void *userdata)
{
	AwsRuntime *a = userdata;
	if (call->r < 0) {
		log_failure_rate_limited(&a->sns, now_boottime(), "SNS Publish", call->err);
		return;
	}
	log_success_rate_limited(&a->sns, "SNS Publish");
	log_info("notified %s: %s", a->config->notify_topic_arn, call->subject);
}

void aws_runtime_notify(AwsRuntime *a, NotifyFacts *f)
{
	if (!a || !a->config->notify_topic_arn)
		return;
	f->instance_id = a->present ? a->id.instance_id : "";
	f->region = a->present ? a->id.region : "";
	f->instance_name = a->present ? a->id.name : "";
	AwsCall *call = aws_call_new(AWS_OP_PUBLISH);
	if (!call) {
		log_failure_rate_limited(&a->sns, now_boottime(), "SNS Publish", strerror(ENOMEM));
		return;
	}
	notify_compose(f, call->subject, sizeof(call->subject), call->message,
	               sizeof(call->message));
	/* Not kept: a notification is never cancelled, and the runtime outlives its answer or
	 * frees the client (which drops outstanding calls) first. */
	int r = aws_async_submit(a->client, call, on_published, a);
	if (r < 0)
		log_failure_rate_limited(&a->sns, now_boottime(), "SNS Publish", strerror(-r));
}

/* ---- life cycle ------------------------------------------------------------------------- */

int aws_runtime_new(sd_event *e, const Config *config, bool dry_run, const char *agent,
                    const AwsCallbacks *cb, AwsRuntime **ret)
{
	AwsRuntime *a = calloc(1, sizeof(*a));
	int r;
	if (!a)
		return -ENOMEM;
	*a = (AwsRuntime){ .event = e, .config = config, .dry_run = dry_run, .cb = *cb };
	strscpy(a->endpoint, sizeof(a->endpoint), config->imds_endpoint);
	r = agent ? aws_async_new_remote(e, agent, &a->client)
	          : aws_async_new_local(e, config, &a->client);
	if (r < 0) {
		free(a);
		return r;
	}
	if ((r = sd_event_add_time(e, &a->identify_timer, CLOCK_BOOTTIME, USEC_INFINITY,
	                           USEC_PER_SEC, on_identify_timer, a)) < 0 ||
	    (r = sd_event_add_time(e, &a->spot_timer, CLOCK_BOOTTIME, USEC_INFINITY,
	                           USEC_PER_SEC / 4, on_spot_timer, a)) < 0) {
		aws_runtime_free(a);
		return r;
	}
	sd_event_source_set_enabled(a->identify_timer, SD_EVENT_OFF);
	sd_event_source_set_enabled(a->spot_timer, SD_EVENT_OFF);
	/* Once, now, before the loop runs, so the start-up message and the first check know
	 * what auto means (bounded by the identify budget); later ones never wait. */
	identify(a, true);
	*ret = a;
	return 0;
}

static void on_reloaded(AwsCall *call, void *userdata)
{
	if (call->r < 0)
		log_warning("%s; it keeps its previous configuration", call->err);
}

void aws_runtime_reload(AwsRuntime *a)
{
	AwsCall *call = aws_call_new(AWS_OP_RELOAD);
	if (call)
		(void)aws_async_submit(a->client, call, on_reloaded, a);
	if (streq(a->endpoint, a->config->imds_endpoint))
		return;
	/* The identity stands until the new endpoint answers (or fails to). */
	strscpy(a->endpoint, sizeof(a->endpoint), a->config->imds_endpoint);
	a->identify_error = 0;
	identify(a, false);
}

AwsRuntime *aws_runtime_free(AwsRuntime *a)
{
	if (!a)
		return NULL;
	sd_event_source_disable_unref(a->identify_timer);
	sd_event_source_disable_unref(a->spot_timer);
	aws_async_free(a->client);
	free(a);
	return NULL;
}

const char *aws_resolve_action_once(const Config *c)
{
	if (c->action != ACTION_AUTO)
		return action_kind_to_string(c->action);
	Imds im;
	AwsIdentity id;
	char err[512];
	if (!imds_worth_asking(c->imds_endpoint))
		return action_kind_to_string(aws_resolve_auto(false));
	imds_init(&im, c->imds_endpoint);
	if (imds_identify(&im, &id, err, sizeof(err)) < 0)
		return action_kind_to_string(aws_resolve_auto(false));
	return action_kind_to_string(aws_resolve_auto(streq(id.life_cycle, "spot")));
}
