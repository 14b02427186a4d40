/* A sample: the facts every probe read in one check. Probes fill it; they never judge.
 * The decision core (core.c) turns it into a verdict. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

/* The fixed vocabulary of signal names, as they appear in the verdict JSON and the journal. */
typedef enum Signal {
	SIGNAL_CPU,
	SIGNAL_MEMORY,
	SIGNAL_SSH,
	SIGNAL_TERMINAL,
	SIGNAL_SSM,
	SIGNAL_MULTIPLEXER,
	SIGNAL_NEURON_PROCESS,
	SIGNAL_NEURON_DEVICE,
	SIGNAL_ML_PROCESS,
	SIGNAL_INHIBITOR,
	SIGNAL_HOLD,
	SIGNAL_PROBE_ERROR,
	SIGNAL_NETWORK,
	SIGNAL_DISK,
	SIGNAL_JUPYTER,
	SIGNAL_SPOT_INTERRUPTION,
	_SIGNAL_MAX,
} Signal;

const char *signal_to_string(Signal s);
int signal_from_string(const char *name, Signal *ret);

typedef struct CpuFacts {
	bool valid;
	double busy_percent; /* all CPUs, over the window since the previous sample */
	usec_t window;       /* length of that window */
} CpuFacts;

typedef struct MemoryFacts {
	bool valid;
	uint64_t total_kib;
	uint64_t available_kib;
	double used_percent; /* (MemTotal - MemAvailable) / MemTotal */
} MemoryFacts;

/* A process named in a signal's detail. */
typedef struct ProcRef {
	pid_t pid;
	uid_t uid;
	char comm[16];
	char match[48];    /* the pattern it matched */
	char cmdline[112]; /* arguments joined with spaces, cut */
} ProcRef;

#define MATCHED_PROCS_MAX 6

/* neuron-process and ml-process: processes matching [Neuron] Processes= / [Processes] Active=. */
typedef struct MatchedProcs {
	bool valid;
	size_t n; /* all that matched; the first MATCHED_PROCS_MAX are in procs */
	ProcRef procs[MATCHED_PROCS_MAX];
} MatchedProcs;

#define NEURON_HOLDERS_MAX      3
#define NEURON_DEVICE_FACTS_MAX 16

typedef struct NeuronDeviceFacts {
	char name[32];        /* "neuron0" */
	char node[96];        /* the /dev node DevicePattern= matched, "" when none */
	bool sysfs;           /* the driver's sysfs node was found */
	bool observable;      /* counters show execution while a process runs */
	bool executed;        /* counters moved since the previous check */
	bool holders_scanned; /* /proc/PID/fd was walked for this device */
	uint64_t mem_bytes;   /* device memory in use */
	usec_t quiet_for;     /* held (or memory in use) without execution seen for this long */
	size_t n_holders;     /* holders other than monitoring tools */
	ProcRef holders[NEURON_HOLDERS_MAX];
	size_t n_monitors; /* neuron-monitor/-ls/-top holders, ignored */
} NeuronDeviceFacts;

typedef struct NeuronDevicesFacts {
	bool valid;
	char driver_version[24]; /* "" unknown */
	size_t n;
	size_t n_dropped;
	NeuronDeviceFacts dev[NEURON_DEVICE_FACTS_MAX];
} NeuronDevicesFacts;

/* network, disk: bytes per second over the interval since the previous check. */
typedef struct RateFacts {
	bool valid;
	double kbps; /* KiB/s */
	usec_t window;
	char busiest[32]; /* the device that moved most */
} RateFacts;

#define INHIBITORS_MAX 12

typedef struct InhibitorEntry {
	char what[64]; /* "idle:sleep:shutdown" */
	char who[64];
	char why[96];
	char mode[16]; /* "block" or "delay" */
	uint32_t uid;
	uint32_t pid;
} InhibitorEntry;

/* inhibitor: logind's ListInhibitors. */
typedef struct InhibitorFacts {
	bool valid;
	bool available;   /* logind answered; false: no logind here, the signal is off */
	bool say_absent;  /* first check to find logind missing: the daemon logs it once */
	char absent[128]; /* why logind counts as absent */
	size_t n;
	size_t n_dropped;
	InhibitorEntry list[INHIBITORS_MAX];
} InhibitorFacts;

#define PROBE_ERRORS_MAX 16

/* A probe that could not read what it needs. Counts as activity (fail-safe). */
typedef struct ProbeError {
	char probe[32];
	char message[224]; /* names the path and the errno text */
} ProbeError;

typedef struct Sample {
	CpuFacts cpu;
	MemoryFacts memory;
	MatchedProcs neuron_procs;
	MatchedProcs ml_procs;
	NeuronDevicesFacts neuron_devices;
	RateFacts network;
	RateFacts disk;
	InhibitorFacts inhibitor;

	ProbeError errors[PROBE_ERRORS_MAX];
	size_t n_errors;
	size_t n_errors_dropped; /* errors beyond PROBE_ERRORS_MAX */
} Sample;

void sample_add_error(Sample *s, const char *probe, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
