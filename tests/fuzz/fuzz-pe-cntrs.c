/* The Neuron sysfs readers' parsers: tensor_engine/pe_cntrs (CSV "xrow_grp,mm_active,
 * wl_active,idle" per row) and the driver's version string. Both come from a kernel driver
 * whose format changes between releases. Property: no crash, and a rejected text leaves the
 * result alone. */
#include <errno.h>

#include "fuzz.h"
#include "probe-neuron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_strndup(data, size);
	uint64_t busy = 12345;
	unsigned version[3] = { 7, 7, 7 };

	if (pe_cntrs_parse(text, &busy) < 0)
		fuzz_assert(busy == 12345);
	if (neuron_driver_version_parse(text, version) < 0)
		fuzz_assert(version[0] == 7 && version[1] == 7 && version[2] == 7);
	return 0;
}
