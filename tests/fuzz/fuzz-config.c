/* The configuration parser on whole configurations: the input is the main file and its
 * drop-ins separated by NUL bytes (a real file cannot hold one, config_load rejects it), parsed
 * in order as config_load does. Property: what --check-config prints (config_dump) parses
 * again without errors and prints the same, so the dump is a valid configuration. */
#include "config.h"
#include "fuzz.h"

static char *dump(const Config *c)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	if (!f)
		abort();
	config_dump(c, f);
	fclose(f);
	return buf;
}

static void check_dump_parses(const Config *c)
{
	Config again;
	ConfigDiag diag = { 0 };
	_cleanup_free_ char *text = dump(c), *text_again = NULL;

	fuzz_assert(config_init_defaults(&again) == 0);
	if (config_parse_text(&again, "dump", text, &diag) != 0) {
		fprintf(stderr, "the dump does not parse: %s\n%s", diag.errors[0], text);
		abort();
	}
	text_again = dump(&again);
	fuzz_assert(streq(text, text_again));
	config_free(&again);
	config_diag_clear(&diag);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Config c;
	ConfigDiag diag = { 0 };
	int errors = 0;

	fuzz_assert(config_init_defaults(&c) == 0);
	for (size_t off = 0, i = 0; off <= size; i++) {
		const uint8_t *nul = memchr(data + off, '\0', size - off);
		size_t len = nul ? (size_t)(nul - data) - off : size - off;
		_cleanup_free_ char *text = fuzz_strndup(data + off, len);
		char name[64];
		if (i == 0)
			snprintf(name, sizeof(name), "/etc/trnidled.conf");
		else
			snprintf(name, sizeof(name), "/etc/trnidled.conf.d/%02zu.conf", i);
		int r = config_parse_text(&c, name, text, &diag);
		fuzz_assert(r >= 0);
		errors += r;
		off += len + 1;
	}
	/* Every error is reported, and each names its file and line. */
	fuzz_assert((size_t)errors == strv_length(diag.errors));
	for (char **e = diag.errors; e && *e; e++)
		fuzz_assert(startswith(*e, "/etc/trnidled.conf"));
	check_dump_parses(&c);
	config_free(&c);
	config_diag_clear(&diag);
	return 0;
}
