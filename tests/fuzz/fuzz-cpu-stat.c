/* The /proc/stat parser. The input is two readings separated by a NUL byte. Property: the
 * busy share between two accepted readings is a number between 0 and 100, whatever the
 * counters say (a counter reset or a wrap must not make the machine look idle or busy
 * beyond the scale). */
#include <math.h>

#include "fuzz.h"
#include "probe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t first = nul ? (size_t)(nul - data) : size;
	_cleanup_free_ char *a = fuzz_strndup(data, first);
	_cleanup_free_ char *b =
	        fuzz_strndup(data + first + (nul ? 1 : 0), size - first - (nul ? 1 : 0));
	CpuCounters prev = { 0 }, now = { 0 };

	if (cpu_counters_parse(a, &prev) < 0)
		return 0;
	fuzz_assert(prev.valid);
	if (cpu_counters_parse(b, &now) < 0)
		return 0;
	double p = cpu_busy_percent(&prev, &now);
	fuzz_assert(isfinite(p) && p >= 0.0 && p <= 100.0);
	return 0;
}
