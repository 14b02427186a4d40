/* CloudWatch PutMetricData (Query API): what the companion's alarm and dashboard read. Pure. */
#include <errno.h>
#include <stdio.h>

#include "aws.h"
#include "cloudwatch.h"

static int append(char **b, size_t *len, const char *raw, const char *encoded)
{
	size_t n = strlen(raw);
	char *d = realloc(*b, *len + n + 1);
	if (!d)
		return -ENOMEM;
	memcpy(d + *len, raw, n + 1);
	*b = d;
	*len += n;
	return encoded ? url_encode_append(b, len, encoded) : 0;
}

char *cloudwatch_put_body(const char *namespace, const char *instance_id,
                          const CloudWatchMetric *metrics, size_t n)
{
	char *b = NULL, key[96], value[64];
	size_t len = 0;
	int r = append(&b, &len, "Action=PutMetricData&Version=2010-08-01&Namespace=", namespace);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		size_t k = i + 1;
		snprintf(value, sizeof(value), "%.17g", metrics[i].value);
		snprintf(key, sizeof(key), "&MetricData.member.%zu.MetricName=", k);
		r = append(&b, &len, key, metrics[i].name);
		snprintf(key, sizeof(key), "&MetricData.member.%zu.Value=", k);
		if (r >= 0)
			r = append(&b, &len, key, value);
		snprintf(key, sizeof(key), "&MetricData.member.%zu.Unit=", k);
		if (r >= 0)
			r = append(&b, &len, key, metrics[i].unit);
		snprintf(key, sizeof(key), "&MetricData.member.%zu.Dimensions.member.1.Name=", k);
		if (r >= 0)
			r = append(&b, &len, key, "InstanceId");
		snprintf(key, sizeof(key), "&MetricData.member.%zu.Dimensions.member.1.Value=", k);
		if (r >= 0)
			r = append(&b, &len, key, instance_id);
		if (!metrics[i].signal)
			continue;
		snprintf(key, sizeof(key), "&MetricData.member.%zu.Dimensions.member.2.Name=", k);
		if (r >= 0)
			r = append(&b, &len, key, "Signal");
		snprintf(key, sizeof(key), "&MetricData.member.%zu.Dimensions.member.2.Value=", k);
		if (r >= 0)
			r = append(&b, &len, key, metrics[i].signal);
	}
	if (r < 0) {
		free(b);
		return NULL;
	}
	return b;
}

size_t cloudwatch_check_metrics(const Decision *d, usec_t since_last, usec_t interval,
                                CloudWatchMetric *ret)
{
	double up = (double)MIN(since_last, 2 * interval) / (double)USEC_PER_SEC;
	size_t n = 0;
	ret[n++] = (CloudWatchMetric){ "Active", decision_active(d) ? 1 : 0, "None", NULL };
	ret[n++] = (CloudWatchMetric){ "IdleChecks", d->idle_checks, "Count", NULL };
	ret[n++] = (CloudWatchMetric){ "UpSeconds", up, "Seconds", NULL };
	ret[n++] =
	        (CloudWatchMetric){ "IdleSeconds", decision_active(d) ? 0 : up, "Seconds", NULL };
	if (decision_active(d) && d->n_reasons > 0)
		ret[n++] = (CloudWatchMetric){ "DecidingSignal", 1, "None",
			                       signal_to_string(d->reasons[0].signal) };
	return n;
}
