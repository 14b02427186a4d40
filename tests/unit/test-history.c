/* The verdict history: recorded on change only, bounded (7 days, entries, bytes), kept across a
 * restart exactly as written, a corrupt file refused with a reason, and the timeline people
 * read. The clock is handed in: T0 is a Monday, 2026-11-30 00:00 UTC. */
#include "check-main.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "history.h"
#include "state.h"
#include "test-util.h"

#define MIN_ USEC_PER_MINUTE
#define HOUR USEC_PER_HOUR
#define DAY  USEC_PER_DAY
#define T0   (1795996800ULL * USEC_PER_SEC)

static History h; /* large: not on the stack */
static History back;

static void reset(void)
{
	memset(&h, 0, sizeof(h));
	memset(&back, 0, sizeof(back));
	setenv("TZ", "UTC", 1);
	tzset();
}

START_TEST(test_records_changes_only)
{
	reset();
	ck_assert(history_record(&h, T0, HISTORY_ACTIVE, "terminal", "pts/0 input 3s ago"));
	ck_assert(!history_record(&h, T0 + MIN_, HISTORY_ACTIVE, "cpu", "37% > 10%"));
	ck_assert(history_record(&h, T0 + 2 * MIN_, HISTORY_IDLE, "", "nothing active"));
	ck_assert(history_record(&h, T0 + 3 * MIN_, HISTORY_HELD, "hold", "#1 by alice"));
	ck_assert_uint_eq(h.n, 3);
	ck_assert_str_eq(h.entries[0].signal, "terminal");
	ck_assert_uint_eq(h.entries[0].at, T0);
	ck_assert_int_eq(h.entries[2].state, HISTORY_HELD);
}
END_TEST

START_TEST(test_decision_first_reason_decides)
{
	reset();
	Decision d = { .verdict = VERDICT_ACTIVE, .n_reasons = 2 };
	d.reasons[0] = (Reason){ .signal = SIGNAL_CPU };
	strscpy(d.reasons[0].detail, REASON_DETAIL_MAX, "37% > 10%");
	d.reasons[1] = (Reason){ .signal = SIGNAL_MEMORY };
	ck_assert(history_record_decision(&h, T0, &d));
	ck_assert_str_eq(h.entries[0].signal, "cpu");
	ck_assert_str_eq(h.entries[0].detail, "37% > 10%");
	Decision idle = { .verdict = VERDICT_IDLE };
	ck_assert(history_record_decision(&h, T0 + MIN_, &idle));
	ck_assert_str_eq(h.entries[1].signal, "");
	ck_assert_str_eq(h.entries[1].detail, "nothing active");
}
END_TEST

START_TEST(test_clock_set_back_keeps_order)
{
	reset();
	history_record(&h, T0 + HOUR, HISTORY_ACTIVE, "cpu", "");
	history_record(&h, T0, HISTORY_IDLE, "", "");
	ck_assert_uint_eq(h.entries[1].at, T0 + HOUR);
}
END_TEST

START_TEST(test_restart_keeps_everything_written)
{
	reset();
	static const char *const details[] = { "plain", "quote \" backslash \\ slash /",
		                               "ünïcödé ✓", "" };
	for (size_t i = 0; i < 40; i++)
		history_record(&h, T0 + i * MIN_, (HistoryState)(i % _HISTORY_STATE_MAX),
		               i % 2 ? "terminal" : "", details[i % ELEMENTSOF(details)]);
	_cleanup_free_ char *text = history_serialize(&h, T0 + HOUR);
	char err[256] = "";
	ck_assert_int_eq(history_parse(text, &back, err, sizeof(err)), 0);
	ck_assert_uint_eq(back.n, 40);
	for (size_t i = 0; i < back.n; i++) {
		ck_assert_uint_eq(back.entries[i].at, h.entries[i].at);
		ck_assert_int_eq(back.entries[i].state, h.entries[i].state);
		ck_assert_str_eq(back.entries[i].signal, h.entries[i].signal);
		ck_assert_str_eq(back.entries[i].detail, h.entries[i].detail);
	}
}
END_TEST

START_TEST(test_entries_bounded_oldest_dropped)
{
	reset();
	for (size_t i = 0; i < HISTORY_ENTRIES_MAX + 300; i++)
		history_record(&h, T0 + i * MIN_, i % 2 ? HISTORY_IDLE : HISTORY_ACTIVE, "", "");
	ck_assert_uint_eq(h.n, HISTORY_ENTRIES_MAX);
	ck_assert_uint_eq(h.entries[h.n - 1].at, T0 + (HISTORY_ENTRIES_MAX + 299) * MIN_);
	ck_assert_uint_eq(h.entries[0].at, T0 + 300 * MIN_);
}
END_TEST

START_TEST(test_bytes_bounded_oldest_dropped)
{
	reset();
	char detail[HISTORY_DETAIL_MAX];
	memset(detail, 'x', sizeof(detail) - 1);
	detail[sizeof(detail) - 1] = '\0';
	for (size_t i = 0; i < HISTORY_ENTRIES_MAX; i++)
		history_record(&h, T0 + i * MIN_, i % 2 ? HISTORY_IDLE : HISTORY_ACTIVE,
		               "neuron-process", detail);
	uint64_t newest = h.entries[h.n - 1].at;
	_cleanup_free_ char *text = history_serialize(&h, newest);
	ck_assert_uint_le(strlen(text), HISTORY_BYTES_MAX);
	ck_assert_uint_lt(h.n, HISTORY_ENTRIES_MAX);
	char err[256];
	ck_assert_int_eq(history_parse(text, &back, err, sizeof(err)), 0);
	ck_assert_uint_eq(back.n, h.n); /* memory and file agree */
	ck_assert_uint_eq(back.entries[back.n - 1].at, newest);
}
END_TEST

START_TEST(test_older_than_7_days_dropped)
{
	reset();
	for (int d = 0; d < 10; d++)
		history_record(&h, T0 + (uint64_t)d * DAY, d % 2 ? HISTORY_IDLE : HISTORY_ACTIVE,
		               "", "");
	/* Now is day 10 + 1h: the cutoff is day 3 + 1h, in force then was day 3's entry. */
	_cleanup_free_ char *text = history_serialize(&h, T0 + 10 * DAY + HOUR);
	ck_assert_uint_eq(h.n, 7);
	ck_assert_uint_eq(h.entries[0].at, T0 + 3 * DAY + HOUR);
	ck_assert_int_eq(h.entries[0].state, HISTORY_IDLE);
	ck_assert_uint_eq(h.entries[1].at, T0 + 4 * DAY);
}
END_TEST

static const char *const corrupt[] = {
	"",
	"{",
	"[]",
	"{\"version\":2,\"entries\":[]}",
	"{\"version\":1}",
	"{\"version\":1,\"entries\":{}}",
	"{\"version\":1,\"entries\":[1]}",
	"{\"version\":1,\"entries\":[{\"at_usec\":1,\"state\":\"asleep\",\"signal\":\"\","
	"\"detail\":\"\"}]}",
	"{\"version\":1,\"entries\":[{\"at_usec\":-1,\"state\":\"idle\",\"signal\":\"\","
	"\"detail\":\"\"}]}",
	"{\"version\":1,\"entries\":[{\"at_usec\":5,\"state\":\"idle\",\"signal\":\"\","
	"\"detail\":\"\"},{\"at_usec\":4,\"state\":\"active\",\"signal\":\"\",\"detail\":\"\"}]}",
	"{\"version\":1,\"entries\":[]} {}",
};

START_TEST(test_corrupt_is_refused_with_a_reason)
{
	reset();
	history_record(&back, T0, HISTORY_ACTIVE, "cpu", "kept");
	char err[256] = "";
	ck_assert_int_eq(history_parse(corrupt[_i], &back, err, sizeof(err)), -EBADMSG);
	ck_assert_str_ne(err, "");
	ck_assert_uint_eq(back.n, 1); /* untouched */
}
END_TEST

START_TEST(test_every_truncation_is_refused)
{
	reset();
	history_record(&h, T0, HISTORY_ACTIVE, "cpu", "37%");
	history_record(&h, T0 + MIN_, HISTORY_IDLE, "", "");
	_cleanup_free_ char *text = history_serialize(&h, T0 + HOUR);
	char err[256];
	for (size_t len = 0; len < strlen(text); len++) {
		_cleanup_free_ char *cut = strndup(text, len);
		ck_assert_int_eq(history_parse(cut, &back, err, sizeof(err)), -EBADMSG);
	}
}
END_TEST

START_TEST(test_unclean_stop_is_off_from_last_sign_of_life)
{
	reset();
	ck_assert(!history_note_unclean_stop(&h, T0, T0)); /* nothing known: nothing said */
	history_record(&h, T0, HISTORY_ACTIVE, "cpu", "");
	ck_assert(history_note_unclean_stop(&h, T0 + 3 * HOUR, T0 + HOUR));
	ck_assert_uint_eq(h.n, 2);
	ck_assert_int_eq(h.entries[1].state, HISTORY_OFF);
	ck_assert_uint_eq(h.entries[1].at, T0 + HOUR);
	ck_assert_ptr_nonnull(strstr(h.entries[1].detail, "did not stop cleanly"));
	/* A clean stop already said "off". */
	ck_assert(!history_note_unclean_stop(&h, T0 + 4 * HOUR, T0 + 3 * HOUR));
	/* A sign of life before the last entry or after now is clamped. */
	history_record(&h, T0 + 5 * HOUR, HISTORY_IDLE, "", "");
	ck_assert(history_note_unclean_stop(&h, T0 + 6 * HOUR, T0));
	ck_assert_uint_eq(h.entries[3].at, T0 + 5 * HOUR);
	history_record(&h, T0 + 7 * HOUR, HISTORY_IDLE, "", "");
	ck_assert(history_note_unclean_stop(&h, T0 + 8 * HOUR, T0 + 9 * HOUR));
	ck_assert_uint_eq(h.entries[5].at, T0 + 8 * HOUR);
}
END_TEST

START_TEST(test_json_starts_with_the_entry_in_force)
{
	reset();
	history_record(&h, T0, HISTORY_ACTIVE, "terminal", "pts/0");
	history_record(&h, T0 + HOUR, HISTORY_IDLE, "", "nothing active");
	history_record(&h, T0 + 2 * HOUR, HISTORY_HELD, "hold", "#1");
	json_object *a = history_to_json(&h, T0 + 90 * MIN_);
	ck_assert_uint_eq(json_object_array_length(a), 2);
	json_object *first = json_object_array_get_idx(a, 0), *v;
	ck_assert(json_object_object_get_ex(first, "verdict", &v));
	ck_assert_str_eq(json_object_get_string(v), "idle");
	ck_assert(json_object_object_get_ex(first, "time", &v));
	ck_assert_str_eq(json_object_get_string(v), "2026-11-30T01:00:00Z");
	json_object_put(a);
}
END_TEST

/* Not inlined: gcc 12 at -O2 then takes a pointer into the returned text for one to this
 * function's local (whose address open_memstream keeps) and warns -Wdangling-pointer. */
static __attribute__((noinline)) char *render(uint64_t since, uint64_t now)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	history_render(f, &h, since, now);
	fclose(f);
	return text;
}

START_TEST(test_render_timeline)
{
	reset();
	/* Monday: off until 08:00, active 08:00-10:30 (terminal), idle until 11:00, held until
	 * 12:00, active (cpu) 12:00-12:20; Tuesday: now is 01:00, off since Monday 13:00. */
	history_record(&h, T0, HISTORY_OFF, "", "");
	history_record(&h, T0 + 8 * HOUR, HISTORY_ACTIVE, "terminal", "pts/0 (alice) input");
	history_record(&h, T0 + 10 * HOUR + 30 * MIN_, HISTORY_IDLE, "", "nothing active");
	history_record(&h, T0 + 11 * HOUR, HISTORY_HELD, "hold", "#1 by alice");
	history_record(&h, T0 + 12 * HOUR, HISTORY_ACTIVE, "cpu", "37% > 10%");
	history_record(&h, T0 + 12 * HOUR + 20 * MIN_, HISTORY_GRACE, "", "boot grace");
	history_record(&h, T0 + 13 * HOUR, HISTORY_OFF, "", "stopped");
	_cleanup_free_ char *text = render(T0, T0 + DAY + HOUR);
	char monday[128], tuesday[128];
	snprintf(monday, sizeof(monday), "Mon 11-30 %s%s%s%s%s%s%s\n",
	         "________________________________", /* 00:00-08:00 */
	         "##########",                       /* 08:00-10:30 */
	         "..", "HHHH", "#", "ggg" /* 12:15: 5 min active, 10 grace */,
	         "____________________________________________" /* 13:00-24:00 */);
	ck_assert_ptr_nonnull(strstr(text, monday));
	snprintf(tuesday, sizeof(tuesday), "Tue 12-01 ____%92s\n", "");
	ck_assert_ptr_nonnull(strstr(text, tuesday));
	ck_assert_ptr_nonnull(strstr(text, "# active  . idle  H held  g boot grace  _ off"));
	ck_assert_ptr_nonnull(strstr(text, "          00      02      04"));
	const char *stretches = strstr(text, "Longest active stretches");
	ck_assert_ptr_nonnull(stretches);
	const char *first =
	        strstr(stretches, "2h 30min     Mon 11-30 08:00-10:30  terminal: pts/0");
	const char *second =
	        strstr(stretches, "20min        Mon 11-30 12:00-12:20  cpu: 37% > 10%");
	ck_assert_ptr_nonnull(first);
	ck_assert_ptr_nonnull(second);
	ck_assert(first < second);
	/* Days before the first record are not drawn as blank lines. */
	_cleanup_free_ char *earlier = render(T0 - 3 * DAY, T0 + DAY + HOUR);
	ck_assert_ptr_null(strstr(earlier, "Fri 11-27"));
	ck_assert_ptr_nonnull(strstr(earlier, monday));
}
END_TEST

START_TEST(test_render_since_and_ongoing)
{
	reset();
	history_record(&h, T0, HISTORY_ACTIVE, "ml-process", "python3 train.py");
	_cleanup_free_ char *text = render(T0 + DAY + 2 * HOUR, T0 + DAY + 3 * HOUR);
	ck_assert_ptr_null(strstr(text, "Mon 11-30"));
	char tuesday[128];
	snprintf(tuesday, sizeof(tuesday), "Tue 12-01 %8s####%84s\n", "", "");
	ck_assert_ptr_nonnull(strstr(text, tuesday));
	ck_assert_ptr_nonnull(strstr(text, "1h           Tue 12-01 02:00-now  ml-process"));
	memset(&h, 0, sizeof(h));
	_cleanup_free_ char *empty = render(T0, T0);
	ck_assert_str_eq(empty, "No history recorded yet.\n");
}
END_TEST

START_TEST(test_save_load_and_set_aside)
{
	reset();
	char err[256] = "";
	ck_assert_int_eq(history_load(test_tmpdir, &back, err, sizeof(err)), -ENOENT);
	history_record(&h, T0, HISTORY_ACTIVE, "cpu", "37%");
	_cleanup_free_ char *text = history_serialize(&h, T0);
	ck_assert_int_eq(history_save(test_tmpdir, text), 0);
	ck_assert_int_eq(history_load(test_tmpdir, &back, err, sizeof(err)), 0);
	ck_assert_uint_eq(back.n, 1);

	test_write_file("history", "{\"version\":1,\"entries\":[", 24);
	ck_assert_int_eq(history_load(test_tmpdir, &back, err, sizeof(err)), -EBADMSG);
	ck_assert_msg(strstr(err, "not JSON"), "%s", err);
	ck_assert_int_eq(history_set_aside(test_tmpdir), 0);
	char path[512];
	struct stat st;
	snprintf(path, sizeof(path), "%s/history.corrupt", test_tmpdir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 24);
	ck_assert_int_eq(history_load(test_tmpdir, &back, err, sizeof(err)), -ENOENT);

	snprintf(path, sizeof(path), "%s/history", test_tmpdir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(history_load(test_tmpdir, &back, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "FIFO"));
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("history");
	TCase *tc = tcase_create("pure");
	tcase_add_test(tc, test_records_changes_only);
	tcase_add_test(tc, test_decision_first_reason_decides);
	tcase_add_test(tc, test_clock_set_back_keeps_order);
	tcase_add_test(tc, test_restart_keeps_everything_written);
	tcase_add_test(tc, test_entries_bounded_oldest_dropped);
	tcase_add_test(tc, test_bytes_bounded_oldest_dropped);
	tcase_add_test(tc, test_older_than_7_days_dropped);
	tcase_add_loop_test(tc, test_corrupt_is_refused_with_a_reason, 0, (int)ELEMENTSOF(corrupt));
	tcase_add_test(tc, test_every_truncation_is_refused);
	tcase_add_test(tc, test_unclean_stop_is_off_from_last_sign_of_life);
	tcase_add_test(tc, test_json_starts_with_the_entry_in_force);
	tcase_add_test(tc, test_render_timeline);
	tcase_add_test(tc, test_render_since_and_ongoing);
	suite_add_tcase(s, tc);

	TCase *files = tcase_create("files");
	tcase_add_checked_fixture(files, test_tmpdir_setup, test_tmpdir_teardown);
	tcase_add_test(files, test_save_load_and_set_aside);
	suite_add_tcase(s, files);
	return s;
}
