/* The Prometheus textfile for node_exporter's textfile collector: what the last check saw. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "textfile.h"

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
