#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "aws.h"
#include "metrics.h"

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

bool decision_active(const Decision *d)
{
	return d->verdict != VERDICT_IDLE;
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

static void gauge(FILE *f, const char *name, const char *help, double value)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name, value);
}

void metrics_write_prometheus(FILE *f, const Decision *d, const Sample *s, bool spot_pending)
{
	gauge(f, "trnidled_active", "1 when the last check found the machine in use, 0 when idle.",
	      decision_active(d) ? 1 : 0);
	gauge(f, "trnidled_idle_checks", "Consecutive idle checks so far.", d->idle_checks);
	gauge(f, "trnidled_idle_checks_needed", "Idle checks in a row that start the action.",
	      d->idle_checks_needed);
	gauge(f, "trnidled_spot_interruption_pending",
	      "1 while EC2 has announced a spot interruption for this instance.",
	      spot_pending ? 1 : 0);
	if (s->cpu.valid)
		gauge(f, "trnidled_cpu_busy_percent", "CPU busy share over the last interval.",
		      s->cpu.busy_percent);
	if (s->memory.valid)
		gauge(f, "trnidled_memory_used_percent", "Memory in use, MemTotal - MemAvailable.",
		      s->memory.used_percent);
	fprintf(f, "# HELP trnidled_signal_active 1 for each signal that kept the machine active "
	           "in the last check.\n# TYPE trnidled_signal_active gauge\n");
	for (int i = 0; i < _SIGNAL_MAX; i++) {
		bool on = false;
		for (size_t k = 0; k < d->n_reasons; k++)
			on = on || d->reasons[k].signal == (Signal)i;
		fprintf(f, "trnidled_signal_active{signal=\"%s\"} %d\n",
		        signal_to_string((Signal)i), on ? 1 : 0);
	}
}

int metrics_write_textfile(const char *path, const Decision *d, const Sample *s, bool spot_pending)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		int e = -errno;
		close(fd);
		unlink(tmp);
		return e;
	}
	metrics_write_prometheus(f, d, s, spot_pending);
	int r = 0;
	if (fflush(f) != 0 || fchmod(fd, 0644) < 0)
		r = -errno;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}
