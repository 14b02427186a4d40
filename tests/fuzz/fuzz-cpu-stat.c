/* The /proc/stat parser. The input is two readings separated by a NUL byte. Property: the
 * busy share between two accepted readings is a number between 0 and 100, whatever the
 * counters say (a counter reset or a wrap must not make the machine look idle or busy
 * beyond the scale). */
#include <math.h>

#include "fuzz.h"
#include "probe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *a = NULL, *b = NULL;
	fuzz_split2(data, size, &a, &b);
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
