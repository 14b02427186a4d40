/* The io.trnidle Varlink interface. The daemon builds every answer, including the human text
 * that trnidlectl prints, so the CLI holds no logic. One file over 400 lines: each method is
 * short, but all share the interface description, the caller's identity and rights (who may
 * hold, release, reload) and the reply helpers, which nothing else uses. */
#include <errno.h>
#include <stdarg.h>
#include <grp.h>
#include <pwd.h>
#include <time.h>
#include <stdio.h>

#include "build-config.h"
#include "check-log.h"
#include "history.h"
#include "log.h"
#include "manager.h"
#include "timespan.h"
#include "verdict-json.h"

#define HOLD_REASON_INPUT_MAX 1024

/* The hold table (HOLDS_MAX) in tiers, so that root's hold always fits: users share all but
 * the last 16 slots, AdminGroup= members all but the last 8, root has the whole table. */
#define HOLDS_USERS_MAX  (HOLDS_MAX - 16)
#define HOLDS_ADMINS_MAX (HOLDS_MAX - 8)

/* Journal records a caller can cause: per uid 10 at once then 2 a second, and 50 at once then
 * 20 a second from all callers but root together (users together must not lock root out: it
 * has only its own budget). journald drops a service's lines beyond 10,000 in 30 s (its
 * default), and the check records must never be among them: callers cause at most 720
 * records in 30 s (and as many notes of how many were left out). A Hold or Release beyond
 * its caller's budget is refused, so every hold that is made or released has its record;
 * refusals and CheckNow records beyond it are counted and the count goes with the caller's
 * next record. */
#define RECORDS_PER_UID_BURST 10
#define RECORDS_PER_UID_RATE  2
#define RECORDS_ALL_BURST     50
#define RECORDS_ALL_RATE      20
#define RECORD_CALLERS_MAX    64

typedef struct RecordBudget {
	uid_t uid;
	bool used;
	TokenBucket bucket;
	unsigned suppressed; /* records not written since the last one */
} RecordBudget;

static RecordBudget record_budgets[RECORD_CALLERS_MAX];
static TokenBucket record_budget_all;

static RecordBudget *record_budget(uid_t uid)
{
	RecordBudget *pick = &record_budgets[0];
	for (size_t i = 0; i < RECORD_CALLERS_MAX; i++) {
		RecordBudget *b = &record_budgets[i];
		if (b->used && b->uid == uid)
			return b;
		if (!b->used || (pick->used && b->bucket.at < pick->bucket.at))
			pick = b;
	}
	*pick = (RecordBudget){ .uid = uid, .used = true };
	return pick;
}

/* True when uid may cause one more record now; false counts it as suppressed. */
static bool record_allowed(uid_t uid)
{
	usec_t now = now_boottime();
	RecordBudget *b = record_budget(uid);
	if (token_bucket_take(&b->bucket, RECORDS_PER_UID_RATE, RECORDS_PER_UID_BURST, now) > 0 ||
	    (uid != 0 &&
	     token_bucket_take(&record_budget_all, RECORDS_ALL_RATE, RECORDS_ALL_BURST, now) > 0)) {
		b->suppressed++;
		return false;
	}
	return true;
}

/* The records of uid suppressed since its last one, and resets the count. */
static unsigned record_suppressed(uid_t uid)
{
	RecordBudget *b = record_budget(uid);
	unsigned n = b->suppressed;
	b->suppressed = 0;
	return n;
}

static const char interface_description[] =
        "# trnidled: stops idle cloud accelerator machines; see trnidlectl(1).\n"
        "interface io.trnidle\n"
        "\n"
        "type Reason (signal: string, detail: string)\n"
        "type Hold (id: int, uid: int, owner: string, remaining_sec: int, reason: string)\n"
        "type HistoryEntry (at_usec: int, time: string, verdict: string, signal: string,\n"
        "                   detail: string)\n"
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
        "# The verdict changes of the last 7 days from since (seconds since 1970-01-01 UTC;\n"
        "# default and earliest: 7 days ago), the one in force then first, and the timeline.\n"
        "method History(since: ?int) -> (text: string, since: int, entries: []HistoryEntry)\n"
        "# Re-reads the configuration (root only).\n"
        "method Reload() -> (text: string)\n"
        "\n"
        "error PermissionDenied (message: string)\n"
        "error NoSuchHold (message: string)\n"
        "error TooManyHolds (message: string)\n"
        "error TooManyRequests (message: string)\n"
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

static void reply_too_many_requests(VarlinkCall *call)
{
	reply_error(call, "io.trnidle.TooManyRequests",
	            "too many requests from uid %u; try again in a second", (unsigned)call->uid);
}

/* Says once, in the caller's next record, how many of its records the budget dropped. */
static void note_suppressed(uid_t uid)
{
	unsigned n = record_suppressed(uid);
	if (n > 0)
		log_notice(
		        "uid %u: %u record(s) of its requests not written (over its budget of %d a "
		        "second)",
		        (unsigned)uid, n, RECORDS_PER_UID_RATE);
}

/* CLOCK_BOOTTIME until as UTC wall time, for people; "-" for none (0). */
static void until_text(usec_t until, char *buf, size_t size)
{
	if (until == 0) {
		strscpy(buf, size, "-");
		return;
	}
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	usec_t now = now_boottime();
	time_t t = ts.tv_sec + (time_t)((until - MIN(until, now)) / USEC_PER_SEC);
	if (until == USEC_INFINITY || !gmtime_r(&t, &tm) ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		strscpy(buf, size, "never");
}

typedef struct HoldRecord {
	const char *event; /* "hold", "release" or "refused" */
	uid_t caller;
	const Hold *hold; /* NULL for a refusal */
	const char *reason;
	usec_t until;
	const char *refusal; /* why, for a refusal */
} HoldRecord;

/* One journal record per hold made, released or refused, with its facts as fields. */
static void hold_record(const HoldRecord *r)
{
	char f_event[64], f_id[64], f_uid[64], f_caller[64], f_until[96], f_until_usec[96],
	        f_reason[HOLD_REASON_INPUT_MAX + 32], f_refusal[600], until[64], who[32],
	        text[1200];
	uid_t uid = r->hold ? r->hold->uid : r->caller;
	until_text(r->until, until, sizeof(until));
	snprintf(f_event, sizeof(f_event), "TRNIDLED_HOLD_EVENT=%s", r->event);
	snprintf(f_id, sizeof(f_id), "TRNIDLED_HOLD_ID=%llu",
	         (unsigned long long)(r->hold ? r->hold->id : 0));
	snprintf(f_uid, sizeof(f_uid), "TRNIDLED_HOLD_UID=%u", (unsigned)uid);
	snprintf(f_caller, sizeof(f_caller), "TRNIDLED_CALLER_UID=%u", (unsigned)r->caller);
	snprintf(f_until, sizeof(f_until), "TRNIDLED_HOLD_UNTIL=%s", until);
	snprintf(f_until_usec, sizeof(f_until_usec), "TRNIDLED_HOLD_UNTIL_BOOTTIME_USEC=%llu",
	         (unsigned long long)r->until);
	snprintf(f_reason, sizeof(f_reason), "TRNIDLED_HOLD_REASON=%s", strempty(r->reason));
	snprintf(f_refusal, sizeof(f_refusal), "TRNIDLED_HOLD_REFUSAL=%s", strempty(r->refusal));
	const char *fields[] = { f_event, f_id,         f_uid,    f_caller,
		                 f_until, f_until_usec, f_reason, r->refusal ? f_refusal : NULL,
		                 NULL };
	if (r->hold)
		user_name(r->hold->uid, who, sizeof(who));
	else
		user_name(r->caller, who, sizeof(who));
	if (streq(r->event, "hold"))
		snprintf(text, sizeof(text), "hold #%llu by %s (uid %u) until %s",
		         (unsigned long long)r->hold->id, who, (unsigned)uid, until);
	else if (streq(r->event, "release"))
		snprintf(text, sizeof(text),
		         "hold #%llu by %s (uid %u, until %s) released by uid %u",
		         (unsigned long long)r->hold->id, who, (unsigned)uid, until,
		         (unsigned)r->caller);
	else
		snprintf(text, sizeof(text), "hold refused to %s (uid %u, until %s): %s", who,
		         (unsigned)uid, until, r->refusal);
	if (r->reason && r->reason[0])
		strappendf(text, sizeof(text), "; reason: %s", r->reason);
	log_event(streq(r->event, "refused") ? LOG_NOTICE : LOG_INFO,
	          streq(r->event, "hold")      ? MESSAGE_ID_HOLD
	          : streq(r->event, "release") ? MESSAGE_ID_HOLD_RELEASE
	                                       : MESSAGE_ID_HOLD_REFUSED,
	          fields, "%s", text);
}

static bool peer_in_group(const VarlinkPeer *p, gid_t gid)
{
	if (p->gid == gid)
		return true;
	for (size_t i = 0; i < p->n_groups; i++)
		if (p->groups[i] == gid)
			return true;
	return false;
}

static bool group_gid(const char *name, gid_t *ret)
{
	struct group gr, *res = NULL;
	char buf[16384];
	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || !res)
		return false;
	*ret = res->gr_gid;
	return true;
}

static bool user_uid(const char *name, uid_t *ret)
{
	struct passwd pw, *res = NULL;
	char buf[16384], *end;
	unsigned long n = strtoul(name, &end, 10);
	if (*name && !*end && n < UINT32_MAX) {
		*ret = (uid_t)n;
		return true;
	}
	if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return false;
	*ret = res->pw_uid;
	return true;
}

bool control_peer_privileged(const VarlinkPeer *peer, void *userdata)
{
	const Manager *m = userdata;
	gid_t admin;
	return peer->uid == 0 ||
	       (m->config.admin_group && group_gid(m->config.admin_group, &admin) &&
	        peer_in_group(peer, admin));
}

usec_t control_hold_max(uid_t uid, void *userdata)
{
	const Manager *m = userdata;
	const Config *c = &m->config;
	struct passwd pw, *res = NULL;
	char buf[16384];
	gid_t admin, groups[VARLINK_PEER_GROUPS_MAX];
	int n = VARLINK_PEER_GROUPS_MAX;
	if (uid == 0)
		return c->max_hold;
	if (c->admin_group && group_gid(c->admin_group, &admin) &&
	    getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res &&
	    getgrouplist(res->pw_name, res->pw_gid, groups, &n) >= 0) {
		VarlinkPeer peer = { .uid = uid, .gid = res->pw_gid, .n_groups = (size_t)n };
		memcpy(peer.groups, groups, (size_t)n * sizeof(gid_t));
		if (peer_in_group(&peer, admin))
			return c->max_hold;
	}
	return MIN(c->user_max_hold, c->max_hold);
}

/* HoldAllowed=: user names, uids and @groups; empty: everybody. */
static bool hold_allowed(const Config *c, const VarlinkPeer *p)
{
	if (strv_length(c->hold_allowed) == 0)
		return true;
	for (char **w = c->hold_allowed; *w; w++) {
		gid_t gid;
		uid_t uid;
		if ((*w)[0] == '@' ? group_gid(*w + 1, &gid) && peer_in_group(p, gid)
		                   : user_uid(*w, &uid) && uid == p->uid)
			return true;
	}
	return false;
}

/* NULL when the caller may hold for duration now, else the error to answer, with the reason
 * in why. Root and AdminGroup= members are "privileged": MaxHoldSec=, no HoldsPerUser= limit
 * for root, and room in the table that users cannot take. */
static const char *hold_refusal(const Manager *m, const VarlinkCall *call, usec_t duration,
                                usec_t now, char *why, size_t size)
{
	const Config *c = &m->config;
	bool root = call->uid == 0, privileged = call->privileged;
	HoldPolicy policy = {
		.max = privileged ? c->max_hold : MIN(c->user_max_hold, c->max_hold),
		.per_user = root ? 0 : c->holds_per_user,
		.table = root         ? HOLDS_MAX
		         : privileged ? HOLDS_ADMINS_MAX
		                      : HOLDS_USERS_MAX,
	};
	size_t mine, all;
	char max[64];

	if (!privileged && !hold_allowed(c, call->peer)) {
		snprintf(why, size, "uid %u may not hold this machine up ([Control] HoldAllowed=)",
		         (unsigned)call->uid);
		return "io.trnidle.PermissionDenied";
	}
	switch (core_hold_admit(&m->state, call->uid, now, duration, &policy, &mine, &all)) {
	case HOLD_BAD_DURATION:
		timespan_format(max, sizeof(max), policy.max);
		snprintf(why, size, "a hold lasts more than 0 and at most %s (%s)", max,
		         privileged || c->user_max_hold >= c->max_hold ? "MaxHoldSec="
		                                                       : "UserMaxHoldSec=");
		return "org.varlink.service.InvalidParameter";
	case HOLD_TOO_MANY_OWN:
		snprintf(why, size,
		         "you have %zu holds already (HoldsPerUser=%u); release one first", mine,
		         c->holds_per_user);
		return "io.trnidle.TooManyHolds";
	case HOLD_TABLE_FULL:
		snprintf(why, size, "there are %zu holds already; release one first", all);
		return "io.trnidle.TooManyHolds";
	default:
		return NULL;
	}
}

/* Where on EC2 we run and whether a spot interruption is pending. */
static void aws_status(Manager *m, FILE *f, json_object *p)
{
	const AwsIdentity *id = aws_runtime_identity(m->aws);
	const SpotFacts *n = aws_runtime_spot_notice(m->aws);
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
	usec_t now = manager_now(m);
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
	        manager_pending_phrase(m));
	aws_status(m, f, p);
	for (size_t i = 0; i < m->state.n_holds; i++) {
		if (!hold_running(&m->state.holds[i], now))
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
	if (record_allowed(call->uid)) {
		log_check("check-now", &d);
		note_suppressed(call->uid);
	}
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
	char owner[32], left[64], why[256];
	uint64_t id;

	if (!json_object_object_get_ex(call->parameters, "duration", &jd) ||
	    !json_object_is_type(jd, json_type_string) ||
	    timespan_parse(json_object_get_string(jd), &duration) < 0)
		return varlink_error_invalid_parameter(call, "duration");
	/* A reason reaches the journal and, in the cancellation notice, every terminal: no
	 * control characters (invalid UTF-8 becomes U+FFFD in core_hold_add()). */
	if (json_object_object_get_ex(call->parameters, "reason", &jr) && jr &&
	    (!json_object_is_type(jr, json_type_string) ||
	     strlen(json_object_get_string(jr)) > HOLD_REASON_INPUT_MAX ||
	     text_controls(json_object_get_string(jr)) > 0))
		return varlink_error_invalid_parameter(call, "reason");
	if (!record_allowed(call->uid))
		return reply_too_many_requests(call);
	const char *reason = jr ? json_object_get_string(jr) : NULL;
	usec_t now = manager_now(m);
	const char *error = hold_refusal(m, call, duration, now, why, sizeof(why));
	if (error) {
		hold_record(&(HoldRecord){ .event = "refused",
		                           .caller = call->uid,
		                           .reason = reason,
		                           .until = now + duration,
		                           .refusal = why });
		note_suppressed(call->uid);
		return reply_error(call, error, "%s", why);
	}
	user_name(call->uid, owner, sizeof(owner));
	int r = core_hold_add(&m->state, call->uid, owner, now, duration, m->config.max_hold,
	                      reason, &id);
	if (r < 0)
		return reply_error(call, "org.varlink.service.InvalidParameter", "%s",
		                   strerror(-r));
	manager_save_state(m);
	const Hold *h = &m->state.holds[m->state.n_holds - 1];
	hold_record(&(HoldRecord){ .event = "hold",
	                           .caller = call->uid,
	                           .hold = h,
	                           .reason = h->reason,
	                           .until = h->until });
	note_suppressed(call->uid);
	timespan_format(left, sizeof(left), duration);
	manager_holds_changed(m);
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

static const Hold *hold_find(const CoreState *st, uint64_t id)
{
	for (size_t i = 0; i < st->n_holds; i++)
		if (st->holds[i].id == id)
			return &st->holds[i];
	return NULL;
}

/* Releases hold id for the caller: its record, its line in text, its id in released. */
static int release_one(Manager *m, VarlinkCall *call, uint64_t id, FILE *text,
                       json_object *released)
{
	const Hold *found = hold_find(&m->state, id);
	Hold h = found ? *found : (Hold){ .id = id };
	int r = core_hold_release(&m->state, id, call->uid);
	if (r < 0)
		return r;
	hold_record(&(HoldRecord){ .event = "release",
	                           .caller = call->uid,
	                           .hold = &h,
	                           .reason = h.reason,
	                           .until = h.until });
	json_object_array_add(released, json_object_new_uint64(id));
	fprintf(text, "released hold #%llu\n", (unsigned long long)id);
	return 0;
}

static void refuse_release(VarlinkCall *call, const char *error, const char *why)
{
	hold_record(&(HoldRecord){ .event = "refused", .caller = call->uid, .refusal = why });
	note_suppressed(call->uid);
	reply_error(call, error, "%s", why);
}

static void method_release(Manager *m, VarlinkCall *call)
{
	json_object *jid = NULL;
	char why[256];
	uint64_t id = 0;

	if (json_object_object_get_ex(call->parameters, "id", &jid) && jid) {
		if (!json_object_is_type(jid, json_type_int) || json_object_get_int64(jid) < 1)
			return varlink_error_invalid_parameter(call, "id");
		id = (uint64_t)json_object_get_int64(jid);
	}
	if (!record_allowed(call->uid))
		return reply_too_many_requests(call);
	_cleanup_free_ char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	if (!f)
		return reply_error(call, "org.varlink.service.InvalidParameter", "out of memory");
	json_object *released = json_object_new_array();
	int r = 0;
	if (id > 0)
		r = release_one(m, call, id, f, released);
	else
		for (size_t i = m->state.n_holds; i > 0; i--)
			if (m->state.holds[i - 1].uid == call->uid)
				(void)release_one(m, call, m->state.holds[i - 1].id, f, released);
	fclose(f);
	if (r == -ENOENT || r == -EPERM || json_object_array_length(released) == 0) {
		json_object_put(released);
		if (r == -EPERM)
			snprintf(why, sizeof(why),
			         "hold #%llu belongs to another user; only root may release it",
			         (unsigned long long)id);
		else if (id > 0)
			snprintf(why, sizeof(why), "there is no hold #%llu",
			         (unsigned long long)id);
		else
			snprintf(why, sizeof(why), "you have no holds");
		return refuse_release(
		        call, r == -EPERM ? "io.trnidle.PermissionDenied" : "io.trnidle.NoSuchHold",
		        why);
	}
	manager_save_state(m);
	note_suppressed(call->uid);
	json_object *p = json_object_new_object();
	json_object_object_add(p, "text", json_object_new_string(strempty(text)));
	json_object_object_add(p, "released", released);
	varlink_reply(call, p);
}

static void method_history(Manager *m, VarlinkCall *call)
{
	json_object *js = NULL;
	usec_t now = manager_realtime(m),
	       since = now > HISTORY_KEEP_USEC ? now - HISTORY_KEEP_USEC : 0;
	if (json_object_object_get_ex(call->parameters, "since", &js) && js) {
		if (!json_object_is_type(js, json_type_int) || json_object_get_int64(js) < 0 ||
		    (uint64_t)json_object_get_int64(js) > now / USEC_PER_SEC)
			return varlink_error_invalid_parameter(call, "since");
		since = MAX(since, (uint64_t)json_object_get_int64(js) * USEC_PER_SEC);
	}
	_cleanup_free_ char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	if (!f)
		return reply_error(call, "org.varlink.service.InvalidParameter", "out of memory");
	history_render(f, m->history, since, now);
	fclose(f);
	json_object *p = json_object_new_object();
	json_object_object_add(p, "text", json_object_new_string(strempty(text)));
	json_object_object_add(p, "since", json_object_new_int64((int64_t)(since / USEC_PER_SEC)));
	json_object_object_add(p, "entries", history_to_json(m->history, since));
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
	{ "io.trnidle.History", method_history },
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
