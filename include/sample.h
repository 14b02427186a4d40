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
	usec_t window;	     /* length of that window */
} CpuFacts;

typedef struct MemoryFacts {
	bool valid;
	uint64_t total_kib;
	uint64_t available_kib;
	double used_percent; /* (MemTotal - MemAvailable) / MemTotal */
} MemoryFacts;

#define PROBE_ERRORS_MAX 16

/* A probe that could not read what it needs. Counts as activity (fail-safe). */
typedef struct ProbeError {
	char probe[32];
	char message[224]; /* names the path and the errno text */
} ProbeError;

typedef struct Sample {
	CpuFacts cpu;
	MemoryFacts memory;

	ProbeError errors[PROBE_ERRORS_MAX];
	size_t n_errors;
	size_t n_errors_dropped; /* errors beyond PROBE_ERRORS_MAX */
} Sample;

void sample_add_error(Sample *s, const char *probe, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
