#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "aws-client.h"
#include "aws-runtime.h"
#include "log.h"
#include "cloudwatch.h"
#include "timespan.h"

#define SPOT_POLL_USEC          (5 * USEC_PER_SEC) /* as AWS advises */
#define IDENTIFY_RECHECK_USEC   (10 * USEC_PER_MINUTE)
#define STOP_BUDGET_MIN_USEC    (30 * USEC_PER_SEC)
#define STOP_BACKOFF_FIRST_USEC USEC_PER_SEC
#define STOP_BACKOFF_MAX_USEC   (16 * USEC_PER_SEC)

struct AwsRuntime {
	sd_event *event;
	const Config *config;
	bool dry_run;
	AwsCallbacks cb;
	char endpoint[256];

	AwsClient *client; /* in-process, or the agent trnidled-aws */
	AwsIdentity id;
	bool present;
	int identify_error; /* the last error logged, so each kind is logged once */
	sd_event_source *identify_timer, *spot_timer;

	bool spot_pending;
	SpotFacts notice;
	char rebalance_seen[32];

	sd_event_source *stop_timer;
	bool stopping;
	unsigned attempts;
	usec_t stop_deadline, backoff;
	char why[512];

	LogRateLimit cloudwatch, sns;
	usec_t last_check_at; /* CLOCK_BOOTTIME of the previous check, for UpSeconds */
};

const char *aws_resolve_auto(bool spot)
{
	return spot ? "stop-instance" : "poweroff";
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

static void identify(AwsRuntime *a)
{
	char err[512] = "";
	AwsIdentity id;
	if (!imds_worth_asking(a->endpoint)) {
		/* Firmware does not change while we run: no recheck. */
		log_info("not on EC2 (the firmware names no Amazon EC2 vendor), so Action=auto "
		         "means poweroff; instance metadata is not asked");
		return;
	}
	int r = a->client->ops->identify(a->client, &id, err, sizeof(err));
	if (r < 0) {
		log_identify_failure(a, r, err);
		sd_event_source_set_time(a->identify_timer, now_boottime() + IDENTIFY_RECHECK_USEC);
		sd_event_source_set_enabled(a->identify_timer, SD_EVENT_ONESHOT);
		return;
	}
	a->id = id;
	a->present = true;
	a->identify_error = 0;
	log_info("on EC2: instance %s in %s, life cycle %s%s", id.instance_id, id.region,
	         id.life_cycle,
	         aws_runtime_is_spot(a) ? "; watching for spot interruption notices every 5s" : "");
	if (aws_runtime_is_spot(a)) {
		/* First look right away: a notice may already be there. */
		sd_event_source_set_time(a->spot_timer, now_boottime());
		sd_event_source_set_enabled(a->spot_timer, SD_EVENT_ON);
	}
}

static int on_identify_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	identify(userdata);
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

static void poll_rebalance(AwsRuntime *a)
{
	char err[512], when[32], f_time[64];
	int r = a->client->ops->rebalance(a->client, when, sizeof(when), err, sizeof(err));
	if (r == -EBADMSG)
		log_warning("events/recommendations/rebalance: %s", err);
	if (r < 0)
		return; /* 404 is the normal case; other failures show in the spot poll */
	if (streq(when, a->rebalance_seen))
		return;
	strscpy(a->rebalance_seen, sizeof(a->rebalance_seen), when);
	snprintf(f_time, sizeof(f_time), "TRNIDLED_REBALANCE_TIME=%s", when);
	const char *fields[] = { f_time, NULL };
	log_event(LOG_NOTICE, MESSAGE_ID_REBALANCE, fields,
	          "EC2 rebalance recommendation at %s: this spot instance is at elevated risk of "
	          "interruption",
	          when);
}

static int on_spot_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	AwsRuntime *a = userdata;
	char err[512];
	SpotFacts n;

	sd_event_source_set_time(s, now_boottime() + SPOT_POLL_USEC);
	int r = a->client->ops->spot_action(a->client, &n, err, sizeof(err));
	if (r == -ENOENT) {
		if (a->spot_pending)
			log_notice("spot interruption notice withdrawn (spot/instance-action is "
			           "gone); idle actions may start again");
		a->spot_pending = false;
	} else if (r == -EBADMSG)
		log_warning("spot/instance-action: %s", err);
	else if (r < 0) {
		/* A timeout already cost the budget: leave the rest for the next round. */
		log_warning("spot/instance-action: %s", err);
		return 0;
	} else
		spot_notice_found(a, &n);
	poll_rebalance(a);
	return 0;
}

/* ---- stop-instance with retries and fallback -------------------------------------------- */

static void stop_fallback(AwsRuntime *a)
{
	if (!a->config->fallback_poweroff) {
		log_error("FallbackPoweroff=no: not powering off; the machine stays up");
		return;
	}
	if (!a->cb.may_go_on(a->cb.userdata, "the fallback power-off"))
		return;
	log_notice("falling back to an OS power-off (FallbackPoweroff=yes; with shutdown "
	           "behaviour 'stop' this stops the instance too)");
	ActionResult fb;
	ActionRequest req = { .dry_run = a->dry_run, .config = a->config, .why = a->why };
	int fr = action_poweroff.run(&req, &fb);
	a->cb.action_result(a->cb.userdata, &action_poweroff, fr, &fb);
}

static void stop_finish(AwsRuntime *a, int r, const ActionResult *res)
{
	a->cb.action_result(a->cb.userdata, &action_stop_instance, r, res);
	if (r < 0)
		stop_fallback(a);
	a->stopping = false;
	a->cb.action_finished(a->cb.userdata);
}

static void stop_attempt(AwsRuntime *a)
{
	ActionResult res;
	char next[32];
	AwsIdentity none = { 0 };
	int r = a->client->ops->stop_instance(a->client, a->present ? &a->id : &none, a->dry_run,
	                                      &res);
	a->attempts++;
	if (r >= 0 || r != -EAGAIN || now_boottime() + a->backoff > a->stop_deadline) {
		if (r == -EAGAIN)
			strappendf(res.message, sizeof(res.message),
			           "; giving up after %u attempt(s)", a->attempts);
		stop_finish(a, r, &res);
		return;
	}
	log_warning("stop-instance attempt %u failed: %s; trying again in %s", a->attempts,
	            res.message, timespan_format(next, sizeof(next), a->backoff));
	sd_event_source_set_time(a->stop_timer, now_boottime() + a->backoff);
	sd_event_source_set_enabled(a->stop_timer, SD_EVENT_ONESHOT);
	a->backoff = MIN(a->backoff * 2, STOP_BACKOFF_MAX_USEC);
}

/* Time has passed since the decision that started the action: ask again before each retry. */
static int on_stop_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	AwsRuntime *a = userdata;
	char step[64];
	snprintf(step, sizeof(step), "stop-instance attempt %u", a->attempts + 1);
	if (!a->cb.may_go_on(a->cb.userdata, step))
		return 0;
	stop_attempt(a);
	return 0;
}

void aws_runtime_stop_instance(AwsRuntime *a, const char *why)
{
	if (a->stopping) {
		log_info("stop-instance already under way (attempt %u)", a->attempts);
		return;
	}
	strscpy(a->why, sizeof(a->why), why);
	a->stopping = true;
	a->attempts = 0;
	a->backoff = STOP_BACKOFF_FIRST_USEC;
	a->stop_deadline = now_boottime() + MAX(a->config->warn, STOP_BUDGET_MIN_USEC);
	stop_attempt(a);
}

void aws_runtime_stop_cancel(AwsRuntime *a)
{
	if (!a || !a->stopping)
		return;
	sd_event_source_set_enabled(a->stop_timer, SD_EVENT_OFF);
	a->stopping = false;
}

/* ---- metrics ---------------------------------------------------------------------------- */

static int cloudwatch_put(AwsRuntime *a, const Decision *d, char *err, size_t errlen)
{
	if (!a->present) {
		snprintf(err, errlen, "not on EC2 (no instance id for the InstanceId dimension)");
		return -ENXIO;
	}
	/* The first check after a start stands for one interval. */
	usec_t now = now_boottime(), interval = a->config->interval;
	usec_t since_last = a->last_check_at > 0 ? now - a->last_check_at : interval;
	a->last_check_at = now;
	CloudWatchMetric metrics[CLOUDWATCH_CHECK_METRICS_MAX];
	size_t n = cloudwatch_check_metrics(d, since_last, interval, metrics);
	return a->client->ops->put_metrics(a->client, &a->id, metrics, n, err, errlen);
}

void aws_runtime_after_check(AwsRuntime *a, const Decision *d)
{
	char err[768];
	if (a->config->cloudwatch) {
		if (cloudwatch_put(a, d, err, sizeof(err)) < 0)
			log_failure_rate_limited(&a->cloudwatch, now_boottime(),
			                         "CloudWatch PutMetricData", err);
		else
			log_success_rate_limited(&a->cloudwatch, "CloudWatch PutMetricData");
	}
}

/* ---- notifications ---------------------------------------------------------------------- */

void aws_runtime_notify(AwsRuntime *a, NotifyFacts *f)
{
	char subject[NOTIFY_SUBJECT_MAX + 1], message[NOTIFY_MESSAGE_MAX], err[768];
	if (!a || !a->config->notify_topic_arn)
		return;
	f->instance_id = a->present ? a->id.instance_id : "";
	f->region = a->present ? a->id.region : "";
	f->instance_name = a->present ? a->id.name : "";
	notify_compose(f, subject, sizeof(subject), message, sizeof(message));
	int r = a->client->ops->publish(a->client, subject, message, err, sizeof(err));
	if (r < 0)
		log_failure_rate_limited(&a->sns, now_boottime(), "SNS Publish", err);
	else {
		log_success_rate_limited(&a->sns, "SNS Publish");
		log_info("notified %s: %s", a->config->notify_topic_arn, subject);
	}
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
	a->client = agent ? aws_client_new_remote(agent) : aws_client_new_local(config);
	if (!a->client) {
		free(a);
		return -ENOMEM;
	}
	if ((r = sd_event_add_time(e, &a->identify_timer, CLOCK_BOOTTIME, USEC_INFINITY,
	                           USEC_PER_SEC, on_identify_timer, a)) < 0 ||
	    (r = sd_event_add_time(e, &a->spot_timer, CLOCK_BOOTTIME, USEC_INFINITY,
	                           USEC_PER_SEC / 4, on_spot_timer, a)) < 0 ||
	    (r = sd_event_add_time(e, &a->stop_timer, CLOCK_BOOTTIME, USEC_INFINITY,
	                           USEC_PER_SEC / 10, on_stop_timer, a)) < 0) {
		aws_runtime_free(a);
		return r;
	}
	sd_event_source_set_enabled(a->identify_timer, SD_EVENT_OFF);
	sd_event_source_set_enabled(a->spot_timer, SD_EVENT_OFF);
	sd_event_source_set_enabled(a->stop_timer, SD_EVENT_OFF);
	/* Once, now, so the start-up message and the first check know what auto means. */
	identify(a);
	*ret = a;
	return 0;
}

void aws_runtime_reload(AwsRuntime *a)
{
	char err[512];
	if (a->client->ops->reload(a->client, err, sizeof(err)) < 0)
		log_warning("%s; it keeps its previous configuration", err);
	if (streq(a->endpoint, a->config->imds_endpoint))
		return;
	strscpy(a->endpoint, sizeof(a->endpoint), a->config->imds_endpoint);
	a->present = false;
	a->spot_pending = false;
	a->identify_error = 0;
	sd_event_source_set_enabled(a->spot_timer, SD_EVENT_OFF);
	identify(a);
}

AwsRuntime *aws_runtime_free(AwsRuntime *a)
{
	if (!a)
		return NULL;
	sd_event_source_disable_unref(a->identify_timer);
	sd_event_source_disable_unref(a->spot_timer);
	sd_event_source_disable_unref(a->stop_timer);
	aws_client_free(a->client);
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
		return aws_resolve_auto(false);
	imds_init(&im, c->imds_endpoint);
	if (imds_identify(&im, &id, err, sizeof(err)) < 0)
		return aws_resolve_auto(false);
	return aws_resolve_auto(streq(id.life_cycle, "spot"));
}
