/* One scan of /proc per check: every process's stat line and owner, sorted by pid, with a child
 * index. Every probe that needs processes shares it; extra files (cmdline, exe) are read only
 * for the few candidates a probe picks out. Our own parsers, not libproc2's pids API: that API
 * always reads the real /proc, so neither fixtures nor fuzzing could reach it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

/* TASK_COMM_LEN is 16; a longer name in a fixture is cut like the kernel cuts it. */
#define PROC_COMM_MAX 16

typedef struct ProcEntry {
	pid_t pid;
	char comm[PROC_COMM_MAX];
	char state;
	pid_t ppid;
	pid_t pgrp;
	pid_t session;
	int tty_nr; /* dev_t of the controlling terminal, 0 for none */
	pid_t tpgid;
	uint64_t cpu_ticks; /* utime + stime, USER_HZ ticks */
	uint64_t starttime; /* ticks after boot; with pid it names one process */
	uid_t uid;          /* owner of /proc/PID */

	/* Filled by the scan: this entry's children are
	 * table->child_index[first_child .. first_child + n_children). */
	size_t first_child;
	size_t n_children;
} ProcEntry;

typedef struct ProcTable {
	ProcEntry *entries; /* sorted by pid */
	size_t n;
	size_t *child_index; /* indexes into entries, grouped by parent */
	usec_t taken;        /* CLOCK_BOOTTIME of the scan, set by the caller */
} ProcTable;

/* Parses one /proc/PID/stat line. The name may hold anything (")", "(", spaces, newlines), so
 * it ends at the LAST ')'. Returns 0 or -EBADMSG. uid and the child index are not touched. */
int proc_stat_parse(const char *text, ProcEntry *ret);

/* Scans proc_root. A process that exits meanwhile is skipped; anything else that cannot be
 * read fails the scan (-errno, with the path and reason in err). */
int proc_table_scan(const char *proc_root, ProcTable *ret, char *err, size_t errlen);
void proc_table_done(ProcTable *t);

/* The entry of pid, or NULL. */
const ProcEntry *proc_table_find(const ProcTable *t, pid_t pid);
/* The same process (pid and start time) in another table, or NULL. */
const ProcEntry *proc_table_find_same(const ProcTable *t, const ProcEntry *e);
static inline size_t proc_table_index(const ProcTable *t, const ProcEntry *e)
{
	return (size_t)(e - t->entries);
}
/* The parent of e in t, or NULL. */
const ProcEntry *proc_table_parent(const ProcTable *t, const ProcEntry *e);

/* Writes the indexes of every descendant of root (not root itself) into out, breadth first.
 * Returns how many there are (with cap >= t->n, all of them; beyond cap only those of the
 * first cap are counted). Survives ppid cycles. */
size_t proc_table_descendants(const ProcTable *t, const ProcEntry *root, size_t *out, size_t cap);

/* Whether e descends from ancestor (following ppid, at most t->n steps). */
bool proc_table_is_descendant(const ProcTable *t, const ProcEntry *e, const ProcEntry *ancestor);

/* CPU use of e over the interval since prev was taken, in percent of one CPU (like top): the
 * ticks it used since prev, or all its ticks when it started after prev. 0 without prev. */
double proc_cpu_percent(const ProcTable *prev, const ProcTable *now, const ProcEntry *e,
                        unsigned long ticks_per_sec);

/* Reads /proc/PID/cmdline (NUL-separated argv). buf gets every argument NUL-terminated, one
 * after the other, with a final NUL even when the process wrote none; *ret_argc counts them.
 * Empty (argc 0) for kernel threads and zombies. Returns 0, -ESRCH when the process is gone,
 * or another -errno. */
int proc_cmdline_read(const char *proc_root, pid_t pid, char *buf, size_t size, size_t *ret_argc);

/* Joins the arguments from proc_cmdline_read with spaces, for a human (cut at size). */
void proc_cmdline_join(const char *argv_buf, size_t argc, char *out, size_t size);

/* Reads the /proc/PID/exe link, without a trailing " (deleted)". Returns 0, -ESRCH when gone,
 * -ENOENT for kernel threads, or another -errno. */
int proc_exe_read(const char *proc_root, pid_t pid, char *buf, size_t size);

/* Reads a whole small file relative to dirfd (AT_FDCWD for a plain path) into buf,
 * NUL-terminated. Returns the bytes read or -errno. */
ssize_t read_small_fileat(int dirfd, const char *path, char *buf, size_t size);

/* The last path component of s. */
const char *path_basename(const char *s);
