/* CloudWatch PutMetricData: the figures the companion's alarm and dashboard read (so its alarm
 * can stop the instance on "idle" rather than on raw CPU). Pure, for unit tests. */
#pragma once

#include <stddef.h>

typedef struct CloudWatchMetric {
	const char *name;
	double value;
	const char *unit; /* "Count", "None" */
} CloudWatchMetric;

/* The form body of PutMetricData (Query API, Version 2010-08-01), each metric with the
 * InstanceId dimension. Returns a malloc'd string or NULL on ENOMEM. */
char *cloudwatch_put_body(const char *namespace, const char *instance_id,
                          const CloudWatchMetric *metrics, size_t n);
