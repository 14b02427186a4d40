/* The Prometheus textfile for node_exporter's textfile collector. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "core.h"
#include "sample.h"

/* The figures in Prometheus text exposition format. */
void metrics_write_prometheus(FILE *f, const Decision *d, const Sample *s, bool spot_pending);

/* Writes the Prometheus text to path atomically (temporary file in the same directory,
 * rename), so the collector never reads half a file. Returns 0 or -errno. */
int metrics_write_textfile(const char *path, const Decision *d, const Sample *s, bool spot_pending);
