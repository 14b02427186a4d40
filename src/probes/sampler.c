/* Runs every probe for one check and collects facts and errors into one Sample. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <time.h>

#include "probe-inhibitor.h"
#include "probe-sessions.h"
#include "probe.h"

void sampler_init(Sampler *s, const ProbeEnv *env)
{
	*s = (Sampler){ .env = *env };
}

void sampler_done(Sampler *s)
{
	proc_table_done(&s->prev.procs);
}

/* The one /proc scan of a check; NULL (and the error in err) when it failed. */
static const ProcTable *procs_scan(const ProbeEnv *env, usec_t now, ProcTable *t, char *err,
                                   size_t errlen)
{
	if (proc_table_scan(env->proc_root, t, err, errlen) < 0)
		return NULL;
	t->taken = now;
	return t;
}

typedef struct ProbeRun {
	Sampler *sampler;
	const Config *config;
	usec_t now;
	Baselines *next; /* baselines this check read */
	Sample *sample;
	/* This check's process table, shared by every probe that looks at processes; NULL when
	 * the scan failed (already a probe-error). prev_procs is the previous check's, for
	 * per-process CPU; it may be empty. */
	const ProcTable *procs;
	const ProcTable *prev_procs;
	/* Priming reads baselines only: probes without counters skip their work. */
	bool priming;
} ProbeRun;

typedef int (*ProbeFn)(ProbeRun *run, char *err, size_t errlen);

/* The /proc/stat total grows by 100 ticks a second per CPU (USER_HZ), in steps of the kernel's
 * tick: over a quarter of a second even one CPU's has moved, or the counters are broken. */
#define CPU_STILL_MIN_USEC (250 * USEC_PER_MSEC)

static int probe_cpu(ProbeRun *run, char *err, size_t errlen)
{
	int r = cpu_counters_read(run->sampler->env.proc_root, &run->next->cpu, err, errlen);
	if (r < 0)
		return r;
	const CpuCounters *prev = &run->sampler->prev.cpu;
	if (!prev->valid) {
		/* No baseline yet (the previous read failed): nothing to average over. */
		snprintf(err, errlen, "no earlier reading of /proc/stat to compare with");
		return -EAGAIN;
	}
	const CpuCounters *now = &run->next->cpu;
	usec_t window = run->now - run->sampler->prev.taken;
	double busy;
	r = cpu_busy_percent(prev, now, &busy);
	if (r == -EAGAIN && window < CPU_STILL_MIN_USEC)
		return 0; /* too short to measure (a CheckNow just after start): no share, no error */
	if (r < 0) {
		snprintf(err, errlen,
		         "%s/stat: CPU time %s between two checks (total %" PRIu64 " then %" PRIu64
		         " ticks, busy %" PRIu64 " then %" PRIu64 ")",
		         run->sampler->env.proc_root, r == -EAGAIN ? "stood still" : "went back",
		         prev->total, now->total, prev->busy, now->busy);
		return r;
	}
	run->sample->cpu = (CpuFacts){
		.valid = true,
		.busy_percent = busy,
		.window = window,
	};
	return 0;
}

static int probe_memory(ProbeRun *run, char *err, size_t errlen)
{
	return memory_read(run->sampler->env.proc_root, &run->sample->memory, err, errlen);
}

static const char *sys_root(const ProbeRun *run)
{
	return run->sampler->env.sys_root ? run->sampler->env.sys_root : "/sys";
}

static int probe_rate(ProbeRun *run, const char *file, const IoCounters *prev,
                      const IoCounters *now, RateFacts *ret, char *err, size_t errlen)
{
	usec_t window = run->now - run->sampler->prev.taken;
	if (run->priming || !prev->valid)
		return 0; /* no baseline yet: nothing to average over, and nothing failed */
	uint64_t before;
	const IoCounter *back = io_went_back(prev, now, &before);
	if (back) {
		snprintf(err, errlen, "%s/%s: %s byte count went back from %" PRIu64 " to %" PRIu64,
		         run->sampler->env.proc_root, file, back->name, before, back->bytes);
		return -ERANGE;
	}
	*ret = (RateFacts){ .valid = true, .window = window };
	ret->kbps = io_rate(prev, now, window, ret->busiest, sizeof(ret->busiest)) / 1024.0;
	return 0;
}

static int probe_network(ProbeRun *run, char *err, size_t errlen)
{
	if (run->config->network_kbps <= 0)
		return 0; /* the signal is off: read nothing */
	int r = netdev_read(run->sampler->env.proc_root, sys_root(run), &run->next->net, err,
	                    errlen);
	if (r < 0)
		return r;
	return probe_rate(run, "1/net/dev", &run->sampler->prev.net, &run->next->net,
	                  &run->sample->network, err, errlen);
}

static int probe_disk(ProbeRun *run, char *err, size_t errlen)
{
	if (run->config->disk_kbps <= 0)
		return 0; /* the signal is off: read nothing */
	int r = diskstats_read(run->sampler->env.proc_root, sys_root(run), &run->next->disk, err,
	                       errlen);
	if (r < 0)
		return r;
	return probe_rate(run, "diskstats", &run->sampler->prev.disk, &run->next->disk,
	                  &run->sample->disk, err, errlen);
}

static int probe_neuron_process(ProbeRun *run, char *err, size_t errlen)
{
	if (run->priming || !run->procs)
		return 0; /* a failed scan is already a "processes" probe-error */
	return neuron_processes_probe(run->sampler->env.proc_root, run->procs,
	                              run->config->neuron_processes, run->config->ml_processes,
	                              &run->sample->neuron_procs, &run->sample->ml_procs, err,
	                              errlen);
}

static int probe_neuron_device(ProbeRun *run, char *err, size_t errlen)
{
	return neuron_devices_probe(run->sampler->env.proc_root, run->config, run->procs,
	                            &run->sampler->prev.neuron, &run->next->neuron, run->now,
	                            &run->sample->neuron_devices, err, errlen);
}

static int probe_inhibitor(ProbeRun *run, char *err, size_t errlen)
{
	run->next->inhibitor_said_absent = run->sampler->prev.inhibitor_said_absent;
	if (run->priming)
		return 0;
	InhibitorWatch *w = run->sampler->env.inhibitors;
	if (w)
		return inhibitor_watch_probe(
		        w, run->now, run->config->interval + LOGIND_TIMEOUT_USEC,
		        &run->next->inhibitor_said_absent, &run->sample->inhibitor, err, errlen);
	return inhibitor_probe(&run->next->inhibitor_said_absent, &run->sample->inhibitor, err,
	                       errlen);
}

static unsigned long ticks_per_sec(void)
{
	long hz = sysconf(_SC_CLK_TCK);
	return hz > 0 ? (unsigned long)hz : 100;
}

static int probe_sessions(ProbeRun *run, char *err, size_t errlen)
{
	if (!run->procs)
		return 0; /* the failed scan is already a probe-error */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	SessionsInput in = {
		.procs = run->procs,
		.prev = run->prev_procs,
		.proc_root = run->sampler->env.proc_root,
		.dev_root = run->sampler->env.dev_root,
		.realtime = (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000,
		.ticks_per_sec = ticks_per_sec(),
		.config = run->config,
		.prev_counters = &run->sampler->prev.connections,
		.next_counters = &run->next->connections,
		.now = run->now,
	};
	return sessions_probe(&in, &run->sample->sessions, err, errlen);
}

static int probe_user_process(ProbeRun *run, char *err, size_t errlen)
{
	if (run->priming || !run->procs || run->config->user_busy_percent <= 0)
		return 0; /* the failed scan is already a probe-error; or the signal is off */
	user_procs_probe(run->procs, run->prev_procs, ticks_per_sec(), &run->sample->user_procs);
	return 0;
}

static int probe_cloud_init(ProbeRun *run, char *err, size_t errlen)
{
	if (run->priming || run->config->cloud_init_max == 0)
		return 0; /* the signal is off: read nothing */
	const char *dir = run->sampler->env.cloud_init_dir;
	return cloud_init_probe(dir ? dir : "/run/cloud-init", &run->sample->cloud_init, err,
	                        errlen);
}

static int probe_package_manager(ProbeRun *run, char *err, size_t errlen)
{
	if (run->priming || run->config->package_manager_max == 0)
		return 0; /* the signal is off: read nothing */
	const char *root = run->sampler->env.package_root;
	return package_locks_probe(root ? root : "", run->procs, ticks_per_sec(),
	                           &run->sample->package_lock, err, errlen);
}

static const struct {
	const char *name;
	ProbeFn fn;
} probes[] = {
	{ "cpu", probe_cpu },
	{ "memory", probe_memory },
	{ "neuron-process", probe_neuron_process },
	{ "neuron-device", probe_neuron_device },
	{ "network", probe_network },
	{ "disk", probe_disk },
	{ "inhibitor", probe_inhibitor },
	{ "sessions", probe_sessions },
	{ "user-process", probe_user_process },
	{ "cloud-init", probe_cloud_init },
	{ "package-manager", probe_package_manager },
};

/* A process's owner is read only when a probe asks (proc_table_owner()); one that could not be
 * read, the process still there, left a probe without a fact it wanted: that is not idle. */
static void owners_failed(const ProcTable *t, Sample *ret)
{
	pid_t first = 0;
	size_t n = proc_table_owners_failed(t, &first);
	if (n > 0)
		sample_add_error(ret, "processes",
		                 "cannot read the owner of %zu process(es), first %s/%d", n,
		                 t->proc_root, (int)first);
}

static void sampler_run(Sampler *s, const Config *c, usec_t now, bool commit, bool priming,
                        Sample *ret)
{
	Baselines next = { .taken = now };
	*ret = (Sample){ 0 };
	ProbeRun run = { .sampler = s,
		         .config = c,
		         .now = now,
		         .next = &next,
		         .sample = ret,
		         .priming = priming };
	char err[256] = "";

	run.procs = procs_scan(&s->env, now, &next.procs, err, sizeof(err));
	if (!run.procs)
		sample_add_error(ret, "processes", "%s", err[0] ? err : "scan failed");
	else if (proc_table_carry(&next.procs, &s->prev.procs, err, sizeof(err)) < 0)
		sample_add_error(ret, "processes", "%s", err);
	run.prev_procs = &s->prev.procs;

	for (size_t i = 0; i < ELEMENTSOF(probes); i++) {
		char err[256] = "";
		if (probes[i].fn(&run, err, sizeof(err)) < 0)
			sample_add_error(ret, probes[i].name, "%s", err[0] ? err : "failed");
	}
	if (run.procs)
		owners_failed(run.procs, ret);
	if (commit) {
		proc_table_done(&s->prev.procs);
		s->prev = next;
	} else
		proc_table_done(&next.procs);
}

void sampler_sample(Sampler *s, const Config *c, usec_t now, bool commit, Sample *ret)
{
	sampler_run(s, c, now, commit, false, ret);
}

void sampler_prime(Sampler *s, const Config *c, usec_t now)
{
	/* Every probe with counters reads them exactly as a check does, so the first check
	 * compares like with like; what priming finds is not judged. */
	Sample *scratch = malloc(sizeof(Sample));
	if (!scratch)
		return;
	sampler_run(s, c, now, true, true, scratch);
	free(scratch);
}
