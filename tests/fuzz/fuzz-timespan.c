/* The time-span parser (config values, `trnidlectl hold 2h`). Property: a parsed span,
 * formatted back, parses to the same number of microseconds. */
#include "fuzz.h"
#include "timespan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *s = fuzz_strndup(data, size < 1024 ? size : 1024);
	usec_t t, again;
	char buf[128];

	if (timespan_parse(s, &t) < 0 || t == USEC_INFINITY)
		return 0;
	timespan_format(buf, sizeof(buf), t);
	fuzz_assert(timespan_parse(buf, &again) == 0);
	if (again != t) {
		fprintf(stderr, "'%s' -> %llu -> '%s' -> %llu\n", s, (unsigned long long)t, buf,
		        (unsigned long long)again);
		abort();
	}
	return 0;
}
