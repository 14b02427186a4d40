/* The state file parser: RUNTIME_DIR/state survives restarts and may be corrupt or truncated.
 * Property: accepted state serialises and parses back to the same streak, holds and verdict. */
#include <errno.h>

#include "fuzz.h"
#include "state.h"

#define BOOT_ID "4b6c1c0e-8a53-4f3e-9d3b-6d8f1f0c2a11"

static void check_same(const CoreState *a, const Decision *la, const CoreState *b,
                       const Decision *lb)
{
	fuzz_assert(a->idle_checks == b->idle_checks);
	fuzz_assert(a->next_hold_id == b->next_hold_id);
	fuzz_assert(a->n_holds == b->n_holds);
	for (size_t i = 0; i < a->n_holds; i++) {
		fuzz_assert(a->holds[i].id == b->holds[i].id);
		fuzz_assert(a->holds[i].uid == b->holds[i].uid);
		fuzz_assert(a->holds[i].until == b->holds[i].until);
		fuzz_assert(streq(a->holds[i].owner, b->holds[i].owner));
		fuzz_assert(streq(a->holds[i].reason, b->holds[i].reason));
	}
	fuzz_assert(la->verdict == lb->verdict);
	fuzz_assert(la->n_reasons == lb->n_reasons);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_strndup(data, size);
	static CoreState s, again;
	static Decision last, last_again;
	char err[256] = "";

	int r = state_parse(text, BOOT_ID, &s, &last, err, sizeof(err));
	if (r < 0) {
		fuzz_assert(r == -EBADMSG || r == -ESTALE);
		fuzz_assert(err[0] != '\0');
		return 0;
	}
	fuzz_assert(s.n_holds <= HOLDS_MAX && last.n_reasons <= REASONS_MAX);
	_cleanup_free_ char *saved = state_serialize(&s, &last, BOOT_ID);
	fuzz_assert(saved);
	if (state_parse(saved, BOOT_ID, &again, &last_again, err, sizeof(err)) < 0) {
		fprintf(stderr, "own output rejected (%s): %s\n", err, saved);
		abort();
	}
	check_same(&s, &last, &again, &last_again);
	return 0;
}
