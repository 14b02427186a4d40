/* The manager with an injected clock and sample: checks, the warning, the action and a hold's
 * cancellation, driven call by call without sleeping; and the state file, written only when
 * it changes and restored by the next manager. The event loop never runs: the test calls what
 * the timers would. */
#include "check-main.h"
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "history.h"
#include "manager.h"
#include "test-util.h"

#define SEC USEC_PER_SEC

static usec_t fake_now;
static bool fake_busy;
static unsigned samples_taken;

/* The wall clock moves with the boot clock, from a date far from today's. */
static usec_t fake_wall;

static usec_t fake_clock(void *userdata)
{
	return fake_now;
}

static usec_t fake_realtime(void *userdata)
{
	return fake_wall;
}

static void fake_sample(void *userdata, const Config *config, usec_t now, bool commit, Sample *ret)
{
	*ret = (Sample){ .cpu = { .valid = true,
		                  .busy_percent = fake_busy ? 90.0 : 1.0,
		                  .window = config->interval },
		         .memory = { .valid = true,
		                     .total_kib = 1000,
		                     .available_kib = 900,
		                     .used_percent = 10.0 } };
	samples_taken++;
}

static char runtime_dir[512], dev_root[512];

static void setup(void)
{
	test_tmpdir_setup();
	snprintf(runtime_dir, sizeof(runtime_dir), "%s/run", test_tmpdir);
	snprintf(dev_root, sizeof(dev_root), "%s/dev", test_tmpdir);
	ck_assert_int_eq(mkdir(dev_root, 0755), 0);
	char pts[600];
	snprintf(pts, sizeof(pts), "%s/pts", dev_root);
	ck_assert_int_eq(mkdir(pts, 0755), 0);
	fake_now = 1000 * SEC;
	fake_wall = 1893456000ULL * SEC; /* 2030-01-01T00:00:00Z */
	fake_busy = false;
	samples_taken = 0;
}

static Manager *manager_start(unsigned idle_checks, usec_t warn)
{
	Config c;
	ck_assert_int_eq(config_init_defaults(&c), 0);
	c.interval = 60 * SEC;
	c.boot_grace = 0;
	c.idle_checks = idle_checks;
	c.warn = warn;
	c.cpu_percent = 10;
	c.action = ACTION_NONE;
	/* Never the real instance metadata, even on EC2: a port nobody listens on. */
	free(c.imds_endpoint);
	c.imds_endpoint = strdup("http://127.0.0.1:1");
	ManagerOptions opt = {
		.config_path = "/nonexistent/trnidled.conf",
		.runtime_dir = runtime_dir,
		.dev_root = dev_root,
		.dry_run = true,
		.inputs = { .now = fake_clock, .realtime = fake_realtime, .sample = fake_sample }
	};
	Manager *m = NULL;
	ck_assert_int_eq(manager_new(&opt, &c, &m), 0);
	return m;
}

static void check_after(Manager *m, usec_t span)
{
	fake_now += span;
	fake_wall += span;
	manager_check(m);
}

START_TEST(test_idle_warning_action)
{
	Manager *m = manager_start(2, 60 * SEC);
	check_after(m, 60 * SEC);
	ck_assert_int_eq(m->last.verdict, VERDICT_IDLE);
	ck_assert_uint_eq(m->state.idle_checks, 1);
	ck_assert_int_eq(m->pending, PENDING_NONE);
	check_after(m, 60 * SEC);
	ck_assert(m->last.action_due);
	ck_assert_int_eq(m->pending, PENDING_WARNING);
	ck_assert_uint_eq(m->warn_until, fake_now + 60 * SEC);
	/* A CheckNow meanwhile looks and does not count. */
	Sample s;
	Decision d;
	fake_now += 10 * SEC;
	manager_check_now(m, &s, &d);
	ck_assert_int_eq(d.verdict, VERDICT_IDLE);
	ck_assert(!d.action_due);
	ck_assert_uint_eq(m->state.idle_checks, 2);
	ck_assert_int_eq(m->pending, PENDING_WARNING);
	/* WarnSec= runs out: decided again on a fresh sample, then the (dry-run) action. */
	unsigned before = samples_taken;
	fake_now = m->warn_until;
	manager_warning_over(m);
	ck_assert_uint_eq(samples_taken, before + 1);
	ck_assert_msg(strncmp(m->action_why, "idle: ", 6) == 0, "why: %s", m->action_why);
	ck_assert_int_eq(m->warn_until, 0);
	/* The action reports its end from the loop, never from inside its start. */
	ck_assert_int_eq(m->pending, PENDING_ACTING);
	for (int i = 0; i < 100 && m->pending != PENDING_NONE; i++)
		ck_assert_int_ge(sd_event_run(m->event, 10 * 1000), 0);
	/* The action done, a dry-run repeats only after another whole streak. */
	ck_assert_int_eq(m->pending, PENDING_NONE);
	ck_assert_uint_eq(m->state.idle_checks, 0);
	check_after(m, 60 * SEC);
	ck_assert_int_eq(m->pending, PENDING_NONE);
	ck_assert_uint_eq(m->state.idle_checks, 1);
	manager_free(m);
}
END_TEST

START_TEST(test_hold_cancels_the_warning)
{
	Manager *m = manager_start(2, 60 * SEC);
	uint64_t id;
	check_after(m, 60 * SEC);
	check_after(m, 60 * SEC);
	ck_assert_int_eq(m->pending, PENDING_WARNING);
	/* As the Hold method does: add it, then tell the manager. */
	fake_now += 5 * SEC;
	ck_assert_int_eq(core_hold_add(&m->state, 1000, "alice", fake_now, 3600 * SEC, 86400 * SEC,
	                               "training", &id),
	                 0);
	manager_holds_changed(m);
	ck_assert_int_eq(m->pending, PENDING_NONE);
	ck_assert_uint_eq(m->state.idle_checks, 0);
	ck_assert_int_eq(m->warn_until, 0);
	/* The warning's timer, had it fired anyway, finds nothing to do. */
	fake_now += 55 * SEC;
	manager_warning_over(m);
	ck_assert_int_eq(m->pending, PENDING_NONE);
	ck_assert_str_eq(m->action_why, "");
	check_after(m, 60 * SEC);
	ck_assert_int_eq(m->last.verdict, VERDICT_HELD);
	ck_assert_uint_eq(m->state.idle_checks, 0);
	/* Released: the streak starts anew. */
	ck_assert_int_eq(core_hold_release(&m->state, id, 1000), 0);
	check_after(m, 60 * SEC);
	ck_assert_int_eq(m->last.verdict, VERDICT_IDLE);
	ck_assert_uint_eq(m->state.idle_checks, 1);
	manager_free(m);
}
END_TEST

START_TEST(test_activity_cancels_the_warning)
{
	Manager *m = manager_start(2, 60 * SEC);
	check_after(m, 60 * SEC);
	check_after(m, 60 * SEC);
	ck_assert_int_eq(m->pending, PENDING_WARNING);
	fake_busy = true;
	fake_now += 30 * SEC;
	manager_warning_over(m); /* early: the timer of a shorter warning */
	ck_assert_int_eq(m->pending, PENDING_NONE);
	ck_assert_str_eq(m->action_why, "");
	fake_busy = false;
	check_after(m, 60 * SEC);
	ck_assert_uint_eq(m->state.idle_checks, 1);
	manager_free(m);
}
END_TEST

/* A hard link to the state file as it is: a save renames a new file over it (link count 1). */
static void state_witness(void)
{
	char path[600], link_path[640];
	snprintf(path, sizeof(path), "%s/state", runtime_dir);
	snprintf(link_path, sizeof(link_path), "%s/state.witness", test_tmpdir);
	(void)unlink(link_path);
	ck_assert_int_eq(link(path, link_path), 0);
}

static bool state_rewritten(void)
{
	char path[600];
	struct stat st;
	snprintf(path, sizeof(path), "%s/state", runtime_dir);
	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_nlink == 1;
}

/* Checks that change nothing leave the file as it is. */
START_TEST(test_state_written_only_on_change)
{
	Manager *m = manager_start(1000, 0);
	uint64_t id;
	check_after(m, 60 * SEC);
	ck_assert_int_eq(core_hold_add(&m->state, 0, "root", fake_now, 36000 * SEC, 86400 * SEC,
	                               "kept", &id),
	                 0);
	check_after(m, 60 * SEC); /* held: the streak of 1 ends */
	state_witness();
	for (int i = 0; i < 20; i++) {
		fake_busy = i % 2; /* busy or not, a hold keeps the streak at 0 */
		check_after(m, 60 * SEC);
		ck_assert_msg(!state_rewritten(), "check %d wrote the unchanged state", i);
	}
	/* Removed behind its back: written again at the next check, unchanged or not. */
	char path[600];
	snprintf(path, sizeof(path), "%s/state", runtime_dir);
	ck_assert_int_eq(unlink(path), 0);
	check_after(m, 60 * SEC);
	ck_assert_int_eq(access(path, F_OK), 0);
	CoreState before = m->state;
	manager_free(m);

	/* The next manager restores the same holds and streak. */
	m = manager_start(1000, 0);
	ck_assert_uint_eq(m->state.n_holds, 1);
	ck_assert_uint_eq(m->state.holds[0].id, before.holds[0].id);
	ck_assert_uint_eq(m->state.holds[0].until, before.holds[0].until);
	ck_assert_str_eq(m->state.holds[0].reason, "kept");
	ck_assert_uint_eq(m->state.next_hold_id, before.next_hold_id);
	ck_assert_uint_eq(m->state.idle_checks, 0);
	/* Released: written at once, and the idle streak counts (and is written) again. */
	ck_assert_int_eq(core_hold_release(&m->state, id, 0), 0);
	manager_save_state(m);
	ck_assert(state_rewritten());
	fake_busy = false;
	for (int i = 0; i < 3; i++)
		check_after(m, 60 * SEC);
	manager_free(m);
	m = manager_start(1000, 0);
	ck_assert_uint_eq(m->state.n_holds, 0);
	ck_assert_uint_eq(m->state.idle_checks, 3);
	manager_free(m);
}
END_TEST

/* A busy machine's checks differ only in their reasons: nothing to write. */
START_TEST(test_busy_checks_write_nothing)
{
	Manager *m = manager_start(2, 0);
	fake_busy = true;
	check_after(m, 60 * SEC);
	state_witness();
	for (int i = 0; i < 10; i++) {
		check_after(m, 60 * SEC);
		ck_assert_msg(!state_rewritten(), "check %d wrote the unchanged state", i);
	}
	manager_free(m);
}
END_TEST

/* The verdict history runs on the manager's wall clock: each change at the time of its check,
 * the heartbeat of an unchanged check on the history file, an unclean stop's "off" from it. */
START_TEST(test_history_on_the_injected_wall_clock)
{
	Manager *m = manager_start(1000, 0);
	usec_t t0 = fake_wall;
	check_after(m, 60 * SEC); /* idle */
	usec_t idle_at = fake_wall;
	check_after(m, 60 * SEC); /* idle again: no change, only the heartbeat */
	char path[600];
	struct stat st;
	snprintf(path, sizeof(path), "%s/history", runtime_dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq((usec_t)st.st_mtim.tv_sec * SEC + (usec_t)st.st_mtim.tv_nsec / 1000,
	                  fake_wall);
	fake_busy = true;
	check_after(m, 60 * SEC);
	usec_t active_at = fake_wall;
	const History *h = m->history;
	ck_assert_uint_ge(h->n, 2);
	ck_assert_int_eq(h->entries[h->n - 2].state, HISTORY_IDLE);
	ck_assert_uint_eq(h->entries[h->n - 2].at, idle_at);
	ck_assert_int_eq(h->entries[h->n - 1].state, HISTORY_ACTIVE);
	ck_assert_uint_eq(h->entries[h->n - 1].at, active_at);
	ck_assert_str_eq(h->entries[h->n - 1].signal, "cpu");
	ck_assert_uint_gt(idle_at, t0);
	manager_free(m);

	/* Gone without a word (manager_free() is no clean stop, as after kill -9): the next
	 * manager, an hour later, reads it back with "off" from the last check, the history
	 * file's time, not from its own start. */
	fake_wall += 3600 * SEC;
	fake_now += 3600 * SEC;
	m = manager_start(1000, 0);
	h = m->history;
	ck_assert_int_eq(h->entries[h->n - 1].state, HISTORY_OFF);
	ck_assert_uint_eq(h->entries[h->n - 1].at, active_at);
	ck_assert_int_eq(h->entries[h->n - 2].state, HISTORY_ACTIVE);
	manager_free(m);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("manager");
	TCase *tc = tcase_create("manager");
	tcase_add_checked_fixture(tc, setup, test_tmpdir_teardown);
	tcase_add_test(tc, test_idle_warning_action);
	tcase_add_test(tc, test_hold_cancels_the_warning);
	tcase_add_test(tc, test_activity_cancels_the_warning);
	tcase_add_test(tc, test_state_written_only_on_change);
	tcase_add_test(tc, test_busy_checks_write_nothing);
	tcase_add_test(tc, test_history_on_the_injected_wall_clock);
	suite_add_tcase(s, tc);
	return s;
}
