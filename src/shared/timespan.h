#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* Parses a systemd-style time span: "90", "90s", "5min", "2h", "1h 30min", "1.5h".
 * A plain number means seconds. Units: us, ms, s/sec, m/min, h/hr, d/day, w/week.
 * Returns 0, -EINVAL on syntax errors, -ERANGE at 2^53 us (about 285 years) and above. */
int timespan_parse(const char *s, usec_t *ret);

/* Formats like systemd: "1h 30min", "90ms", "0". Returns buf. */
char *timespan_format(char *buf, size_t size, usec_t t);
