/* Which processes are Neuron toolchain or ML work, judged from what /proc shows of them.
 * Pure functions: the probes (and the multiplexer signal) pass in what they read. */
#pragma once

#include <stdbool.h>

/* Matches a process against shell-style patterns ([Neuron] Processes=, [Processes] Active=).
 * A pattern matches the program (comm, basename of exe or argv[0]) or, when the program is an
 * interpreter (python*, sh, bash, perl, node, env …), the script it runs: `python3 -u
 * /opt/bin/neuronx-cc compile` matches "neuronx-cc", `grep neuronx-cc notes.txt` does not.
 * A pattern with a '/' is compared with the whole path instead of its basename.
 * comm may be truncated to 15 characters by the kernel; argv may be NULL (kernel threads,
 * unreadable cmdline) and exe NULL (unreadable link). */
bool process_match(const char *comm, char *const *argv, const char *exe, char *const *patterns);

/* The two lists under their own names, so callers say which question they ask. */
bool neuron_process_match(const char *comm, char *const *argv, const char *exe,
                          char *const *patterns);
bool ml_process_match(const char *comm, char *const *argv, const char *exe, char *const *patterns);

/* Monitoring tools that hold a Neuron device without doing work on it. */
bool neuron_monitor_tool(const char *comm, char *const *argv);

/* The pattern that matched, for details ("neuronx-cc"); NULL when none did. */
const char *process_match_pattern(const char *comm, char *const *argv, const char *exe,
                                  char *const *patterns);

/* Whether comm alone leaves the question open, so the caller should read the command line:
 * comm matches a pattern, names an interpreter (a shell only when a pattern names a .sh script
 * or ends in '*'), or is cut to 15 characters and may stand for a name a pattern matches.
 * Keeps the cost of a check to one cmdline read per candidate, not per process. */
bool process_match_candidate(const char *comm, char *const *patterns);
