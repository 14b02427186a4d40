/* The per-check record: TRNIDLED_VERDICT, TRNIDLED_REASON (the main one), TRNIDLED_REASONS,
 * TRNIDLED_SIGNAL (once per reason), TRNIDLED_IDLE_CHECKS, TRNIDLED_IDLE_CHECKS_NEEDED,
 * TRNIDLED_ACTION_DUE, TRNIDLED_CHECK_KIND (kind: "check" for scheduled checks, "recheck" at the
 * end of a warning, "check-now" for trnidlectl check-now). */
#pragma once

#include "core.h"

void log_check(const char *kind, const Decision *d);
