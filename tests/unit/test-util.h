/* Helpers the Check suites share: a scratch directory per test and files in it. */
#pragma once

#include <stddef.h>

#include "core.h"

/* The current test's scratch directory under /tmp (set by test_tmpdir_setup). */
extern char test_tmpdir[256];

/* For tcase_add_checked_fixture(): creates, and removes with everything in it. */
void test_tmpdir_setup(void);
void test_tmpdir_teardown(void);

/* Writes len bytes of text to test_tmpdir/rel (creating or replacing it). */
void test_write_file(const char *rel, const char *text, size_t len);

/* The core's verdict on a sample alone (DECIDE_ONCE: no grace, holds or streak). */
Decision test_decide_once(const Sample *s, const Config *c);
