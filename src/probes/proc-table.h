/* One scan of /proc per check: every process's stat line (its owner when asked), sorted by pid,
 * with a child index. Every probe that needs processes shares it; extra files (cmdline, exe,
 * owner) are read only for the few candidates a probe picks out, at most once per check (the
 * table's view of a process, proc_table_argv/proc_table_exe/proc_table_uid), so every probe
 * sees one process alike. Our own parsers, not libproc2's pids API: that API always reads the
 * real /proc, so neither fixtures nor fuzzing could reach it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

/* TASK_COMM_LEN is 16; a longer name in a fixture is cut like the kernel cuts it. */
#define PROC_COMM_MAX 16
/* The one limit on a command line, for every probe: what a pattern can name (the program, its
 * script) is at its start. */
#define PROC_CMDLINE_MAX 4096

/* What a process's executable says about it (ProcEntry.exe_class), judged by proc-match.c from
 * /proc/PID/exe the first time a process is seen and carried from check to check while its pid,
 * start time and comm stay: an exec sets comm anew and a rename (prctl PR_SET_NAME) changes it,
 * so a process with another comm is judged again. */
typedef enum ExeClass {
	EXE_CLASS_UNREAD = 0,
	EXE_CLASS_NONE,        /* kernel thread, zombie, or gone */
	EXE_CLASS_UNREADABLE,  /* the link could not be read: judged on its command line */
	EXE_CLASS_NAMED,       /* comm is its executable's name: comm says all */
	EXE_CLASS_RENAMED,     /* comm is not its executable's name (renamed, or run as a link) */
	EXE_CLASS_SHELL,       /* sh, bash, dash ... */
	EXE_CLASS_INTERPRETER, /* python, perl, node, ruby, env */
} ExeClass;

/* Whether a process's owner was read (ProcEntry.owner): only when a probe asks for it. */
typedef enum ProcOwner {
	PROC_OWNER_UNREAD = 0,
	PROC_OWNER_READ,
	PROC_OWNER_GONE,   /* exited before it was asked */
	PROC_OWNER_FAILED, /* could not be read for another reason */
} ProcOwner;

typedef struct ProcEntry {
	pid_t pid;
	char comm[PROC_COMM_MAX];
	char state;
	bool kthread;      /* PF_KTHREAD in the flags: no executable, no command line */
	uint8_t exe_class; /* ExeClass */
	uint8_t owner;     /* ProcOwner: whether uid was read */
	pid_t ppid;
	pid_t pgrp;
	pid_t session;
	int tty_nr; /* dev_t of the controlling terminal, 0 for none */
	pid_t tpgid;
	/* utime + stime + cutime + cstime, USER_HZ ticks: its own CPU and that of the children it
	 * has reaped, so a loop of short-lived commands counts where the loop runs. */
	uint64_t cpu_ticks;
	uint64_t starttime; /* ticks after boot; with pid it names one process */
	uid_t uid;          /* owner of /proc/PID once read: ask proc_table_uid() */
	uint32_t view;      /* 1 + its index in the table's views once read this check; 0 none */

	/* Filled by the scan: this entry's children are
	 * table->child_index[first_child .. first_child + n_children). 32 bits: a table holds
	 * at most pid_max (2^22) processes, and the table's size is the daemon's memory. */
	uint32_t first_child;
	uint32_t n_children;
} ProcEntry;

typedef struct ProcViews ProcViews;

/* The view store of a table (proc-views.c); NULL when out of memory. */
ProcViews *proc_views_new(void);
void proc_views_free(ProcViews *vs);

typedef struct ProcTable {
	ProcEntry *entries; /* sorted by pid */
	size_t n;
	uint32_t *child_index; /* indexes into entries, grouped by parent */
	usec_t taken;          /* CLOCK_BOOTTIME of the scan, set by the caller */
	const char *proc_root; /* where it was scanned (outlives the table) */
	ProcViews *views;      /* command lines and executables read this check */
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
/* The owner of /proc/PID (the process's effective uid), read the first time a probe asks: few
 * processes need it (the ones that used CPU, the sessions), and a stat(2) of every process was
 * one system call in four of the scan. Returns 0, -ESRCH when the process is gone, or -EIO when it could not be
 * read; *ret is (uid_t)-1 then. The answer stays the same for the whole check. */
int proc_table_owner(const ProcTable *t, const ProcEntry *e, uid_t *ret);
/* How many owners a probe asked for could not be read (the process still there); the first
 * one's pid in *ret_first. The sampler makes them a probe error. */
size_t proc_table_owners_failed(const ProcTable *t, pid_t *ret_first);
/* The same, (uid_t)-1 when it cannot be read (a failure the sampler reports as a probe
 * error, see proc_table_owners_failed()). */
uid_t proc_table_uid(const ProcTable *t, const ProcEntry *e);

/* When e started, CLOCK_BOOTTIME µs (its start time is in clock ticks after boot). */
static inline usec_t proc_started_usec(const ProcEntry *e, unsigned long ticks_per_sec)
{
	return e->starttime * USEC_PER_SEC / (ticks_per_sec ? ticks_per_sec : 100);
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
 * ticks it and its reaped children used since prev, or all of them when it started after prev.
 * 0 without prev, and for ticks that went back (proc_table_carry reports those). */
double proc_cpu_percent(const ProcTable *prev, const ProcTable *now, const ProcEntry *e,
                        unsigned long ticks_per_sec);

/* Links now to the previous check's table: carries each process's exe_class (same pid, start
 * time and comm). Returns 0, or -ERANGE (err names the file) when a process's CPU ticks went
 * back, which a kernel never does: the counts cannot be trusted, and that is not idle. */
int proc_table_carry(ProcTable *now, const ProcTable *prev, char *err, size_t errlen);

/* e's command line, read at most once per table (PROC_CMDLINE_MAX, every argument that fits):
 * *ret_argv is NULL-terminated and NULL when empty (kernel thread, zombie); its strings follow
 * one another, NUL-separated, from (*ret_argv)[0] on, as proc_cmdline_join wants them.
 * Returns 0, -ESRCH when the process is gone, or another -errno (then empty); the answer, error
 * included, stays the same for the whole check. */
int proc_table_argv(const ProcTable *t, const ProcEntry *e, char *const **ret_argv,
                    size_t *ret_argc);
/* e's executable, read at most once per table. Returns 0, -ESRCH when gone, -ENOENT when it has
 * none (kernel thread, zombie), or another -errno; *ret_exe is NULL on error. */
int proc_table_exe(const ProcTable *t, const ProcEntry *e, const char **ret_exe);

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

/* The last path component of s. */
const char *path_basename(const char *s);
