#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timespan.h"

/* Spans are summed in doubles: above 2^53 us (about 285 years) they stop being exact. Nothing
 * the daemon configures comes near. */
#define TIMESPAN_MAX_USEC 9007199254740992.0 /* 2^53 */

/* llround() for 0 <= x < 2^53, by hand: it was the daemon's one use of libm, whose mapping
 * alone was 300 KiB of its resident memory. x minus its integer part is exact in that range. */
static usec_t round_usec(double x)
{
	usec_t whole = (usec_t)x;
	return whole + (x - (double)whole >= 0.5);
}

static const struct {
	const char *suffix;
	usec_t usec;
} units[] = {
	/* Longer suffixes first so that "min" is not read as "m" followed by "in". */
	{ "weeks", 7 * USEC_PER_DAY },
	{ "week", 7 * USEC_PER_DAY },
	{ "w", 7 * USEC_PER_DAY },
	{ "days", USEC_PER_DAY },
	{ "day", USEC_PER_DAY },
	{ "d", USEC_PER_DAY },
	{ "hours", USEC_PER_HOUR },
	{ "hour", USEC_PER_HOUR },
	{ "hr", USEC_PER_HOUR },
	{ "h", USEC_PER_HOUR },
	{ "minutes", USEC_PER_MINUTE },
	{ "minute", USEC_PER_MINUTE },
	{ "min", USEC_PER_MINUTE },
	{ "msec", USEC_PER_MSEC },
	{ "ms", USEC_PER_MSEC },
	{ "m", USEC_PER_MINUTE },
	{ "seconds", USEC_PER_SEC },
	{ "second", USEC_PER_SEC },
	{ "sec", USEC_PER_SEC },
	{ "s", USEC_PER_SEC },
	{ "usec", 1 },
	{ "us", 1 },
};

static int parse_unit(const char **p, usec_t *ret)
{
	const char *s = *p;
	size_t n = 0;
	while (isalpha((unsigned char)s[n]))
		n++;
	if (n == 0) {
		*ret = USEC_PER_SEC;
		return 0;
	}
	for (size_t i = 0; i < ELEMENTSOF(units); i++)
		if (strlen(units[i].suffix) == n && strneq(s, units[i].suffix, n)) {
			*ret = units[i].usec;
			*p = s + n;
			return 0;
		}
	return -EINVAL;
}

int timespan_parse(const char *s, usec_t *ret)
{
	const char *p = s;
	usec_t total = 0;
	bool any = false;

	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		if (!isdigit((unsigned char)*p) && *p != '.')
			return -EINVAL;
		/* Only digits and one decimal point: strtod() alone would also take "1e3" and
		 * "0x10", which nobody means as a number of seconds. */
		size_t digits = strspn(p, "0123456789.");
		const char *dot = memchr(p, '.', digits);
		if (dot && memchr(dot + 1, '.', digits - (size_t)(dot + 1 - p)))
			return -EINVAL;
		char *end;
		errno = 0;
		double v = strtod(p, &end);
		if (end != p + digits)
			return -EINVAL;
		if (errno != 0 || !isfinite(v) || v < 0)
			return errno == ERANGE ? -ERANGE : -EINVAL;
		p = end;
		/* systemd accepts "5 min" as well as "5min". */
		const char *unit_start = p;
		while (isspace((unsigned char)*unit_start))
			unit_start++;
		if (isalpha((unsigned char)*unit_start))
			p = unit_start;
		usec_t unit;
		if (parse_unit(&p, &unit) < 0)
			return -EINVAL;
		double add = v * (double)unit;
		if (add >= TIMESPAN_MAX_USEC || (double)total + add >= TIMESPAN_MAX_USEC)
			return -ERANGE;
		total += round_usec(add);
		any = true;
		/* A unit must be followed by white space or another number. */
		if (*p && !isspace((unsigned char)*p) && !isdigit((unsigned char)*p))
			return -EINVAL;
	}
	if (!any)
		return -EINVAL;
	*ret = total;
	return 0;
}

char *timespan_format(char *buf, size_t size, usec_t t)
{
	static const struct {
		const char *suffix;
		usec_t usec;
	} parts[] = {
		{ "d", USEC_PER_DAY }, { "h", USEC_PER_HOUR },  { "min", USEC_PER_MINUTE },
		{ "s", USEC_PER_SEC }, { "ms", USEC_PER_MSEC }, { "us", 1 },
	};

	if (size == 0)
		return buf;
	buf[0] = '\0';
	if (t == USEC_INFINITY) {
		strscpy(buf, size, "infinity");
		return buf;
	}
	if (t == 0) {
		strscpy(buf, size, "0s");
		return buf;
	}
	for (size_t i = 0; i < ELEMENTSOF(parts) && t > 0; i++) {
		if (t < parts[i].usec)
			continue;
		usec_t n = t / parts[i].usec;
		t -= n * parts[i].usec;
		strappendf(buf, size, "%s%llu%s", buf[0] ? " " : "", (unsigned long long)n,
		           parts[i].suffix);
	}
	return buf;
}
