/* The time-span parser and formatter: systemd's syntax, every unit, and the inputs it must
 * refuse rather than misread. */
#include "check-main.h"
#include <errno.h>

#include "timespan.h"

#define SEC USEC_PER_SEC

typedef struct GoodCase {
	const char *text;
	usec_t usec;
} GoodCase;

static const GoodCase good[] = {
	{ "90", 90 * SEC },
	{ "90s", 90 * SEC },
	{ "90sec", 90 * SEC },
	{ "1second", SEC },
	{ "2seconds", 2 * SEC },
	{ "5min", 5 * USEC_PER_MINUTE },
	{ "5m", 5 * USEC_PER_MINUTE },
	{ "1minute", USEC_PER_MINUTE },
	{ "2minutes", 2 * USEC_PER_MINUTE },
	{ "2h", 2 * USEC_PER_HOUR },
	{ "2hr", 2 * USEC_PER_HOUR },
	{ "1hour", USEC_PER_HOUR },
	{ "3hours", 3 * USEC_PER_HOUR },
	{ "1d", USEC_PER_DAY },
	{ "2days", 2 * USEC_PER_DAY },
	{ "1w", 7 * USEC_PER_DAY },
	{ "1week", 7 * USEC_PER_DAY },
	{ "2weeks", 14 * USEC_PER_DAY },
	{ "100ms", 100 * USEC_PER_MSEC },
	{ "100msec", 100 * USEC_PER_MSEC },
	{ "7us", 7 },
	{ "7usec", 7 },
	{ "1h 30min", 90 * USEC_PER_MINUTE },
	{ "1h30min", 90 * USEC_PER_MINUTE },
	{ "1h 30min 15s", 5415 * SEC },
	{ "1.5h", 90 * USEC_PER_MINUTE },
	{ ".5s", SEC / 2 },
	{ "0", 0 },
	{ "0s", 0 },
	{ "  5s  ", 5 * SEC },
	{ "\t5s\n", 5 * SEC },
	{ "5 min", 5 * USEC_PER_MINUTE }, /* systemd allows a space before the unit */
	{ "1 h 2 min", 62 * USEC_PER_MINUTE },
	{ "10 20", 30 * SEC },
	/* Fractions of a microsecond round to the nearest, halves away from zero (llround). */
	{ "1.4us", 1 },
	{ "1.5us", 2 },
	{ "2.5us", 3 },
	{ "0.49999999999999994us", 0 },
	{ "4503599627370497us", 4503599627370497ULL }, /* 2^52 + 1: exact */
	{ "9007199254740991us", 9007199254740991ULL }, /* 2^53 - 1 */
};

START_TEST(test_good)
{
	usec_t t = 12345;
	int r = timespan_parse(good[_i].text, &t);
	ck_assert_msg(r == 0, "'%s': %d", good[_i].text, r);
	ck_assert_msg(t == good[_i].usec, "'%s': %llu", good[_i].text, (unsigned long long)t);
}
END_TEST

typedef struct BadCase {
	const char *text;
	int error;
} BadCase;

static const BadCase bad[] = {
	{ "", -EINVAL },
	{ "   ", -EINVAL },
	{ "s", -EINVAL },
	{ "abc", -EINVAL },
	{ "5x", -EINVAL },
	{ "5mins", -EINVAL },
	{ "5 minutes later", -EINVAL },
	{ "-5s", -EINVAL },
	{ "+5s", -EINVAL },
	{ "5s-", -EINVAL },
	{ "1e3", -EINVAL },  /* no exponents: 1000 s by accident */
	{ "0x10", -EINVAL }, /* no hexadecimal */
	{ "inf", -EINVAL },
	{ "nan", -EINVAL },
	{ "1.2.3s", -EINVAL },
	{ ".", -EINVAL },
	{ "5s,", -EINVAL },
	{ "5,5s", -EINVAL },
	{ "99999999999999999999w", -ERANGE },
	{ "300000000d", -ERANGE },
	{ "3000000w 3000000w 3000000w 3000000w 3000000w 3000000w 3000000w 3000000w 3000000w "
	  "3000000w "
	  "3000000w 3000000w 3000000w 3000000w 3000000w 3000000w 3000000w 3000000w 3000000w "
	  "3000000w "
	  "3000000w 3000000w 3000000w 3000000w 3000000w 3000000w 3000000w 3000000w 3000000w "
	  "3000000w "
	  "3000000w 3000000w 3000000w 3000000w 3000000w 3000000w 3000000w 3000000w 3000000w "
	  "3000000w",
	  -ERANGE },
};

START_TEST(test_bad)
{
	usec_t t = 12345;
	int r = timespan_parse(bad[_i].text, &t);
	ck_assert_msg(r == bad[_i].error, "'%s': %d, expected %d", bad[_i].text, r, bad[_i].error);
	ck_assert_uint_eq(t, 12345); /* untouched */
}
END_TEST

typedef struct FormatCase {
	usec_t usec;
	const char *text;
} FormatCase;

static const FormatCase formats[] = {
	{ 0, "0s" },
	{ 7, "7us" },
	{ 90 * USEC_PER_MSEC, "90ms" },
	{ SEC, "1s" },
	{ 90 * SEC, "1min 30s" },
	{ 5 * USEC_PER_MINUTE, "5min" },
	{ 90 * USEC_PER_MINUTE, "1h 30min" },
	{ USEC_PER_DAY, "1d" },
	{ 30 * USEC_PER_DAY, "30d" },
	{ USEC_PER_DAY + SEC + 1, "1d 1s 1us" },
	{ USEC_INFINITY, "infinity" },
};

START_TEST(test_format)
{
	char buf[64];
	ck_assert_str_eq(timespan_format(buf, sizeof(buf), formats[_i].usec), formats[_i].text);
	/* What we print, we read back (except infinity, which no key accepts). */
	if (formats[_i].usec != USEC_INFINITY) {
		usec_t t;
		ck_assert_int_eq(timespan_parse(buf, &t), 0);
		ck_assert_uint_eq(t, formats[_i].usec);
	}
}
END_TEST

START_TEST(test_format_small_buffer)
{
	char buf[6];
	timespan_format(buf, sizeof(buf), 90 * USEC_PER_MINUTE + 5 * SEC);
	ck_assert_uint_lt(strlen(buf), sizeof(buf));
	ck_assert(strneq(buf, "1h 30", 5));
	char one[1] = { 'x' };
	timespan_format(one, sizeof(one), SEC);
	ck_assert_int_eq(one[0], '\0');
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("timespan");
	TCase *tc = tcase_create("timespan");
	tcase_add_loop_test(tc, test_good, 0, (int)ELEMENTSOF(good));
	tcase_add_loop_test(tc, test_bad, 0, (int)ELEMENTSOF(bad));
	tcase_add_loop_test(tc, test_format, 0, (int)ELEMENTSOF(formats));
	tcase_add_test(tc, test_format_small_buffer);
	suite_add_tcase(s, tc);
	return s;
}
