/* The IMDS spot notice readers: spot/instance-action and events/recommendations/rebalance.
 * A local process can answer for 169.254.169.254 only with root, but a broken or hostile
 * proxy path, a truncated body or another cloud's metadata service can say anything.
 * Property: an accepted notice has a known action and a time that parsed; a rejected one
 * comes with a reason. */
#include "fuzz.h"
#include "imds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *json = fuzz_strndup(data, size);
	SpotFacts n;
	char err[256] = "", notice[32] = "";

	if (imds_parse_instance_action(json, &n, err, sizeof(err)) == 0) {
		fuzz_assert(streq(n.action, "stop") || streq(n.action, "terminate") ||
		            streq(n.action, "hibernate"));
		time_t again;
		fuzz_assert(iso8601_parse(n.time, &again) == 0 && again == n.when);
	} else
		fuzz_assert(err[0] != '\0');
	err[0] = '\0';
	if (imds_parse_rebalance(json, notice, sizeof(notice), err, sizeof(err)) == 0)
		fuzz_assert(strnlen(notice, sizeof(notice)) < sizeof(notice));
	else
		fuzz_assert(err[0] != '\0');
	return 0;
}
