/* CPU time of one full sample (every probe, as a check runs them) beside the floor any
 * process-scanning daemon pays: readdir(/proc) plus one read of each /proc/PID/stat. Both are
 * measured in the same run, alternating, so that the machine's load hits them alike. Prints
 * medians in milliseconds of process CPU time (user + system). Not a test: bench/run prints
 * it with the machine's process count and with 5,000 extra sleepers. With --paced MS COUNT it
 * instead scans the floor once every MS milliseconds, COUNT times, and prints the CPU time per
 * scan as the daemon's is measured (schedstat, wake-ups included). */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "probe.h"

static double cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static usec_t boottime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000;
}

/* The floor: what reading each process's stat line costs, with nothing else. */
static size_t floor_scan(void)
{
	DIR *d = opendir("/proc");
	if (!d)
		return 0;
	size_t n = 0;
	struct dirent *de;
	char path[300], buf[1024];
	while ((de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (read(fd, buf, sizeof(buf)) > 0)
			n++;
		close(fd);
	}
	closedir(d);
	return n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Time on a CPU of this process so far (ns), as the kernel counts it for the daemon. */
static unsigned long long schedstat_ns(void)
{
	unsigned long long ns = 0;
	FILE *f = fopen("/proc/self/schedstat", "re");
	if (f) {
		if (fscanf(f, "%llu", &ns) != 1)
			ns = 0;
		fclose(f);
	}
	return ns;
}

/* The floor as the daemon pays it: one scan every interval, waking from a timer each time,
 * measured like the daemon (schedstat over all of it, wake-ups included). */
static int paced_floor(long interval_ms, int count)
{
	struct timespec pause = { .tv_sec = interval_ms / 1000,
		                  .tv_nsec = (interval_ms % 1000) * 1000000L };
	unsigned long long t0 = schedstat_ns();
	size_t procs = 0;
	for (int i = 0; i < count; i++) {
		nanosleep(&pause, NULL);
		procs = floor_scan();
	}
	double ms = (double)(schedstat_ns() - t0) / 1e6 / count;
	printf("processes=%zu paced_scans=%d interval_ms=%ld paced_floor_ms=%.3f\n", procs, count,
	       interval_ms, ms);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--paced") == 0)
		return paced_floor(atol(argv[2]), atoi(argv[3]));
	int runs = argc > 1 ? atoi(argv[1]) : 15;
	if (runs < 1 || runs > 1000) {
		fprintf(stderr, "usage: bench-sample [RUNS (1-1000)]\n");
		return 2;
	}
	Config c;
	if (config_init_defaults(&c) < 0)
		return 1;
	ProbeEnv env = { .proc_root = "/proc", .dev_root = "/dev", .sys_root = "/sys" };
	Sampler s;
	Sample *sample = malloc(sizeof(Sample));
	double *t_floor = calloc((size_t)runs, sizeof(double));
	double *t_sample = calloc((size_t)runs, sizeof(double));
	if (!sample || !t_floor || !t_sample)
		return 1;
	sampler_init(&s, &env);
	sampler_prime(&s, &c, boottime());

	size_t procs = 0;
	for (int i = 0; i < runs; i++) {
		double t0 = cpu_ms();
		procs = floor_scan();
		double t1 = cpu_ms();
		sampler_sample(&s, &c, boottime(), true, sample);
		double t2 = cpu_ms();
		t_floor[i] = t1 - t0;
		t_sample[i] = t2 - t1;
	}
	qsort(t_floor, (size_t)runs, sizeof(double), cmp_double);
	qsort(t_sample, (size_t)runs, sizeof(double), cmp_double);
	double f = t_floor[runs / 2], x = t_sample[runs / 2];
	printf("processes=%zu runs=%d floor_ms=%.2f sample_ms=%.2f ratio=%.2f probe_errors=%zu\n",
	       procs, runs, f, x, f > 0 ? x / f : 0.0, sample->n_errors);
	for (size_t i = 0; i < sample->n_errors; i++)
		printf("  probe-error %s: %s\n", sample->errors[i].probe,
		       sample->errors[i].message);
	sampler_done(&s);
	free(sample);
	free(t_floor);
	free(t_sample);
	config_free(&c);
	return 0;
}
