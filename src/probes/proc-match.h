/* Which processes are Neuron toolchain or ML work, judged from what /proc shows of them.
 * Pure functions: the probes (and the multiplexer signal) pass in what they read. */
#pragma once

#include <stdbool.h>

#include "proc-table.h"

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

/* --- On the check's process table --------------------------------------------------------- */

/* Whether e may match patterns, from its comm (process_match_candidate) and what its executable
 * is (ExeClass, read the first time the process is seen): a renamed interpreter
 * (`python3 train.py` whose main thread PyTorch names "pt_main_thread") is still one. */
bool proc_match_candidate(const ProcTable *t, const ProcEntry *e, char *const *patterns);

/* The one way every signal asks whether a process matches patterns: candidates only, judged on
 * comm, argv and exe from the check's view (proc_table_argv, proc_table_exe). Returns 1 with
 * *ret_pattern the pattern, 0 for no match (or gone), or -errno when the command line could not
 * be read; then it was judged on comm and exe alone and *ret_pattern may still be set. */
int proc_match(const ProcTable *t, const ProcEntry *e, char *const *patterns,
               const char **ret_pattern);
