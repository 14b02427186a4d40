/* The state file: what a restart continues from. A file it cannot trust (corrupt, truncated,
 * from another boot) is rejected with a reason and leaves the state untouched. */
#include "check-main.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "probe.h"
#include "state.h"
#include "test-util.h"

#define SEC  USEC_PER_SEC
#define BOOT "0b6a5f0e-5d3c-4d7e-9a51-3f6f3b1c2d4e"

static CoreState sample_state(void)
{
	CoreState s;
	uint64_t id;
	core_state_init(&s);
	s.idle_checks = 3;
	ck_assert_int_eq(core_hold_add(&s, 1000, "alice", 100 * SEC, 3600 * SEC, 86400 * SEC,
	                               "training \"run\" \\ 7", &id),
	                 0);
	ck_assert_int_eq(core_hold_add(&s, 0, "root", 200 * SEC, 60 * SEC, 86400 * SEC, NULL, &id),
	                 0);
	return s;
}

static Decision sample_decision(void)
{
	Decision d = { .verdict = VERDICT_ACTIVE, .idle_checks = 0, .idle_checks_needed = 2 };
	d.reasons[0] = (Reason){ .signal = SIGNAL_CPU };
	strscpy(d.reasons[0].detail, REASON_DETAIL_MAX, "37% > 10%");
	d.reasons[1] = (Reason){ .signal = SIGNAL_PROBE_ERROR };
	strscpy(d.reasons[1].detail, REASON_DETAIL_MAX, "memory: /proc/meminfo: Permission denied");
	d.n_reasons = 2;
	return d;
}

START_TEST(test_round_trip)
{
	CoreState s = sample_state(), back;
	Decision d = sample_decision(), last;
	char err[256] = "";
	_cleanup_free_ char *text = state_serialize(&s, &d, BOOT);
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(state_parse(text, BOOT, &back, &last, err, sizeof(err)), 0);
	ck_assert_uint_eq(back.idle_checks, 3);
	ck_assert_uint_eq(back.n_holds, 2);
	ck_assert_uint_eq(back.next_hold_id, 3);
	ck_assert_uint_eq(back.holds[0].id, 1);
	ck_assert_uint_eq(back.holds[0].uid, 1000);
	ck_assert_str_eq(back.holds[0].owner, "alice");
	ck_assert_str_eq(back.holds[0].reason, "training \"run\" \\ 7");
	ck_assert_uint_eq(back.holds[0].until, 3700 * SEC);
	ck_assert_uint_eq(back.holds[1].uid, 0);
	ck_assert_str_eq(back.holds[1].reason, "");
	ck_assert_int_eq(last.verdict, VERDICT_ACTIVE);
	ck_assert_uint_eq(last.n_reasons, 2);
	ck_assert_int_eq(last.reasons[1].signal, SIGNAL_PROBE_ERROR);
	ck_assert_str_eq(last.reasons[1].detail, "memory: /proc/meminfo: Permission denied");
}
END_TEST

START_TEST(test_round_trip_without_last)
{
	CoreState s, back;
	core_state_init(&s);
	char err[256];
	_cleanup_free_ char *text = state_serialize(&s, NULL, BOOT);
	ck_assert_int_eq(state_parse(text, BOOT, &back, NULL, err, sizeof(err)), 0);
	ck_assert_uint_eq(back.idle_checks, 0);
	ck_assert_uint_eq(back.n_holds, 0);
	ck_assert_uint_eq(back.next_hold_id, 1);
}
END_TEST

static void expect_rejected(const char *text, int error, const char *reason)
{
	CoreState back;
	memset(&back, 0x5a, sizeof(back));
	char err[256] = "";
	int r = state_parse(text, BOOT, &back, NULL, err, sizeof(err));
	ck_assert_msg(r == error, "'%.60s': %d (%s)", text, r, err);
	ck_assert_msg(strstr(err, reason), "'%.60s': reason '%s', expected '%s'", text, err,
	              reason);
	ck_assert_uint_eq(back.idle_checks, 0x5a5a5a5a); /* untouched */
}

START_TEST(test_other_boot)
{
	CoreState s = sample_state();
	_cleanup_free_ char *text = state_serialize(&s, NULL, "another-boot-id");
	expect_rejected(text, -ESTALE, "written during another boot (another-boot-id)");
}
END_TEST

typedef struct BadCase {
	const char *text;
	const char *reason;
} BadCase;

static const BadCase corrupt[] = {
	{ "", "not JSON" },
	{ "garbage", "not JSON" },
	{ "\x01\x02\xff", "not JSON" },
	{ "[]", "missing or invalid fields" },
	{ "42", "missing or invalid fields" },
	{ "{}", "missing or invalid fields" },
	{ "{\"version\":2,\"boot_id\":\"" BOOT "\",\"idle_checks\":1,\"next_hold_id\":1,"
	  "\"holds\":[]}",
	  "missing or invalid fields" },
	{ "{\"version\":1,\"boot_id\":\"" BOOT "\",\"idle_checks\":-1,\"next_hold_id\":1,"
	  "\"holds\":[]}",
	  "missing or invalid fields" },
	{ "{\"version\":1,\"boot_id\":\"" BOOT "\",\"idle_checks\":\"3\",\"next_hold_id\":1,"
	  "\"holds\":[]}",
	  "missing or invalid fields" },
	{ "{\"version\":1,\"boot_id\":\"" BOOT "\",\"idle_checks\":99999999999,"
	  "\"next_hold_id\":1,\"holds\":[]}",
	  "missing or invalid fields" },
	{ "{\"version\":1,\"boot_id\":\"" BOOT "\",\"idle_checks\":1,\"next_hold_id\":1,"
	  "\"holds\":{}}",
	  "missing or invalid fields" },
	{ "{\"version\":1,\"boot_id\":\"" BOOT "\",\"idle_checks\":1,\"next_hold_id\":1,"
	  "\"holds\":[{\"id\":1}]}",
	  "invalid hold #0" },
	{ "{\"version\":1,\"boot_id\":\"" BOOT "\",\"idle_checks\":1,\"next_hold_id\":1,"
	  "\"holds\":[{\"id\":1,\"uid\":0,\"owner\":\"root\",\"until_usec\":5,\"reason\":\"\"},"
	  "7]}",
	  "invalid hold #1" },
	{ "{\"version\":1,\"boot_id\":\"" BOOT "\",\"idle_checks\":1,\"next_hold_id\":1,"
	  "\"holds\":[{\"id\":1,\"uid\":4294967296,\"owner\":\"x\",\"until_usec\":5,"
	  "\"reason\":\"\"}]}",
	  "invalid hold #0" },
	{ "{\"version\":1,\"boot_id\":\"" BOOT "\",\"idle_checks\":1,\"next_hold_id\":1,"
	  "\"holds\":[]} {\"version\":1}",
	  "trailing data" },
	{ "{\"version\":1,\"boot_id\":\"" BOOT "\",\"idle_checks\":1,\"next_hold_id\":1,"
	  "\"holds\":[]}garbage",
	  "trailing data" },
};

START_TEST(test_corrupt)
{
	expect_rejected(corrupt[_i].text, -EBADMSG, corrupt[_i].reason);
}
END_TEST

START_TEST(test_every_truncation_is_rejected)
{
	CoreState s = sample_state();
	Decision d = sample_decision();
	_cleanup_free_ char *text = state_serialize(&s, &d, BOOT);
	size_t len = strlen(text);
	for (size_t cut = 0; cut < len; cut++) {
		_cleanup_free_ char *prefix = strndup(text, cut);
		expect_rejected(prefix, -EBADMSG, "not JSON");
	}
}
END_TEST

START_TEST(test_too_many_holds_rejected)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	fprintf(f,
	        "{\"version\":1,\"boot_id\":\"%s\",\"idle_checks\":0,\"next_hold_id\":1,"
	        "\"holds\":[",
	        BOOT);
	for (int i = 0; i <= HOLDS_MAX; i++)
		fprintf(f,
		        "%s{\"id\":%d,\"uid\":0,\"owner\":\"r\",\"until_usec\":1,\"reason\":\"\"}",
		        i ? "," : "", i + 1);
	fprintf(f, "]}");
	fclose(f);
	expect_rejected(text, -EBADMSG, "invalid hold #64");
	free(text);
}
END_TEST

START_TEST(test_next_hold_id_never_reuses_an_id)
{
	/* A hand-edited or old file whose next_hold_id lags behind its holds. */
	const char *text = "{\"version\":1,\"boot_id\":\"" BOOT "\",\"idle_checks\":0,"
	                   "\"next_hold_id\":1,\"holds\":[{\"id\":9,\"uid\":0,\"owner\":\"r\","
	                   "\"until_usec\":100,\"reason\":\"\"}]}";
	CoreState back;
	char err[256];
	uint64_t id;
	ck_assert_int_eq(state_parse(text, BOOT, &back, NULL, err, sizeof(err)), 0);
	ck_assert_uint_eq(back.next_hold_id, 10);
	ck_assert_int_eq(core_hold_add(&back, 0, "r", 0, SEC, 2 * SEC, NULL, &id), 0);
	ck_assert_uint_eq(id, 10);
}
END_TEST

START_TEST(test_unknown_last_reasons_are_skipped)
{
	const char *text = "{\"version\":1,\"boot_id\":\"" BOOT "\",\"idle_checks\":0,"
	                   "\"next_hold_id\":1,\"holds\":[],\"last_verdict\":\"bogus\","
	                   "\"last_reasons\":[{\"signal\":\"warp-drive\",\"detail\":\"x\"},7,"
	                   "{\"signal\":\"cpu\",\"detail\":\"50%\"}]}";
	CoreState back;
	Decision last;
	char err[256];
	ck_assert_int_eq(state_parse(text, BOOT, &back, &last, err, sizeof(err)), 0);
	ck_assert_int_eq(last.verdict, VERDICT_ACTIVE);
	ck_assert_uint_eq(last.n_reasons, 1);
	ck_assert_int_eq(last.reasons[0].signal, SIGNAL_CPU);
}
END_TEST

/* --- files ------------------------------------------------------------------------------ */

START_TEST(test_save_and_load)
{
	char *text = NULL, path[512], err[128];
	ck_assert_int_eq(state_load_text(test_tmpdir, &text, err, sizeof(err)), -ENOENT);
	ck_assert_int_eq(state_save(test_tmpdir, "{\"first\":1}"), 0);
	ck_assert_int_eq(state_save(test_tmpdir, "{\"second\":2}"), 0);
	ck_assert_int_eq(state_load_text(test_tmpdir, &text, err, sizeof(err)), 0);
	ck_assert_str_eq(text, "{\"second\":2}");
	free(text);
	/* No temporary file left behind, and the file is private. */
	struct stat st;
	snprintf(path, sizeof(path), "%s/.state.tmp", test_tmpdir);
	ck_assert_int_eq(stat(path, &st), -1);
	snprintf(path, sizeof(path), "%s/state", test_tmpdir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
}
END_TEST

/* A FIFO at the state path kept the daemon from ever starting; anything but a regular file,
 * or one beyond the size limit, is a reason, at once. */
START_TEST(test_load_not_a_file)
{
	static const char *const why[] = { "not a regular file (a FIFO)",
		                           "not a regular file (a directory)",
		                           "not a regular file (a character device)",
		                           "larger than 256 KiB" };
	char path[512], err[128] = "", *text = NULL;
	snprintf(path, sizeof(path), "%s/state", test_tmpdir);
	if (_i == 0)
		ck_assert_int_eq(mkfifo(path, 0600), 0);
	else if (_i == 1)
		ck_assert_int_eq(mkdir(path, 0700), 0);
	else if (_i == 2)
		ck_assert_int_eq(symlink("/dev/zero", path), 0);
	else {
		char *big = malloc(256 * 1024 + 1);
		memset(big, ' ', 256 * 1024 + 1);
		test_write_file("state", big, 256 * 1024 + 1);
		free(big);
	}
	ck_assert_int_lt(state_load_text(test_tmpdir, &text, err, sizeof(err)), 0);
	ck_assert_str_eq(err, why[_i]);
	ck_assert_ptr_null(text);
}
END_TEST

/* Whatever was left at the temporary file's name is replaced, not written through. */
START_TEST(test_save_over_a_fifo_left_as_temporary)
{
	char path[512], err[128], *text = NULL;
	snprintf(path, sizeof(path), "%s/.state.tmp", test_tmpdir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(state_save(test_tmpdir, "{}"), 0);
	ck_assert_int_eq(state_load_text(test_tmpdir, &text, err, sizeof(err)), 0);
	ck_assert_str_eq(text, "{}");
	free(text);
}
END_TEST

static Hold hold(uint64_t id, const char *reason)
{
	Hold h = { .id = id, .uid = 1000, .until = 10 * USEC_PER_SEC };
	strscpy(h.reason, sizeof(h.reason), reason);
	return h;
}

/* The holds of a state file read late join the ones taken meanwhile; an id taken meanwhile
 * is not given twice. */
START_TEST(test_merge_holds)
{
	CoreState into, from;
	core_state_init(&into);
	core_state_init(&from);
	into.holds[into.n_holds++] = hold(1, "meanwhile");
	into.next_hold_id = 2;
	from.holds[from.n_holds++] = hold(1, "from the file");
	from.holds[from.n_holds++] = hold(5, "also from the file");
	from.next_hold_id = 6;
	ck_assert_uint_eq(state_merge_holds(&into, &from), 0);
	ck_assert_uint_eq(into.n_holds, 3);
	ck_assert_str_eq(into.holds[0].reason, "meanwhile");
	ck_assert_uint_eq(into.holds[0].id, 1);
	ck_assert_str_eq(into.holds[1].reason, "from the file");
	ck_assert_uint_eq(into.holds[1].id, 6);
	ck_assert_uint_eq(into.holds[2].id, 5);
	ck_assert_uint_eq(into.next_hold_id, 7);
	/* A full table says how many did not fit. */
	into.n_holds = HOLDS_MAX - 1;
	ck_assert_uint_eq(state_merge_holds(&into, &from), 1);
	ck_assert_uint_eq(into.n_holds, HOLDS_MAX);
}
END_TEST

START_TEST(test_save_into_missing_dir_fails)
{
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/missing", test_tmpdir);
	ck_assert_int_eq(state_save(dir, "{}"), -ENOENT);
}
END_TEST

START_TEST(test_boot_id_read)
{
	char dir[512], id[64];
	snprintf(dir, sizeof(dir), "%s/sys/kernel/random", test_tmpdir);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	test_write_file("sys/kernel/random/boot_id", BOOT "\n", sizeof(BOOT));
	ck_assert_int_eq(boot_id_read(test_tmpdir, id, sizeof(id)), 0);
	ck_assert_str_eq(id, BOOT);
	/* The real one is there too. */
	ck_assert_int_eq(boot_id_read("/proc", id, sizeof(id)), 0);
	ck_assert_uint_eq(strlen(id), 36);
	snprintf(dir, sizeof(dir), "%s/nothing", test_tmpdir);
	ck_assert_int_eq(boot_id_read(dir, id, sizeof(id)), -ENOENT);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("state");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_round_trip_without_last);
	tcase_add_test(tc, test_other_boot);
	tcase_add_loop_test(tc, test_corrupt, 0, (int)ELEMENTSOF(corrupt));
	tcase_add_test(tc, test_every_truncation_is_rejected);
	tcase_add_test(tc, test_too_many_holds_rejected);
	tcase_add_test(tc, test_next_hold_id_never_reuses_an_id);
	tcase_add_test(tc, test_unknown_last_reasons_are_skipped);
	tcase_add_test(tc, test_merge_holds);
	suite_add_tcase(s, tc);

	TCase *files = tcase_create("files");
	tcase_add_checked_fixture(files, test_tmpdir_setup, test_tmpdir_teardown);
	tcase_add_test(files, test_save_and_load);
	tcase_add_loop_test(files, test_load_not_a_file, 0, 4);
	tcase_add_test(files, test_save_over_a_fifo_left_as_temporary);
	tcase_add_test(files, test_save_into_missing_dir_fails);
	tcase_add_test(files, test_boot_id_read);
	suite_add_tcase(s, files);
	return s;
}
