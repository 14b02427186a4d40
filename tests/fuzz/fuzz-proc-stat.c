/* The /proc/PID/stat parser. A process names itself (prctl, argv[0]), so the name may hold
 * ")", "(", spaces and newlines: "1 (a) b (c) S 0 ...". Property: an accepted line gives a
 * positive pid, a name cut to TASK_COMM_LEN, a state letter, and leaves the fields the scan
 * fills (uid, child index) alone. */
#include "fuzz.h"
#include "proc-table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_strndup(data, size);
	ProcEntry e = { .uid = 4242, .first_child = 7, .n_children = 3 };

	if (proc_stat_parse(text, &e) < 0) {
		fuzz_assert(e.uid == 4242 && e.pid == 0); /* untouched on failure */
		return 0;
	}
	fuzz_assert(e.pid > 0 && e.ppid >= 0);
	fuzz_assert(strnlen(e.comm, sizeof(e.comm)) < sizeof(e.comm));
	fuzz_assert(e.state != '\0' && e.state != ' ' && e.state != '\n');
	fuzz_assert(e.uid == 4242 && e.first_child == 7 && e.n_children == 3);
	return 0;
}
