/* Probes read the system and return facts plus an error, never a verdict. Every path a test
 * must redirect is a parameter. The sampler runs all probes for one check. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "probe-inhibitor.h"
#include "probe-io.h"
#include "probe-neuron.h"
#include "probe-sessions.h"
#include "proc-table.h"
#include "sample.h"

/* Where the probes look. Tests point these at fixture trees. */
typedef struct ProbeEnv {
	const char *proc_root;      /* "/proc" */
	const char *dev_root;       /* "/dev" */
	const char *sys_root;       /* "/sys"; NULL means "/sys" */
	const char *cloud_init_dir; /* "/run/cloud-init"; NULL means that */
	const char *package_root;   /* prefix of dpkg's and apt's lock files; NULL means "" (/) */
	/* The daemon's: the last answer of logind. NULL: asked with a blocking call. */
	InhibitorWatch *inhibitors;
} ProbeEnv;

/* --- CPU: /proc/stat --------------------------------------------------------------------- */

typedef struct CpuCounters {
	bool valid;
	uint64_t busy; /* jiffies not idle or iowait, all CPUs */
	uint64_t total;
} CpuCounters;

/* Parses the text of /proc/stat. Returns 0 or -EBADMSG. */
int cpu_counters_parse(const char *text, CpuCounters *ret);
int cpu_counters_read(const char *proc_root, CpuCounters *ret, char *err, size_t errlen);
/* Busy share between two readings, 0..100, in *ret. Returns 0, -EINVAL for a missing reading,
 * -EAGAIN when the total stood still and -ERANGE when a counter went back: a probe error, never
 * a share (the seed's 0 % read as idle). */
int cpu_busy_percent(const CpuCounters *prev, const CpuCounters *now, double *ret);

/* user-process: the busiest processes of login users (uid >= USER_UID_MIN, not nobody, not a
 * DynamicUser= uid) over the interval between prev and now (an empty prev: no facts), from
 * the check's process table. Cannot fail. */
void user_procs_probe(const ProcTable *now, const ProcTable *prev, unsigned long ticks_per_sec,
                      UserProcFacts *ret);

/* --- Memory: /proc/meminfo ---------------------------------------------------------------- */

/* Parses the text of /proc/meminfo. Returns 0 or -EBADMSG when MemTotal or MemAvailable is
 * missing or MemTotal is 0. */
int meminfo_parse(const char *text, MemoryFacts *ret);
int memory_read(const char *proc_root, MemoryFacts *ret, char *err, size_t errlen);

/* --- Sampler ------------------------------------------------------------------------------ */

/* What the probes remember between checks (counter baselines). */
typedef struct Baselines {
	CpuCounters cpu;
	ProcTable procs; /* empty when the scan failed; per-process CPU compares with it */
	IoCounters net;
	IoCounters disk;
	NeuronBaseline neuron;
	bool inhibitor_said_absent; /* "no logind" was logged once already */
	ConnectionCounters connections;
	usec_t taken; /* CLOCK_BOOTTIME of the reading */
} Baselines;

typedef struct Sampler {
	ProbeEnv env;
	Baselines prev;
} Sampler;

void sampler_init(Sampler *s, const ProbeEnv *env);
void sampler_done(Sampler *s);

/* cloud-init: whether its setup of this boot is under way (status.json without result.json in
 * run_dir). A missing run_dir is no cloud-init this boot; anything else unreadable is an error. */
int cloud_init_probe(const char *run_dir, CloudInitFacts *ret, char *err, size_t errlen);

/* package-manager: the first of dpkg's and apt's locks under root ("" for /) that a process
 * holds, with its holder from procs (may be NULL). Missing lock files are not held; one that
 * cannot be opened or asked is an error. */
int package_locks_probe(const char *root, const ProcTable *procs, unsigned long ticks_per_sec,
                        PackageLockFacts *ret, char *err, size_t errlen);

/* Reads the baselines without producing a sample (start-up, and --once's first reading). */
void sampler_prime(Sampler *s, const Config *c, usec_t now);

/* Runs every probe. With commit the new counters become the baselines for the next check;
 * without (CheckNow) the next scheduled check still averages over its whole interval. */
void sampler_sample(Sampler *s, const Config *c, usec_t now, bool commit, Sample *ret);

/* Parses one unsigned decimal at *p (after spaces and tabs) for /proc-style text: no sign, no
 * overflow, and white space or the end of the text right after it. Advances *p past it.
 * Returns 0 or -EBADMSG. */
int proc_parse_u64(const char **p, uint64_t *ret);

/* The number of a "NAME: 123" or "NAME: 123 kB" line of /proc-style text (meminfo,
 * /proc/PID/io). Returns 0 or -EBADMSG when the line is missing or malformed. */
int proc_field_u64(const char *text, const char *name, uint64_t *ret);
