/* The verdict JSON shared by CheckNow, Status and --once --json:
 * {"verdict", "reasons": [{"signal", "detail"}], "idle_checks", "idle_checks_needed",
 *  "signals": {facts per signal}} */
#pragma once

#include <json-c/json.h>

#include "core.h"
#include "sample.h"

json_object *verdict_to_json(const Decision *d, const Sample *s);
json_object *sample_signals_to_json(const Sample *s);

/* Human text for a decision: the summary line, then one line per reason. */
char *verdict_to_text(const Decision *d);
