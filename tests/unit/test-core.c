/* The decision core, driven directly: table-driven cases for every rule and its edges. */
#include "check-main.h"
#include <errno.h>

#include "core.h"
#include "test-util.h"

#define SEC USEC_PER_SEC

static Config cfg(void)
{
	Config c;
	ck_assert_int_eq(config_init_defaults(&c), 0);
	c.boot_grace = 300 * SEC;
	c.idle_checks = 2;
	c.cpu_percent = 10;
	c.memory_percent = 80;
	return c;
}

static Sample quiet(void)
{
	return (Sample){ .cpu = { .valid = true, .busy_percent = 1.0, .window = 60 * SEC },
		         .memory = { .valid = true,
		                     .total_kib = 1000,
		                     .available_kib = 900,
		                     .used_percent = 10.0 } };
}

typedef struct StepCase {
	const char *name;
	usec_t now;
	double cpu;
	double mem;
	bool probe_error;
	unsigned streak_before;
	Verdict verdict;
	unsigned streak_after;
	bool due;
	Signal first_signal; /* checked when verdict is active */
} StepCase;

static const StepCase steps[] = {
	{ "in grace", 299 * SEC, 1, 10, false, 0, VERDICT_GRACE, 0, false, 0 },
	{ "grace ignores activity", 10 * SEC, 99, 10, false, 0, VERDICT_GRACE, 0, false, 0 },
	{ "grace resets a streak", 299 * SEC, 1, 10, false, 1, VERDICT_GRACE, 0, false, 0 },
	{ "exactly at grace end counts", 300 * SEC, 1, 10, false, 0, VERDICT_IDLE, 1, false, 0 },
	{ "second idle check is due", 400 * SEC, 1, 10, false, 1, VERDICT_IDLE, 2, true, 0 },
	{ "third idle check still due", 400 * SEC, 1, 10, false, 2, VERDICT_IDLE, 3, true, 0 },
	{ "cpu above threshold", 400 * SEC, 37, 10, false, 1, VERDICT_ACTIVE, 0, false,
	  SIGNAL_CPU },
	{ "cpu exactly at threshold is idle", 400 * SEC, 10, 10, false, 0, VERDICT_IDLE, 1, false,
	  0 },
	{ "memory above threshold", 400 * SEC, 1, 81, false, 1, VERDICT_ACTIVE, 0, false,
	  SIGNAL_MEMORY },
	{ "probe error in an idle sample", 400 * SEC, 1, 10, true, 1, VERDICT_ACTIVE, 0, false,
	  SIGNAL_PROBE_ERROR },
};

START_TEST(test_step)
{
	const StepCase *t = &steps[_i];
	Config c = cfg();
	Sample s = quiet();
	CoreState st, out;
	Decision d;

	core_state_init(&st);
	st.idle_checks = t->streak_before;
	s.cpu.busy_percent = t->cpu;
	s.memory.used_percent = t->mem;
	if (t->probe_error)
		sample_add_error(&s, "memory", "/proc/meminfo: Permission denied");
	core_decide(&s, &c, &st, t->now, DECIDE_CHECK, &out, &d);
	ck_assert_msg(d.verdict == t->verdict, "%s: verdict %s", t->name,
	              verdict_to_string(d.verdict));
	ck_assert_msg(out.idle_checks == t->streak_after, "%s: streak %u", t->name,
	              out.idle_checks);
	ck_assert_msg(d.idle_checks == t->streak_after, "%s", t->name);
	ck_assert_msg(d.action_due == t->due, "%s: due", t->name);
	if (t->verdict == VERDICT_ACTIVE) {
		ck_assert_uint_ge(d.n_reasons, 1);
		ck_assert_msg(d.reasons[0].signal == t->first_signal, "%s: first reason %s",
		              t->name, signal_to_string(d.reasons[0].signal));
	}
	if (t->verdict == VERDICT_IDLE)
		ck_assert_uint_eq(d.n_reasons, 0);
	config_free(&c);
}
END_TEST

START_TEST(test_sequence_streak_reset_by_one_active_check)
{
	Config c = cfg();
	CoreState st;
	Decision d;
	Sample idle = quiet(), busy = quiet();
	busy.cpu.busy_percent = 50;

	core_state_init(&st);
	core_decide(&idle, &c, &st, 1000 * SEC, DECIDE_CHECK, &st, &d);
	ck_assert_uint_eq(d.idle_checks, 1);
	core_decide(&busy, &c, &st, 1060 * SEC, DECIDE_CHECK, &st, &d);
	ck_assert_int_eq(d.verdict, VERDICT_ACTIVE);
	ck_assert_uint_eq(d.idle_checks, 0);
	core_decide(&idle, &c, &st, 1120 * SEC, DECIDE_CHECK, &st, &d);
	ck_assert_uint_eq(d.idle_checks, 1);
	ck_assert(!d.action_due);
	core_decide(&idle, &c, &st, 1180 * SEC, DECIDE_CHECK, &st, &d);
	ck_assert(d.action_due);
	config_free(&c);
}
END_TEST

START_TEST(test_probe_error_detail)
{
	Config c = cfg();
	CoreState st;
	Decision d;
	Sample s = quiet();
	core_state_init(&st);
	sample_add_error(&s, "cpu", "/proc/stat: No such file or directory");
	core_decide(&s, &c, &st, 1000 * SEC, DECIDE_CHECK, &st, &d);
	ck_assert_int_eq(d.verdict, VERDICT_ACTIVE);
	ck_assert_str_eq(signal_to_string(d.reasons[0].signal), "probe-error");
	ck_assert_str_eq(d.reasons[0].detail, "cpu: /proc/stat: No such file or directory");
	config_free(&c);
}
END_TEST

START_TEST(test_hold_keeps_held_then_expires)
{
	Config c = cfg();
	CoreState st;
	Decision d;
	Sample s = quiet();
	uint64_t id;

	core_state_init(&st);
	ck_assert_int_eq(core_hold_add(&st, 1000, "alice", 1000 * SEC, 3600 * SEC, 86400 * SEC,
	                               "training", &id),
	                 0);
	ck_assert_uint_eq(id, 1);
	core_decide(&s, &c, &st, 2000 * SEC, DECIDE_CHECK, &st, &d);
	ck_assert_int_eq(d.verdict, VERDICT_HELD);
	ck_assert_int_eq(d.reasons[0].signal, SIGNAL_HOLD);
	ck_assert_ptr_nonnull(strstr(d.reasons[0].detail, "alice"));
	ck_assert_ptr_nonnull(strstr(d.reasons[0].detail, "training"));
	ck_assert_uint_eq(d.idle_checks, 0);
	/* Exactly at its end the hold is gone. */
	core_decide(&s, &c, &st, 4600 * SEC, DECIDE_CHECK, &st, &d);
	ck_assert_int_eq(d.verdict, VERDICT_IDLE);
	ck_assert_uint_eq(st.n_holds, 0);
	config_free(&c);
}
END_TEST

START_TEST(test_hold_with_activity_is_active)
{
	Config c = cfg();
	CoreState st;
	Decision d;
	Sample s = quiet();
	uint64_t id;
	s.cpu.busy_percent = 90;
	core_state_init(&st);
	ck_assert_int_eq(core_hold_add(&st, 0, "root", 0, 60 * SEC, 3600 * SEC, NULL, &id), 0);
	core_decide(&s, &c, &st, 1 * SEC, DECIDE_CHECK, &st, &d);
	/* Still in grace: grace wins over everything. */
	ck_assert_int_eq(d.verdict, VERDICT_GRACE);
	core_decide(&s, &c, &st, 301 * SEC, DECIDE_CHECK, &st, &d);
	ck_assert_int_eq(d.verdict, VERDICT_ACTIVE); /* hold expired at 60 s */
	config_free(&c);
}
END_TEST

START_TEST(test_hold_limits_and_release)
{
	CoreState st;
	uint64_t id;
	core_state_init(&st);
	ck_assert_int_eq(core_hold_add(&st, 1000, "a", 0, 0, 3600 * SEC, NULL, &id), -ERANGE);
	ck_assert_int_eq(core_hold_add(&st, 1000, "a", 0, 3601 * SEC, 3600 * SEC, NULL, &id),
	                 -ERANGE);
	ck_assert_int_eq(core_hold_add(&st, 1000, "a", 0, 60 * SEC, 3600 * SEC, NULL, &id), 0);
	ck_assert_int_eq(core_hold_release(&st, id, 1001), -EPERM);
	ck_assert_int_eq(core_hold_release(&st, id + 7, 1000), -ENOENT);
	ck_assert_int_eq(core_hold_release(&st, id, 0), 0);
	ck_assert_uint_eq(st.n_holds, 0);
	for (int i = 0; i < HOLDS_MAX; i++)
		ck_assert_int_eq(core_hold_add(&st, 1, "b", 0, 60 * SEC, 3600 * SEC, NULL, &id), 0);
	ck_assert_int_eq(core_hold_add(&st, 1, "b", 0, 60 * SEC, 3600 * SEC, NULL, &id), -E2BIG);
}
END_TEST

START_TEST(test_once_ignores_grace_holds_and_streak)
{
	Config c = cfg();
	CoreState st;
	Decision d;
	Sample s = quiet();
	uint64_t id;
	core_state_init(&st);
	st.idle_checks = 5;
	ck_assert_int_eq(core_hold_add(&st, 0, "root", 0, 60 * SEC, 3600 * SEC, NULL, &id), 0);
	core_decide(&s, &c, &st, 1 * SEC, DECIDE_ONCE, &st, &d);
	ck_assert_int_eq(d.verdict, VERDICT_IDLE);
	ck_assert_uint_eq(d.n_reasons, 0);
	ck_assert_uint_eq(d.idle_checks, 0);
	ck_assert(!d.action_due);
	config_free(&c);
}
END_TEST

START_TEST(test_summary_line)
{
	Config c = cfg();
	CoreState st;
	Decision d;
	Sample s = quiet();
	char line[256];
	s.cpu.busy_percent = 37;
	core_state_init(&st);
	core_decide(&s, &c, &st, 1000 * SEC, DECIDE_CHECK, &st, &d);
	decision_summary(&d, line, sizeof(line));
	ck_assert_str_eq(line, "active: cpu 37% > 10%; idle 0/2");
	/* Just above the threshold: a decimal, never "10% > 10%". */
	s.cpu.busy_percent = 10.04;
	core_decide(&s, &c, &st, 1030 * SEC, DECIDE_CHECK, &st, &d);
	decision_summary(&d, line, sizeof(line));
	ck_assert_str_eq(line, "active: cpu 10.0% > 10%; idle 0/2");
	s.cpu.busy_percent = 1;
	core_decide(&s, &c, &st, 1060 * SEC, DECIDE_CHECK, &st, &d);
	core_decide(&s, &c, &st, 1120 * SEC, DECIDE_CHECK, &st, &d);
	decision_summary(&d, line, sizeof(line));
	ck_assert_str_eq(line, "idle: nothing active; idle 2/2, action due");
	config_free(&c);
}
END_TEST

START_TEST(test_invalid_facts_do_not_count)
{
	/* A probe that produced no facts must have said so with an error; facts marked invalid
	 * alone never trip a threshold (their error is what counts). */
	Config c = cfg();
	CoreState st;
	Decision d;
	Sample s = quiet();
	s.cpu = (CpuFacts){ .valid = false, .busy_percent = 99 };
	core_state_init(&st);
	core_decide(&s, &c, &st, 1000 * SEC, DECIDE_CHECK, &st, &d);
	ck_assert_int_eq(d.verdict, VERDICT_IDLE);
	config_free(&c);
}
END_TEST

START_TEST(test_hold_resets_a_streak_and_grace_outranks_it)
{
	Config c = cfg();
	CoreState st;
	Decision d;
	Sample s = quiet();
	uint64_t id;
	core_state_init(&st);
	core_decide(&s, &c, &st, 1000 * SEC, DECIDE_CHECK, &st, &d);
	ck_assert_uint_eq(d.idle_checks, 1);
	ck_assert_int_eq(
	        core_hold_add(&st, 0, "root", 1000 * SEC, 600 * SEC, 3600 * SEC, NULL, &id), 0);
	core_decide(&s, &c, &st, 1060 * SEC, DECIDE_CHECK, &st, &d);
	ck_assert_int_eq(d.verdict, VERDICT_HELD);
	ck_assert_uint_eq(st.idle_checks, 0);
	ck_assert(!d.action_due);
	/* After the hold, the streak starts from nothing. */
	core_decide(&s, &c, &st, 1700 * SEC, DECIDE_CHECK, &st, &d);
	ck_assert_int_eq(d.verdict, VERDICT_IDLE);
	ck_assert_uint_eq(d.idle_checks, 1);
	ck_assert(!d.action_due);
	/* In boot grace a hold is listed but the verdict is grace. */
	core_state_init(&st);
	ck_assert_int_eq(core_hold_add(&st, 0, "root", 0, 600 * SEC, 3600 * SEC, NULL, &id), 0);
	core_decide(&s, &c, &st, 10 * SEC, DECIDE_CHECK, &st, &d);
	ck_assert_int_eq(d.verdict, VERDICT_GRACE);
	ck_assert_int_eq(d.reasons[0].signal, SIGNAL_HOLD);
	config_free(&c);
}
END_TEST

START_TEST(test_many_reasons_are_counted_not_lost)
{
	Config c = cfg();
	CoreState st;
	Decision d;
	Sample s = quiet();
	char line[512];
	s.cpu.busy_percent = 99;
	for (int i = 0; i < PROBE_ERRORS_MAX + 5; i++)
		sample_add_error(&s, "p", "error %d", i);
	core_state_init(&st);
	core_decide(&s, &c, &st, 1000 * SEC, DECIDE_CHECK, &st, &d);
	ck_assert_int_eq(d.verdict, VERDICT_ACTIVE);
	/* 16 errors, the "5 more probe errors" line, then cpu. */
	ck_assert_uint_eq(d.n_reasons, PROBE_ERRORS_MAX + 2);
	ck_assert_str_eq(d.reasons[PROBE_ERRORS_MAX].detail, "5 more probe errors");
	ck_assert_int_eq(d.reasons[PROBE_ERRORS_MAX + 1].signal, SIGNAL_CPU);
	decision_summary(&d, line, sizeof(line));
	ck_assert_str_eq(line, "active: probe-error p: error 0 (+17 more); idle 0/2");
	config_free(&c);
}
END_TEST

static BusyUserProc user_proc(pid_t pid, const char *user, double percent)
{
	BusyUserProc p = { .pid = pid, .uid = 1000, .percent = percent };
	strscpy(p.user, sizeof(p.user), user);
	strscpy(p.comm, sizeof(p.comm), "python3");
	return p;
}

typedef struct UserProcCase {
	const char *name;
	double busiest[3]; /* CPU of the listed processes, busiest first; 0 ends */
	size_t n;          /* all that used CPU */
	double threshold;
	const char *detail; /* NULL: idle */
} UserProcCase;

static const UserProcCase user_proc_cases[] = {
	{ "nobody computes", { 0 }, 0, 10, NULL },
	{ "an idle shell and top", { 0.4, 0.1 }, 2, 10, NULL },
	{ "exactly at the threshold", { 10 }, 1, 10, NULL },
	{ "a detached job", { 99.6, 0.2 }, 2, 10, "python3 (pid 100) of alice at 100% CPU" },
	{ "two jobs",
	  { 100, 50, 1 },
	  3,
	  10,
	  "python3 (pid 100) of alice at 100% CPU, and 1 more above 10%" },
	{ "off", { 100 }, 1, 0, NULL },
};

START_TEST(test_spot_notice_blocks_the_action)
{
	Config c = cfg();
	CoreState st;
	Decision d;
	core_state_init(&st);
	st.idle_checks = 5;
	Sample s = quiet();
	s.spot = (SpotFacts){ .pending = true, .action = "stop", .time = "2030-01-01T00:02:00Z" };
	core_decide(&s, &c, &st, 400 * SEC, DECIDE_CHECK, &st, &d);
	ck_assert_int_eq(d.verdict, VERDICT_ACTIVE);
	ck_assert(!d.action_due);
	ck_assert_uint_eq(st.idle_checks, 0);
	ck_assert_uint_eq(d.n_reasons, 1);
	ck_assert_int_eq(d.reasons[0].signal, SIGNAL_SPOT_INTERRUPTION);
	ck_assert_ptr_nonnull(strstr(d.reasons[0].detail, "stop this spot instance"));
	ck_assert_ptr_nonnull(strstr(d.reasons[0].detail, "2030-01-01T00:02:00Z"));

	/* With other activity the notice still comes first. */
	s.cpu.busy_percent = 50;
	core_decide(&s, &c, &st, 400 * SEC, DECIDE_CHECK, &st, &d);
	ck_assert_uint_eq(d.n_reasons, 2);
	ck_assert_int_eq(d.reasons[0].signal, SIGNAL_SPOT_INTERRUPTION);
	ck_assert_int_eq(d.reasons[1].signal, SIGNAL_CPU);
	config_free(&c);
}
END_TEST

START_TEST(test_user_process_rule)
{
	const UserProcCase *t = &user_proc_cases[_i];
	Config c = cfg();
	c.user_busy_percent = t->threshold;
	Sample s = quiet();
	s.user_procs.valid = true;
	s.user_procs.n = t->n;
	for (size_t i = 0; i < ELEMENTSOF(t->busiest) && t->busiest[i] > 0; i++)
		s.user_procs.procs[i] = user_proc(100 + (pid_t)i, "alice", t->busiest[i]);
	Decision d = test_decide_once(&s, &c);
	if (!t->detail) {
		ck_assert_msg(d.verdict == VERDICT_IDLE, "%s", t->name);
	} else {
		ck_assert_msg(d.verdict == VERDICT_ACTIVE, "%s", t->name);
		ck_assert_int_eq(d.reasons[0].signal, SIGNAL_USER_PROCESS);
		ck_assert_str_eq(d.reasons[0].detail, t->detail);
	}
	config_free(&c);
}
END_TEST

START_TEST(test_user_process_more_than_listed)
{
	/* Every listed process is above the threshold and more used CPU: say so. */
	Config c = cfg();
	Sample s = quiet();
	s.user_procs.valid = true;
	s.user_procs.n = 9;
	for (size_t i = 0; i < BUSY_USER_PROCS_MAX; i++)
		s.user_procs.procs[i] = user_proc(100 + (pid_t)i, "bob", 90 - (double)i);
	Decision d = test_decide_once(&s, &c);
	ck_assert_str_eq(d.reasons[0].detail,
	                 "python3 (pid 100) of bob at 90% CPU, and 5 more above 10% (or more)");
	s.user_procs.valid = false; /* a failed scan: its probe-error speaks, not stale facts */
	ck_assert_int_eq(test_decide_once(&s, &c).verdict, VERDICT_IDLE);
	config_free(&c);
}
END_TEST

/* DECIDE_PEEK (CheckNow, the re-checks of a pending action): the verdict of a scheduled check
 * at that moment, grace, holds and spot included, with the state left as it was. */
typedef struct PeekCase {
	const char *name;
	usec_t now;
	double cpu;
	bool hold, spot;
	unsigned streak;
	Verdict verdict;
} PeekCase;

static const PeekCase peeks[] = {
	{ "idle, streak due", 400 * SEC, 1, false, false, 5, VERDICT_IDLE },
	{ "idle, no streak", 400 * SEC, 1, false, false, 0, VERDICT_IDLE },
	{ "busy", 400 * SEC, 90, false, false, 5, VERDICT_ACTIVE },
	{ "held", 400 * SEC, 1, true, false, 5, VERDICT_HELD },
	{ "in grace", 100 * SEC, 1, false, false, 5, VERDICT_GRACE },
	{ "spot notice", 400 * SEC, 1, false, true, 5, VERDICT_ACTIVE },
	{ "hold expired since the last check", 4000 * SEC, 1, true, false, 5, VERDICT_IDLE },
};

START_TEST(test_peek)
{
	const PeekCase *t = &peeks[_i];
	Config c = cfg();
	CoreState st, before;
	Decision d;
	Sample s = quiet();
	uint64_t id;
	s.cpu.busy_percent = t->cpu;
	s.spot.pending = t->spot;
	core_state_init(&st);
	st.idle_checks = t->streak;
	if (t->hold)
		ck_assert_int_eq(
		        core_hold_add(&st, 0, "root", 300 * SEC, 3600 * SEC, 86400 * SEC, "x", &id),
		        0);
	before = st;
	core_decide(&s, &c, &st, t->now, DECIDE_PEEK, &st, &d);
	ck_assert_msg(d.verdict == t->verdict, "%s: %s", t->name, verdict_to_string(d.verdict));
	ck_assert_msg(!d.action_due, "%s: a peek is never due", t->name);
	ck_assert_msg(d.idle_checks == t->streak, "%s: streak %u", t->name, d.idle_checks);
	ck_assert_msg(memcmp(&st, &before, sizeof(st)) == 0, "%s: state changed", t->name);
	config_free(&c);
}
END_TEST

/* Who may take one more hold: only running holds count, root's part of the table is the
 * whole table, and HoldsPerUser= does not bind root (per_user 0). */
typedef struct AdmitCase {
	const char *name;
	uid_t uid;
	size_t own_running, others_running, expired;
	usec_t duration;
	HoldPolicy policy;
	HoldAdmission want;
} AdmitCase;

static const AdmitCase admits[] = {
	{ "first hold", 1000, 0, 0, 0, 60 * SEC, { 3600 * SEC, 2, 48 }, HOLD_ADMITTED },
	{ "zero duration", 1000, 0, 0, 0, 0, { 3600 * SEC, 2, 48 }, HOLD_BAD_DURATION },
	{ "longer than the limit",
	  1000,
	  0,
	  0,
	  0,
	  3601 * SEC,
	  { 3600 * SEC, 2, 48 },
	  HOLD_BAD_DURATION },
	{ "exactly the limit", 1000, 0, 0, 0, 3600 * SEC, { 3600 * SEC, 2, 48 }, HOLD_ADMITTED },
	{ "own holds at the limit",
	  1000,
	  2,
	  0,
	  0,
	  60 * SEC,
	  { 3600 * SEC, 2, 48 },
	  HOLD_TOO_MANY_OWN },
	{ "expired holds do not count",
	  1000,
	  1,
	  0,
	  5,
	  60 * SEC,
	  { 3600 * SEC, 2, 48 },
	  HOLD_ADMITTED },
	{ "root has no per-user limit",
	  0,
	  10,
	  0,
	  0,
	  60 * SEC,
	  { 3600 * SEC, 0, 64 },
	  HOLD_ADMITTED },
	{ "users' part of the table full",
	  1000,
	  0,
	  48,
	  0,
	  60 * SEC,
	  { 3600 * SEC, 2, 48 },
	  HOLD_TABLE_FULL },
	{ "root still fits", 0, 0, 48, 0, 60 * SEC, { 3600 * SEC, 0, 64 }, HOLD_ADMITTED },
	{ "the whole table full", 0, 0, 64, 0, 60 * SEC, { 3600 * SEC, 0, 64 }, HOLD_TABLE_FULL },
};

typedef struct CloudInitCase {
	const char *name;
	CloudInitFacts facts;
	usec_t now;
	usec_t max; /* CloudInitMaxSec= */
	Verdict verdict;
	bool not_counting;
} CloudInitCase;

/* A first boot's setup sits waiting after the boot grace: it counts until it ends, and only up
 * to CloudInitMaxSec= after boot. */
static const CloudInitCase cloud_init_cases[] = {
	{ "setup running after the grace",
	  { true, true, "modules-final" },
	  600 * SEC,
	  3600 * SEC,
	  VERDICT_ACTIVE,
	  false },
	{ "between stages", { true, true, "" }, 600 * SEC, 3600 * SEC, VERDICT_ACTIVE, false },
	{ "a second before the limit",
	  { true, true, "init" },
	  3599 * SEC,
	  3600 * SEC,
	  VERDICT_ACTIVE,
	  false },
	{ "at the limit it stops counting",
	  { true, true, "init" },
	  3600 * SEC,
	  3600 * SEC,
	  VERDICT_IDLE,
	  true },
	{ "finished", { true, false, "" }, 600 * SEC, 3600 * SEC, VERDICT_IDLE, false },
	{ "not read", { false, true, "init" }, 600 * SEC, 3600 * SEC, VERDICT_IDLE, false },
	{ "switched off", { true, true, "init" }, 600 * SEC, 0, VERDICT_IDLE, false },
	{ "within the grace it is grace",
	  { true, true, "init" },
	  100 * SEC,
	  3600 * SEC,
	  VERDICT_GRACE,
	  false },
};

START_TEST(test_cloud_init_rule)
{
	const CloudInitCase *t = &cloud_init_cases[_i];
	Config c = cfg();
	c.cloud_init_max = t->max;
	CoreState st;
	Decision d;
	core_state_init(&st);
	Sample s = quiet();
	s.cloud_init = t->facts;
	core_decide(&s, &c, &st, t->now, DECIDE_CHECK, &st, &d);
	ck_assert_msg(d.verdict == t->verdict, "%s: %s", t->name, verdict_to_string(d.verdict));
	bool reason = d.verdict != VERDICT_IDLE && d.n_reasons > 0;
	if (reason) {
		ck_assert_int_eq(d.reasons[0].signal, SIGNAL_CLOUD_INIT);
		ck_assert_ptr_nonnull(strstr(d.reasons[0].detail, "CloudInitMaxSec=1h"));
		if (t->facts.stage[0])
			ck_assert_ptr_nonnull(strstr(d.reasons[0].detail, t->facts.stage));
	}
	ck_assert_msg(d.n_not_counting == (t->not_counting ? 1u : 0u), "%s: %zu notes", t->name,
	              d.n_not_counting);
	if (t->not_counting) {
		ck_assert_int_eq(d.not_counting[0].signal, SIGNAL_CLOUD_INIT);
		ck_assert_ptr_nonnull(strstr(d.not_counting[0].detail, "past CloudInitMaxSec="));
	}
	config_free(&c);
}
END_TEST

typedef struct PackageLockCase {
	const char *name;
	PackageLockFacts facts;
	usec_t now;
	usec_t max; /* PackageManagerMaxSec= */
	Verdict verdict;
	const char *detail; /* in the reason, or in the note when not counting */
	bool not_counting;
} PackageLockCase;

/* dpkg or apt at work counts while its holder is younger than PackageManagerMaxSec=. */
static const PackageLockCase package_lock_cases[] = {
	{ "apt-get installing",
	  { true, true, "/var/lib/dpkg/lock-frontend", 4242, "apt-get", 1000 * SEC },
	  1600 * SEC,
	  3 * 3600 * SEC,
	  VERDICT_ACTIVE,
	  "/var/lib/dpkg/lock-frontend held by apt-get (pid 4242), running for 10min",
	  false },
	{ "a holder we cannot see counts",
	  { true, true, "/var/lib/dpkg/lock", 0, "", 0 },
	  90000 * SEC,
	  3600 * SEC,
	  VERDICT_ACTIVE,
	  "/var/lib/dpkg/lock held by a process not visible here",
	  false },
	{ "a second before the limit",
	  { true, true, "/var/lib/apt/lists/lock", 7, "apt-get", 1000 * SEC },
	  4599 * SEC,
	  3600 * SEC,
	  VERDICT_ACTIVE,
	  "running for 59min 59s",
	  false },
	{ "at the limit it stops counting",
	  { true, true, "/var/lib/apt/lists/lock", 7, "apt-get", 1000 * SEC },
	  4600 * SEC,
	  3600 * SEC,
	  VERDICT_IDLE,
	  "past PackageManagerMaxSec=1h",
	  true },
	{ "no lock held",
	  { true, false, "", 0, "", 0 },
	  1600 * SEC,
	  3600 * SEC,
	  VERDICT_IDLE,
	  NULL,
	  false },
	{ "not read",
	  { false, true, "/var/lib/dpkg/lock", 7, "dpkg", 1000 * SEC },
	  1600 * SEC,
	  3600 * SEC,
	  VERDICT_IDLE,
	  NULL,
	  false },
	{ "switched off",
	  { true, true, "/var/lib/dpkg/lock", 7, "dpkg", 1000 * SEC },
	  1600 * SEC,
	  0,
	  VERDICT_IDLE,
	  NULL,
	  false },
};

START_TEST(test_package_manager_rule)
{
	const PackageLockCase *t = &package_lock_cases[_i];
	Config c = cfg();
	c.package_manager_max = t->max;
	CoreState st;
	Decision d;
	core_state_init(&st);
	Sample s = quiet();
	s.package_lock = t->facts;
	core_decide(&s, &c, &st, t->now, DECIDE_CHECK, &st, &d);
	ck_assert_msg(d.verdict == t->verdict, "%s: %s", t->name, verdict_to_string(d.verdict));
	const Reason *r = t->not_counting ? (d.n_not_counting ? &d.not_counting[0] : NULL)
	                                  : (d.n_reasons ? &d.reasons[0] : NULL);
	if (t->detail) {
		ck_assert_msg(r != NULL, "%s: no reason or note", t->name);
		ck_assert_int_eq(r->signal, SIGNAL_PACKAGE_MANAGER);
		ck_assert_msg(strstr(r->detail, t->detail), "%s: '%s'", t->name, r->detail);
	}
	ck_assert_uint_eq(d.n_not_counting, t->not_counting ? 1 : 0);
	config_free(&c);
}
END_TEST

START_TEST(test_hold_admit)
{
	const AdmitCase *t = &admits[_i];
	CoreState st;
	size_t own, all;
	core_state_init(&st);
	for (size_t i = 0; i < t->own_running + t->others_running + t->expired; i++) {
		Hold *h = &st.holds[st.n_holds++];
		*h = (Hold){ .id = i + 1, .uid = i < t->own_running ? t->uid : 2000 + (uid_t)i };
		h->until = i < t->own_running + t->others_running ? 2000 * SEC : 500 * SEC;
	}
	HoldAdmission a =
	        core_hold_admit(&st, t->uid, 1000 * SEC, t->duration, &t->policy, &own, &all);
	ck_assert_msg(a == t->want, "%s: %d, want %d", t->name, a, t->want);
	ck_assert_uint_eq(own, t->own_running);
	ck_assert_uint_eq(all, t->own_running + t->others_running);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("core");
	TCase *tc = tcase_create("rules");
	tcase_add_loop_test(tc, test_step, 0, (int)ELEMENTSOF(steps));
	tcase_add_test(tc, test_sequence_streak_reset_by_one_active_check);
	tcase_add_test(tc, test_probe_error_detail);
	tcase_add_test(tc, test_hold_keeps_held_then_expires);
	tcase_add_test(tc, test_hold_with_activity_is_active);
	tcase_add_test(tc, test_hold_limits_and_release);
	tcase_add_test(tc, test_once_ignores_grace_holds_and_streak);
	tcase_add_test(tc, test_summary_line);
	tcase_add_test(tc, test_invalid_facts_do_not_count);
	tcase_add_test(tc, test_hold_resets_a_streak_and_grace_outranks_it);
	tcase_add_test(tc, test_many_reasons_are_counted_not_lost);
	tcase_add_test(tc, test_spot_notice_blocks_the_action);
	tcase_add_loop_test(tc, test_user_process_rule, 0, (int)ELEMENTSOF(user_proc_cases));
	tcase_add_test(tc, test_user_process_more_than_listed);
	tcase_add_loop_test(tc, test_peek, 0, (int)ELEMENTSOF(peeks));
	tcase_add_loop_test(tc, test_hold_admit, 0, (int)ELEMENTSOF(admits));
	tcase_add_loop_test(tc, test_cloud_init_rule, 0, (int)ELEMENTSOF(cloud_init_cases));
	tcase_add_loop_test(tc, test_package_manager_rule, 0, (int)ELEMENTSOF(package_lock_cases));
	suite_add_tcase(s, tc);
	return s;
}
