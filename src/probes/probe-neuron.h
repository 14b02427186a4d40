/* Neuron devices: device-side counters from the driver's sysfs tree, and the processes that
 * hold /dev/neuron* open. The daemon never opens a device itself: an open takes one of the
 * driver's 16 process slots and shows up as a user. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "macro.h"
#include "proc-table.h"
#include "sample.h"

#define NEURON_DEVICES_MAX 64
#define NEURON_NAME_MAX    32

typedef struct NeuronDeviceCounters {
	char name[NEURON_NAME_MAX]; /* "neuron0": the sysfs node, and the /dev node's basename */
	unsigned n_cores;
	bool has_exec;      /* execution counters found (inference_count, status/…) */
	bool has_pe;        /* tensor_engine/pe_cntrs found (driver >= 2.23.9) */
	uint64_t exec;      /* sum of the execution counters' totals */
	uint64_t pe_busy;   /* sum of the PE rows' active cycles (all but idle) */
	uint64_t mem_bytes; /* device memory in use, all cores */
} NeuronDeviceCounters;

typedef struct NeuronCounters {
	bool valid;
	size_t n;
	NeuronDeviceCounters dev[NEURON_DEVICES_MAX];
	unsigned driver_version[3]; /* from sys_root/module/neuron/version; 0.0.0 unknown */
} NeuronCounters;

/* Walks root (SysfsRoot=) for neuronN nodes and reads what each holds, wherever the driver
 * generation put it. A missing root is a machine without the driver: valid, no devices.
 * Returns 0 or -errno with err naming the path. */
int neuron_sysfs_read(const char *root, NeuronCounters *ret, char *err, size_t errlen);

/* Sum of the active cycle columns of a pe_cntrs text ("xrow_grp,mm_active,wl_active,idle").
 * Returns 0 or -EBADMSG. */
int pe_cntrs_parse(const char *text, uint64_t *ret_busy);

/* "2.30.2.0" → {2, 30, 2}. Returns 0 or -EBADMSG. */
int neuron_driver_version_parse(const char *text, unsigned ret[3]);

/* Whether a device's counters show execution while a process runs: pe_cntrs, or execution
 * counters on a driver >= 2.30.2 (older drivers fold them in only when the process exits). */
bool neuron_execution_observable(const NeuronDeviceCounters *d, const unsigned version[3]);

const NeuronDeviceCounters *neuron_counters_find(const NeuronCounters *c, const char *name);

/* --- Holders ------------------------------------------------------------------------------ */

/* The device nodes DevicePattern= matches (glob). Returns the count, or -errno. */
int neuron_device_nodes(const char *pattern, char ***ret);

/* Reads /proc/PID/fd of pid and says which of nodes it holds open, as a bit per node
 * (nodes beyond 64 share the last bit). Returns 0 with *ret_mask, -ESRCH when the process is
 * gone (not an error), or another -errno with err naming the path. */
int neuron_fd_scan(const char *proc_root, pid_t pid, char *const *nodes, uint64_t *ret_mask,
                   char *err, size_t errlen);

/* --- Probes ------------------------------------------------------------------------------- */

/* What the neuron-device probe carries from one check to the next. */
typedef struct NeuronTrack {
	char name[NEURON_NAME_MAX];
	usec_t quiet_since; /* in use since then without execution seen */
} NeuronTrack;

typedef struct NeuronBaseline {
	NeuronCounters counters;
	size_t n_track;
	NeuronTrack track[NEURON_DEVICES_MAX];
} NeuronBaseline;

/* neuron-process and ml-process in one pass over the process table, each process asked as every
 * signal asks (proc_match: candidates only, one view per check). Returns 0, or the first -errno
 * of a cmdline that could not be read (the process is then judged on its comm and exe alone). */
int neuron_processes_probe(const char *proc_root, const ProcTable *t, char *const *neuron_patterns,
                           char *const *ml_patterns, MatchedProcs *neuron, MatchedProcs *ml,
                           char *err, size_t errlen);

/* neuron-device: sysfs counters first; /proc/PID/fd only for device nodes whose sysfs shows
 * memory in use or execution, or that have no sysfs node, and only until each has a named
 * holder. t may be NULL when the process scan failed. */
int neuron_devices_probe(const char *proc_root, const Config *c, const ProcTable *t,
                         const NeuronBaseline *prev, NeuronBaseline *next, usec_t now,
                         NeuronDevicesFacts *ret, char *err, size_t errlen);
