/* The /proc/net/dev and /proc/diskstats parsers; the input is two readings separated by a NUL
 * byte, each read as both formats. Property: the rate between two accepted readings is a
 * finite number >= 0 (a device that appears, vanishes or whose counter wraps fakes no burst
 * and no negative rate). */
#include <math.h>

#include "fuzz.h"
#include "probe-io.h"

static void check_rate(const IoCounters *a, const IoCounters *b)
{
	char busiest[IO_NAME_MAX];
	fuzz_assert(a->n <= IO_DEVICES_MAX && b->n <= IO_DEVICES_MAX);
	double r = io_rate(a, b, USEC_PER_SEC, busiest, sizeof(busiest));
	fuzz_assert(isfinite(r) && r >= 0.0);
	fuzz_assert(strnlen(busiest, sizeof(busiest)) < sizeof(busiest));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *a = NULL, *b = NULL;
	fuzz_split2(data, size, &a, &b);
	static IoCounters na, nb, da, db;

	if (netdev_parse(a, NULL, NULL, &na) == 0 && netdev_parse(b, NULL, NULL, &nb) == 0)
		check_rate(&na, &nb);
	if (diskstats_parse(a, NULL, NULL, &da) == 0 && diskstats_parse(b, NULL, NULL, &db) == 0)
		check_rate(&da, &db);
	return 0;
}
