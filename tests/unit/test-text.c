/* text_sanitize(): what users write reaches other people's terminals and JSON parsers only as
 * printable, valid UTF-8 (issue #13); and the state file is not trusted further than a hold. */
#include "check-main.h"

#include "state.h"

typedef struct Case {
	const char *in;
	const char *out;
	size_t controls; /* text_controls(in) */
} Case;

static const Case cases[] = {
	{ "training run", "training run", 0 },
	{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x80",
	  0 },
	{ "\x1b[2J\x1b[31mPWN\n", "[2J[31mPWN", 3 }, /* C0 */
	{ "a\x7f"
	  "b",
	  "ab", 1 }, /* DEL */
	{ "csi \x9b"
	  "2J",
	  "csi 2J", 1 }, /* C1, raw byte */
	{ "csi \xc2\x9b"
	  "2J",
	  "csi 2J", 1 },                           /* C1 in UTF-8 */
	{ "nbsp \xc2\xa0.", "nbsp \xc2\xa0.", 0 }, /* U+00A0 is not a control */
	{ "bad\xff", "bad\xef\xbf\xbd", 0 },       /* invalid: U+FFFD */
	{ "x\xc3", "x\xef\xbf\xbd", 0 },           /* cut character */
	/* A cut character: U+FFFD for its lead byte; a stray continuation byte 80..9F is a raw
	 * C1 control to a terminal (dropped), A0..BF becomes U+FFFD. */
	{ "\xe2\x82", "\xef\xbf\xbd", 1 },
	{ "\xe2\xa0", "\xef\xbf\xbd\xef\xbf\xbd", 0 },
	{ "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd", 0 },     /* overlong '/' (C0 AF) */
	{ "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd", 1 }, /* a surrogate (U+D800) */
};

START_TEST(test_sanitize)
{
	const Case *c = &cases[_i];
	char buf[64];
	text_sanitize(buf, sizeof(buf), c->in);
	ck_assert_str_eq(buf, c->out);
	ck_assert_uint_eq(text_controls(c->in), c->controls);
	/* In place gives the same. */
	char copy[64];
	strscpy(copy, sizeof(copy), c->in);
	ck_assert_str_eq(text_sanitize(copy, sizeof(copy), copy), c->out);
}
END_TEST

START_TEST(test_never_cuts_a_character)
{
	char buf[6];
	/* "ab€€": the second € does not fit whole in 5 bytes + NUL. */
	ck_assert_str_eq(text_sanitize(buf, sizeof(buf), "ab\xe2\x82\xac\xe2\x82\xac"),
	                 "ab\xe2\x82\xac");
	ck_assert_str_eq(text_sanitize(buf, 3, "a\xff"), "a");
}
END_TEST

START_TEST(test_lines_keep_newlines)
{
	char buf[64];
	ck_assert_str_eq(text_sanitize_lines(buf, sizeof(buf), "a\n\x1b[2Jb\t\n"), "a\n[2Jb\n");
}
END_TEST

static usec_t max_for(uid_t uid, void *userdata)
{
	return uid == 0 ? 3 * USEC_PER_DAY : USEC_PER_HOUR;
}

START_TEST(test_restored_holds_are_capped)
{
	CoreState s;
	core_state_init(&s);
	s.holds[0] = (Hold){ .id = 1, .uid = 65534, .until = USEC_INFINITY };
	s.holds[1] = (Hold){ .id = 2, .uid = 0, .until = USEC_INFINITY };
	s.holds[2] = (Hold){ .id = 3, .uid = 1000, .until = 1000 + 60 * USEC_PER_SEC };
	s.n_holds = 3;
	ck_assert_uint_eq(state_cap_holds(&s, 1000, max_for, NULL), 2);
	ck_assert_uint_eq(s.holds[0].until, 1000 + USEC_PER_HOUR);
	ck_assert_uint_eq(s.holds[1].until, 1000 + 3 * USEC_PER_DAY);
	ck_assert_uint_eq(s.holds[2].until, 1000 + 60 * USEC_PER_SEC);
}
END_TEST

START_TEST(test_state_file_text_is_cleaned)
{
	CoreState s;
	char err[128];
	const char *text = "{\"version\":1,\"boot_id\":\"b\",\"idle_checks\":0,\"next_hold_id\":2,"
	                   "\"holds\":[{\"id\":1,\"uid\":5,\"owner\":\"ev\\u001bil\","
	                   "\"until_usec\":9,\"reason\":\"bad\xff \\u009b2J\"}]}";
	ck_assert_int_eq(state_parse(text, "b", &s, NULL, err, sizeof(err)), 0);
	ck_assert_str_eq(s.holds[0].owner, "evil");
	ck_assert_str_eq(s.holds[0].reason, "bad\xef\xbf\xbd 2J");
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("text");
	TCase *tc = tcase_create("text");
	tcase_add_loop_test(tc, test_sanitize, 0, (int)ELEMENTSOF(cases));
	tcase_add_test(tc, test_never_cuts_a_character);
	tcase_add_test(tc, test_lines_keep_newlines);
	tcase_add_test(tc, test_restored_holds_are_capped);
	tcase_add_test(tc, test_state_file_text_is_cleaned);
	suite_add_tcase(s, tc);
	return s;
}
