/* Shared by every fuzz target: libFuzzer's entry point and a NUL-terminated copy of the input,
 * since the parsers under test read C strings (as they do from /proc, files and sockets). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs above this are cut: every parser here reads bounded buffers (a 64 KiB message, a
 * 256 KiB state file), and huge inputs only slow the fuzzer down. */
#define FUZZ_INPUT_MAX (256 * 1024)

static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	if (size > FUZZ_INPUT_MAX)
		size = FUZZ_INPUT_MAX;
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Two readings in one input, separated by the first NUL byte (the second is empty without
 * one); both malloc'd and NUL-terminated. */
static inline void fuzz_split2(const uint8_t *data, size_t size, char **ret_a, char **ret_b)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t first = nul ? (size_t)(nul - data) : size;
	*ret_a = fuzz_strndup(data, first);
	*ret_b = nul ? fuzz_strndup(nul + 1, size - first - 1) : fuzz_strndup(data, 0);
}

/* A property the parser must keep failed: crash loudly so that libFuzzer saves the input. */
#define fuzz_assert(expr)                                                                          \
	do {                                                                                       \
		if (!(expr)) {                                                                     \
			fprintf(stderr, "%s:%d: fuzz property failed: %s\n", __FILE__, __LINE__,   \
			        #expr);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)
