/* The verdict JSON shared by CheckNow, Status and --once --json:
 * {"verdict", "reasons": [{"signal", "detail"}], "not_counting": [the same], "idle_checks",
 *  "idle_checks_needed",
 *  "signals": {facts per signal}} */
#pragma once

#include <stdio.h>

#include <json-c/json.h>

#include "core.h"
#include "sample.h"

json_object *verdict_to_json(const Decision *d, const Sample *s);
json_object *sample_signals_to_json(const Sample *s);

/* Human text for a decision: the summary line, then one line per reason. */
char *verdict_to_text(const Decision *d);

/* "not counting:" and one line per session seen that does not count, if any. */
void not_counting_text(FILE *f, const Decision *d);
