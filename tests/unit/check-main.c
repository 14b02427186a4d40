/* Shared main() for the Check suites: runs the suite, prints the one RESULT line that
 * scripts/test adds up, and exits non-zero on any failure. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "check-main.h"

int main(void)
{
	SRunner *sr = srunner_create(make_suite());
	srunner_run_all(sr, CK_ENV);
	int run = srunner_ntests_run(sr);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	printf("RESULT passed=%d failed=%d skipped=0\n", run - failed, failed);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
