/* varlink_parse_message: what the daemon makes of one message from any local user. */
#include "check-main.h"
#include <errno.h>
#include <stdio.h>

#include "macro.h"
#include "varlink.h"

typedef struct Parsed {
	int r;
	json_object *msg;
	const char *method;
	json_object *params;
	bool oneway;
	char err[256];
} Parsed;

static Parsed parse_n(const char *buf, size_t len)
{
	Parsed p = { .oneway = true };
	p.r = varlink_parse_message(buf, len, &p.msg, &p.method, &p.params, &p.oneway, p.err,
	                            sizeof(p.err));
	return p;
}

static Parsed parse(const char *s)
{
	return parse_n(s, strlen(s));
}

START_TEST(test_call_with_parameters)
{
	Parsed p = parse("{\"method\":\"io.trnidle.Hold\",\"parameters\":{\"duration\":\"2h\"}}");
	ck_assert_int_eq(p.r, 0);
	ck_assert_str_eq(p.method, "io.trnidle.Hold");
	ck_assert(!p.oneway);
	json_object *d;
	ck_assert(json_object_object_get_ex(p.params, "duration", &d));
	ck_assert_str_eq(json_object_get_string(d), "2h");
	json_object_put(p.msg);
}
END_TEST

START_TEST(test_missing_or_null_parameters_become_an_object)
{
	const char *texts[] = { "{\"method\":\"io.trnidle.Status\"}",
		                "{\"method\":\"io.trnidle.Status\",\"parameters\":null}",
		                "  {\"method\":\"io.trnidle.Status\"} \n" };
	for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
		Parsed p = parse(texts[i]);
		ck_assert_msg(p.r == 0, "%s: %s", texts[i], p.err);
		ck_assert(json_object_is_type(p.params, json_type_object));
		ck_assert_int_eq(json_object_object_length(p.params), 0);
		json_object_put(p.msg);
	}
}
END_TEST

START_TEST(test_oneway)
{
	Parsed p = parse("{\"method\":\"a.b\",\"oneway\":true}");
	ck_assert_int_eq(p.r, 0);
	ck_assert(p.oneway);
	json_object_put(p.msg);
	p = parse("{\"method\":\"a.b\",\"oneway\":false}");
	ck_assert_int_eq(p.r, 0);
	ck_assert(!p.oneway);
	json_object_put(p.msg);
}
END_TEST

START_TEST(test_only_len_bytes_count)
{
	/* The buffer is not NUL-terminated where the message ends. */
	const char buf[] = "{\"method\":\"a.b\"}GARBAGE";
	Parsed p = parse_n(buf, 16);
	ck_assert_msg(p.r == 0, "%s", p.err);
	ck_assert_str_eq(p.method, "a.b");
	json_object_put(p.msg);
}
END_TEST

typedef struct BadCase {
	const char *text;
	const char *reason;
} BadCase;

static const BadCase bad[] = {
	{ "", "not a JSON object" },
	{ "hello", "not a JSON object" },
	{ "{\"method\":", "not a JSON object" },
	{ "{\"method\":\"a.b\"}x", "trailing data" },
	{ "{\"method\":\"a.b\"}{\"method\":\"a.b\"}", "trailing data" },
	{ "[1,2]", "no \"method\" string" },
	{ "42", "not a JSON object" },
	{ "\"io.trnidle.Status\"", "no \"method\" string" },
	{ "{}", "no \"method\" string" },
	{ "{\"method\":7}", "no \"method\" string" },
	{ "{\"method\":null}", "no \"method\" string" },
	{ "{\"method\":\"a.b\",\"parameters\":[]}", "\"parameters\" is not an object" },
	{ "{\"method\":\"a.b\",\"parameters\":\"x\"}", "\"parameters\" is not an object" },
	{ "{\"method\":\"a.b\",\"oneway\":\"no\"}", "\"oneway\" is not a boolean" },
	{ "{\"method\":\"a.b\",\"oneway\":1}", "\"oneway\" is not a boolean" },
};

START_TEST(test_bad)
{
	Parsed p = parse(bad[_i].text);
	ck_assert_msg(p.r == -EBADMSG, "'%s': %d", bad[_i].text, p.r);
	ck_assert_msg(strstr(p.err, bad[_i].reason), "'%s': reason '%s'", bad[_i].text, p.err);
}
END_TEST

START_TEST(test_deep_nesting_is_refused_not_recursed)
{
	size_t depth = 10000, len = 0;
	char *buf = malloc(2 * depth + 64);
	len += (size_t)sprintf(buf, "{\"method\":\"a.b\",\"parameters\":{\"x\":");
	for (size_t i = 0; i < depth; i++)
		buf[len++] = '[';
	for (size_t i = 0; i < depth; i++)
		buf[len++] = ']';
	buf[len++] = '}';
	buf[len++] = '}';
	Parsed p = parse_n(buf, len);
	ck_assert_int_eq(p.r, -EBADMSG);
	ck_assert_ptr_nonnull(strstr(p.err, "not a JSON object"));
	free(buf);
}
END_TEST

START_TEST(test_largest_message)
{
	/* A message of exactly the limit still parses. */
	char *buf = malloc(VARLINK_MESSAGE_MAX);
	const char *head = "{\"method\":\"a.b\",\"parameters\":{\"x\":\"";
	size_t hl = strlen(head);
	memcpy(buf, head, hl);
	memset(buf + hl, 'a', VARLINK_MESSAGE_MAX - hl - 3);
	memcpy(buf + VARLINK_MESSAGE_MAX - 3, "\"}}", 3);
	Parsed p = parse_n(buf, VARLINK_MESSAGE_MAX);
	ck_assert_msg(p.r == 0, "%s", p.err);
	json_object_put(p.msg);
	free(buf);
}
END_TEST

START_TEST(test_embedded_nul_in_string_is_rejected_or_kept)
{
	/* A NUL ends a message on the wire, so the server never passes one inside; if it did,
	 * the parser must not read past len. */
	const char buf[] = "{\"method\":\"a\0b\"}";
	Parsed p = parse_n(buf, sizeof(buf) - 1);
	if (p.r == 0)
		json_object_put(p.msg);
	else
		ck_assert_int_eq(p.r, -EBADMSG);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("varlink");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, test_call_with_parameters);
	tcase_add_test(tc, test_missing_or_null_parameters_become_an_object);
	tcase_add_test(tc, test_oneway);
	tcase_add_test(tc, test_only_len_bytes_count);
	tcase_add_loop_test(tc, test_bad, 0, (int)ELEMENTSOF(bad));
	tcase_add_test(tc, test_deep_nesting_is_refused_not_recursed);
	tcase_add_test(tc, test_largest_message);
	tcase_add_test(tc, test_embedded_nul_in_string_is_rejected_or_kept);
	suite_add_tcase(s, tc);
	return s;
}
