#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "test-util.h"

char test_tmpdir[256];

void test_tmpdir_setup(void)
{
	snprintf(test_tmpdir, sizeof(test_tmpdir), "/tmp/trnidled-unit-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(test_tmpdir));
}

void test_tmpdir_teardown(void)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", test_tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

void test_write_file(const char *rel, const char *text, size_t len)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", test_tmpdir, rel);
	FILE *f = fopen(path, "we");
	ck_assert_msg(f != NULL, "cannot create %s", path);
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

Decision test_decide_once(const Sample *s, const Config *c)
{
	CoreState st;
	Decision d;
	core_state_init(&st);
	core_decide(s, c, &st, 1000 * USEC_PER_SEC, DECIDE_ONCE, &st, &d);
	return d;
}
