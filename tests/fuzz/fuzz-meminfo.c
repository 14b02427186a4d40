/* The /proc/meminfo parser. Property: an accepted reading has MemTotal > 0, MemAvailable at
 * most MemTotal and a used share between 0 and 100. */
#include <math.h>

#include "fuzz.h"
#include "probe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_strndup(data, size);
	MemoryFacts m;

	if (meminfo_parse(text, &m) < 0)
		return 0;
	fuzz_assert(m.valid && m.total_kib > 0 && m.available_kib <= m.total_kib);
	fuzz_assert(isfinite(m.used_percent) && m.used_percent >= 0.0 && m.used_percent <= 100.0);
	return 0;
}
