/* The io.trnidle Varlink interface. The daemon builds every answer, including the human text
 * that trnidlectl prints, so the CLI holds no logic. */
#include <errno.h>
#include <stdarg.h>
#include <pwd.h>
#include <stdio.h>

#include "build-config.h"
#include "log.h"
#include "manager.h"
#include "timespan.h"
#include "verdict-json.h"

#define HOLD_REASON_INPUT_MAX 1024

static const char interface_description[] =
        "# trnidled: stops idle cloud accelerator machines; see trnidlectl(1).\n"
        "interface io.trnidle\n"
        "\n"
        "type Reason (signal: string, detail: string)\n"
        "type Hold (id: int, uid: int, owner: string, remaining_sec: int, reason: string)\n"
        "\n"
        "# The last scheduled check, the armed action and the holds.\n"
        "method Status() -> (text: string, last_check: ?object, action: string,\n"
        "                    dry_run: bool, holds: []Hold, next_check_sec: int,\n"
        "                    aws: ?object, version: string)\n"
        "# Samples now; does not advance the idle streak.\n"
        "method CheckNow() -> (text: string, verdict: string, reasons: []Reason,\n"
        "                      idle_checks: int, idle_checks_needed: int, signals: object)\n"
        "# Keeps the machine up for duration (\"2h\", \"90min\").\n"
        "method Hold(duration: string, reason: ?string) -> (text: string, hold: Hold)\n"
        "# Ends hold id, or all of the caller's holds.\n"
        "method Release(id: ?int) -> (text: string, released: []int)\n"
        "# Re-reads the configuration (root only).\n"
        "method Reload() -> (text: string)\n"
        "\n"
        "error PermissionDenied (message: string)\n"
        "error NoSuchHold (message: string)\n"
        "error TooManyHolds (message: string)\n"
        "error ReloadFailed (message: string, errors: []string)\n"
        "error InvalidMessage (reason: string)\n"
        "error MessageTooLarge (reason: string)\n"
        "error TooManyClients ()\n";

static void reply_error(VarlinkCall *call, const char *error, const char *fmt, ...) _printf_(3, 4);
static void reply_error(VarlinkCall *call, const char *error, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object *p = json_object_new_object();
	json_object_object_add(p, "message", json_object_new_string(msg));
	varlink_error(call, error, p);
}

/* A hold's reason reaches the journal, stderr lines and, in the cancellation notice, every
 * terminal: any local user could otherwise forge log lines or send escape sequences to other
 * users' terminals. C0 and C1 controls (U+0080..U+009F, C2 80..C2 9F in UTF-8) are refused. */
static bool text_is_printable(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			return false;
	return true;
}

static json_object *hold_json(const Hold *h, usec_t now)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_uint64(h->id));
	json_object_object_add(o, "uid", json_object_new_int64(h->uid));
	json_object_object_add(o, "owner", json_object_new_string(h->owner));
	json_object_object_add(
	        o, "remaining_sec",
	        json_object_new_int64((int64_t)((h->until - MIN(now, h->until)) / USEC_PER_SEC)));
	json_object_object_add(o, "reason", json_object_new_string(h->reason));
	return o;
}

static void hold_text(FILE *f, const Hold *h, usec_t now)
{
	char left[64];
	timespan_format(left, sizeof(left),
	                (h->until - MIN(now, h->until)) / USEC_PER_SEC * USEC_PER_SEC);
	fprintf(f, "  hold #%llu by %s, %s left%s%s\n", (unsigned long long)h->id, h->owner, left,
	        h->reason[0] ? ": " : "", h->reason);
}

/* Where on EC2 we run and whether a spot interruption is pending. */
static void aws_status(Manager *m, FILE *f, json_object *p)
{
	const AwsIdentity *id = aws_runtime_identity(m->aws);
	const SpotNotice *n = aws_runtime_spot_notice(m->aws);
	json_object *o = NULL;
	if (id) {
		fprintf(f, "EC2: instance %s in %s, life cycle %s\n", id->instance_id, id->region,
		        id->life_cycle);
		o = json_object_new_object();
		json_object_object_add(o, "instance_id", json_object_new_string(id->instance_id));
		json_object_object_add(o, "region", json_object_new_string(id->region));
		json_object_object_add(o, "life_cycle", json_object_new_string(id->life_cycle));
	}
	if (n && o) {
		fprintf(f, "spot interruption pending: EC2 will %s this instance at %s\n",
		        n->action, n->time);
		json_object *sn = json_object_new_object();
		json_object_object_add(sn, "action", json_object_new_string(n->action));
		json_object_object_add(sn, "time", json_object_new_string(n->time));
		json_object_object_add(o, "spot_interruption", sn);
	}
	json_object_object_add(p, "aws", o);
}

static void method_status(Manager *m, VarlinkCall *call)
{
	usec_t now = now_boottime();
	char *text = NULL, line[512], when[64];
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	json_object *p = json_object_new_object();
	json_object *holds = json_object_new_array();

	if (m->have_last) {
		decision_summary(&m->last, line, sizeof(line));
		timespan_format(when, sizeof(when),
		                (now - m->last_at) / USEC_PER_SEC * USEC_PER_SEC);
		fprintf(f, "%s\n  (last check %s ago", line, when);
		json_object_object_add(p, "last_check", verdict_to_json(&m->last, &m->last_sample));
	} else {
		fprintf(f, "no check yet\n  (");
		json_object_object_add(p, "last_check", NULL);
	}
	timespan_format(when, sizeof(when),
	                (m->next_check_at - MIN(now, m->next_check_at)) / USEC_PER_SEC *
	                        USEC_PER_SEC);
	fprintf(f, "; next in %s)\n", when);
	for (size_t i = 0; m->have_last && i < m->last.n_reasons; i++)
		fprintf(f, "  %-16s %s\n", signal_to_string(m->last.reasons[i].signal),
		        m->last.reasons[i].detail);
	if (m->have_last)
		not_counting_text(f, &m->last);
	fprintf(f, "action: %s%s after %u idle check(s)%s\n", manager_armed_action(m),
	        m->opt.dry_run ? " (dry-run: nothing will be stopped)" : "", m->config.idle_checks,
	        m->warn_until ? ", warning running" : "");
	aws_status(m, f, p);
	for (size_t i = 0; i < m->state.n_holds; i++) {
		if (m->state.holds[i].until <= now)
			continue;
		hold_text(f, &m->state.holds[i], now);
		json_object_array_add(holds, hold_json(&m->state.holds[i], now));
	}
	fclose(f);
	json_object_object_add(p, "text", json_object_new_string(strempty(text)));
	json_object_object_add(p, "action", json_object_new_string(manager_armed_action(m)));
	json_object_object_add(p, "dry_run", json_object_new_boolean(m->opt.dry_run));
	json_object_object_add(p, "holds", holds);
	json_object_object_add(
	        p, "next_check_sec",
	        json_object_new_int64(
	                (int64_t)((m->next_check_at - MIN(now, m->next_check_at)) / USEC_PER_SEC)));
	json_object_object_add(p, "version", json_object_new_string(TRNIDLED_VERSION));
	free(text);
	varlink_reply(call, p);
}

static void method_check_now(Manager *m, VarlinkCall *call)
{
	Sample s;
	Decision d;
	manager_check_now(m, &s, &d);
	log_check("check-now", &d);
	json_object *p = verdict_to_json(&d, &s);
	_cleanup_free_ char *text = verdict_to_text(&d);
	json_object_object_add(p, "text", json_object_new_string(strempty(text)));
	json_object_object_add(p, "action", json_object_new_string(manager_armed_action(m)));
	varlink_reply(call, p);
}

static void method_hold(Manager *m, VarlinkCall *call)
{
	json_object *jd, *jr = NULL;
	usec_t duration;
	char owner[32], left[64], max[64];
	uint64_t id;

	if (!json_object_object_get_ex(call->parameters, "duration", &jd) ||
	    !json_object_is_type(jd, json_type_string) ||
	    timespan_parse(json_object_get_string(jd), &duration) < 0)
		return varlink_error_invalid_parameter(call, "duration");
	if (json_object_object_get_ex(call->parameters, "reason", &jr) && jr &&
	    (!json_object_is_type(jr, json_type_string) ||
	     strlen(json_object_get_string(jr)) > HOLD_REASON_INPUT_MAX ||
	     !text_is_printable(json_object_get_string(jr))))
		return varlink_error_invalid_parameter(call, "reason");
	timespan_format(max, sizeof(max), m->config.max_hold);
	if (duration == 0 || duration > m->config.max_hold)
		return reply_error(call, "org.varlink.service.InvalidParameter",
		                   "a hold lasts more than 0 and at most %s (MaxHoldSec=)", max);
	user_name(call->uid, owner, sizeof(owner));
	usec_t now = now_boottime();
	int r = core_hold_add(&m->state, call->uid, owner, now, duration, m->config.max_hold,
	                      jr ? json_object_get_string(jr) : NULL, &id);
	if (r == -E2BIG)
		return reply_error(call, "io.trnidle.TooManyHolds",
		                   "there are already %d holds; release one first", HOLDS_MAX);
	if (r < 0)
		return reply_error(call, "org.varlink.service.InvalidParameter", "%s",
		                   strerror(-r));
	manager_save_state(m);
	const Hold *h = &m->state.holds[m->state.n_holds - 1];
	log_info("hold #%llu by %s (uid %u) for %s: %s", (unsigned long long)id, owner,
	         (unsigned)call->uid, timespan_format(left, sizeof(left), duration), h->reason);
	char text[512];
	snprintf(text, sizeof(text),
	         "hold #%llu: the machine stays up for %s%s%s (release it with: trnidlectl release "
	         "%llu)\n",
	         (unsigned long long)id, left, h->reason[0] ? ": " : "", h->reason,
	         (unsigned long long)id);
	json_object *p = json_object_new_object();
	json_object_object_add(p, "text", json_object_new_string(text));
	json_object_object_add(p, "hold", hold_json(h, now));
	varlink_reply(call, p);
}

static void method_release(Manager *m, VarlinkCall *call)
{
	json_object *jid = NULL, *released = json_object_new_array();
	char text[512] = "";

	if (json_object_object_get_ex(call->parameters, "id", &jid) && jid) {
		if (!json_object_is_type(jid, json_type_int) || json_object_get_int64(jid) < 1) {
			json_object_put(released);
			return varlink_error_invalid_parameter(call, "id");
		}
		uint64_t id = (uint64_t)json_object_get_int64(jid);
		int r = core_hold_release(&m->state, id, call->uid);
		json_object_put(released);
		if (r == -ENOENT)
			return reply_error(call, "io.trnidle.NoSuchHold", "there is no hold #%llu",
			                   (unsigned long long)id);
		if (r == -EPERM)
			return reply_error(call, "io.trnidle.PermissionDenied",
			                   "hold #%llu belongs to another user; only root may "
			                   "release it",
			                   (unsigned long long)id);
		released = json_object_new_array();
		json_object_array_add(released, json_object_new_uint64(id));
		snprintf(text, sizeof(text), "released hold #%llu\n", (unsigned long long)id);
	} else {
		for (size_t i = m->state.n_holds; i > 0; i--) {
			const Hold *h = &m->state.holds[i - 1];
			if (h->uid != call->uid)
				continue;
			uint64_t id = h->id;
			(void)core_hold_release(&m->state, id, call->uid);
			json_object_array_add(released, json_object_new_uint64(id));
			strappendf(text, sizeof(text), "released hold #%llu\n",
			           (unsigned long long)id);
		}
		if (json_object_array_length(released) == 0) {
			json_object_put(released);
			return reply_error(call, "io.trnidle.NoSuchHold", "you have no holds");
		}
	}
	manager_save_state(m);
	/* text has one line per hold for the terminal; the log record is one line. */
	char line[512];
	strscpy(line, sizeof(line), text);
	for (char *nl; (nl = strrchr(line, '\n'));)
		nl[0] = nl[1] ? ',' : '\0';
	log_info("uid %u: %s", (unsigned)call->uid, line);
	json_object *p = json_object_new_object();
	json_object_object_add(p, "text", json_object_new_string(text));
	json_object_object_add(p, "released", released);
	varlink_reply(call, p);
}

static void method_reload(Manager *m, VarlinkCall *call)
{
	char **errors = NULL;
	if (call->uid != 0)
		return reply_error(call, "io.trnidle.PermissionDenied",
		                   "only root may reload the configuration");
	log_info("reload requested over the control socket");
	int r = manager_reload(m, &errors);
	if (r < 0) {
		json_object *p = json_object_new_object(), *a = json_object_new_array();
		for (char **e = errors; e && *e; e++)
			json_object_array_add(a, json_object_new_string(*e));
		json_object_object_add(
		        p, "message",
		        json_object_new_string("the new configuration has errors; the old one "
		                               "stays in force"));
		json_object_object_add(p, "errors", a);
		strv_free(errors);
		return varlink_error(call, "io.trnidle.ReloadFailed", p);
	}
	json_object *p = json_object_new_object();
	json_object_object_add(p, "text", json_object_new_string("configuration reloaded\n"));
	varlink_reply(call, p);
}

static void method_get_info(Manager *m, VarlinkCall *call)
{
	json_object *p = json_object_new_object(), *ifaces = json_object_new_array();
	json_object_object_add(p, "vendor", json_object_new_string("trnidled"));
	json_object_object_add(p, "product", json_object_new_string("trnidled"));
	json_object_object_add(p, "version", json_object_new_string(TRNIDLED_VERSION));
	json_object_object_add(p, "url", json_object_new_string("man:trnidled(8)"));
	json_object_array_add(ifaces, json_object_new_string("org.varlink.service"));
	json_object_array_add(ifaces, json_object_new_string("io.trnidle"));
	json_object_object_add(p, "interfaces", ifaces);
	varlink_reply(call, p);
}

static void method_get_interface_description(Manager *m, VarlinkCall *call)
{
	json_object *ji;
	if (!json_object_object_get_ex(call->parameters, "interface", &ji) ||
	    !json_object_is_type(ji, json_type_string))
		return varlink_error_invalid_parameter(call, "interface");
	if (!streq(json_object_get_string(ji), "io.trnidle")) {
		json_object *p = json_object_new_object();
		json_object_object_add(p, "interface", json_object_get(ji));
		return varlink_error(call, "org.varlink.service.InterfaceNotFound", p);
	}
	json_object *p = json_object_new_object();
	json_object_object_add(p, "description", json_object_new_string(interface_description));
	varlink_reply(call, p);
}

static const struct {
	const char *method;
	void (*fn)(Manager *m, VarlinkCall *call);
} methods[] = {
	{ "io.trnidle.Status", method_status },
	{ "io.trnidle.CheckNow", method_check_now },
	{ "io.trnidle.Hold", method_hold },
	{ "io.trnidle.Release", method_release },
	{ "io.trnidle.Reload", method_reload },
	{ "org.varlink.service.GetInfo", method_get_info },
	{ "org.varlink.service.GetInterfaceDescription", method_get_interface_description },
};

void control_dispatch(VarlinkCall *call, void *userdata)
{
	for (size_t i = 0; i < ELEMENTSOF(methods); i++)
		if (streq(call->method, methods[i].method))
			return methods[i].fn(userdata, call);
	json_object *p = json_object_new_object();
	json_object_object_add(p, "method", json_object_new_string(call->method));
	varlink_error(call, "org.varlink.service.MethodNotFound", p);
}
