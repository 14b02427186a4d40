#pragma once
#include <check.h>

/* Each suite file defines this; check-main.c runs it. */
Suite *make_suite(void);
