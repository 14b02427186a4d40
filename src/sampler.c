/* Runs every probe for one check and collects facts and errors into one Sample. */
#include <errno.h>
#include <stdio.h>

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

void sampler_prime(Sampler *s, usec_t now)
{
	char err[256];
	if (cpu_counters_read(s->env.proc_root, &s->prev.cpu, err, sizeof(err)) < 0)
		s->prev.cpu.valid = false;
	proc_table_done(&s->prev.procs);
	(void)procs_scan(&s->env, now, &s->prev.procs, err, sizeof(err));
	s->prev.taken = now;
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
} ProbeRun;

typedef int (*ProbeFn)(ProbeRun *run, char *err, size_t errlen);

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
	run->sample->cpu = (CpuFacts){
		.valid = true,
		.busy_percent = cpu_busy_percent(prev, &run->next->cpu),
		.window = run->now - run->sampler->prev.taken,
	};
	return 0;
}

static int probe_memory(ProbeRun *run, char *err, size_t errlen)
{
	return memory_read(run->sampler->env.proc_root, &run->sample->memory, err, errlen);
}

static const struct {
	const char *name;
	ProbeFn fn;
} probes[] = {
	{ "cpu", probe_cpu },
	{ "memory", probe_memory },
};

void sampler_sample(Sampler *s, const Config *c, usec_t now, bool commit, Sample *ret)
{
	Baselines next = { .taken = now };
	*ret = (Sample){ 0 };
	ProbeRun run = { .sampler = s, .config = c, .now = now, .next = &next, .sample = ret };
	char err[256] = "";

	run.procs = procs_scan(&s->env, now, &next.procs, err, sizeof(err));
	if (!run.procs)
		sample_add_error(ret, "processes", "%s", err[0] ? err : "scan failed");
	run.prev_procs = &s->prev.procs;

	for (size_t i = 0; i < ELEMENTSOF(probes); i++) {
		char err[256] = "";
		if (probes[i].fn(&run, err, sizeof(err)) < 0)
			sample_add_error(ret, probes[i].name, "%s", err[0] ? err : "failed");
	}
	if (commit) {
		proc_table_done(&s->prev.procs);
		s->prev = next;
	} else
		proc_table_done(&next.procs);
}
