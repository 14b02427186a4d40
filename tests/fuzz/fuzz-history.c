/* The verdict history file parser: RUNTIME_DIR/history survives restarts and may be corrupt or
 * truncated. Property: an accepted history serialises (pruned and bounded) and parses back to
 * exactly what the daemon keeps in memory. */
#include <errno.h>

#include "fuzz.h"
#include "history.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_strndup(data, size);
	static History h, again;
	char err[256] = "";

	int r = history_parse(text, &h, err, sizeof(err));
	if (r < 0) {
		fuzz_assert(r == -EBADMSG && err[0] != '\0');
		return 0;
	}
	fuzz_assert(h.n <= HISTORY_ENTRIES_MAX);
	uint64_t now = h.n > 0 ? h.entries[h.n - 1].at : 0;
	_cleanup_free_ char *saved = history_serialize(&h, now);
	fuzz_assert(saved && strlen(saved) <= HISTORY_BYTES_MAX);
	if (history_parse(saved, &again, err, sizeof(err)) < 0) {
		fprintf(stderr, "own output rejected (%s): %s\n", err, saved);
		abort();
	}
	fuzz_assert(again.n == h.n);
	for (size_t i = 0; i < h.n; i++) {
		fuzz_assert(again.entries[i].at == h.entries[i].at);
		fuzz_assert(again.entries[i].state == h.entries[i].state);
		fuzz_assert(streq(again.entries[i].signal, h.entries[i].signal));
		fuzz_assert(streq(again.entries[i].detail, h.entries[i].detail));
	}
	return 0;
}
