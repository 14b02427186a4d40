/* The /proc/stat parser. The input is two readings separated by a NUL byte. Property: the
 * busy share between two accepted readings is a number between 0 and 100, or an error when the
 * counters stood still or went back (a counter reset or a wrap must not make the machine look
 * idle or busy beyond the scale). */
#include <errno.h>
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
	double p = -1.0;
	int r = cpu_busy_percent(&prev, &now, &p);
	fuzz_assert(r == 0 || r == -EAGAIN || r == -ERANGE);
	fuzz_assert(r < 0 || (isfinite(p) && p >= 0.0 && p <= 100.0));
	/* Only a total that moved forward with busy gives a share. */
	fuzz_assert((r == 0) == (now.total > prev.total && now.busy >= prev.busy));
	return 0;
}
