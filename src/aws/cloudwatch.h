/* CloudWatch PutMetricData: the figures the companion's alarm and dashboard read (so its alarm
 * can stop the instance on "idle" rather than on raw CPU). Pure, for unit tests. */
#pragma once

#include <stddef.h>

#include "core.h"

typedef struct CloudWatchMetric {
	const char *name;
	double value;
	const char *unit;   /* "Count", "None", "Seconds" */
	const char *signal; /* a second dimension, Signal=this; NULL: InstanceId alone */
} CloudWatchMetric;

#define CLOUDWATCH_CHECK_METRICS_MAX 5

/* The figures of one check for PutMetricData: Active, IdleChecks, UpSeconds (since_last, the
 * time since the previous check, at most 2 x interval: a suspend or a stopped daemon is not
 * "up"), IdleSeconds (the same when the verdict is idle, else 0) and, when the machine counts
 * as in use for a reason, DecidingSignal (1, Signal=the first reason's signal). Fills ret (at
 * least CLOUDWATCH_CHECK_METRICS_MAX) and returns how many. */
size_t cloudwatch_check_metrics(const Decision *d, usec_t since_last, usec_t interval,
                                CloudWatchMetric *ret);

/* The form body of PutMetricData (Query API, Version 2010-08-01), each metric with the
 * InstanceId dimension (and Signal when it has one). Returns a malloc'd string or NULL on ENOMEM. */
char *cloudwatch_put_body(const char *namespace, const char *instance_id,
                          const CloudWatchMetric *metrics, size_t n);
