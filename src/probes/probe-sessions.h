/* The session probe: terminals, SSH connections without a terminal, SSM sessions, tmux and
 * screen servers, all found in the check's process table (every user, never cached). It reads
 * only the pts inodes of live terminals and the command lines of candidates (sshd, tmux,
 * screen, ssm-session-wor…, and the processes inside a multiplexer). */
#pragma once

#include "config.h"
#include "proc-table.h"
#include "sample.h"

/* The byte counters of the connections (SSH without a terminal, SSM) at one check, so that the
 * next check can say what each moved in between. */
#define CONNECTION_COUNTERS_MAX (SSH_CONNECTIONS_MAX + SSM_SESSIONS_MAX)

typedef struct ConnectionCounter {
	pid_t pid;
	uint64_t starttime; /* with pid, names one process */
	uint64_t bytes;     /* rchar + wchar */
} ConnectionCounter;

typedef struct ConnectionCounters {
	ConnectionCounter c[CONNECTION_COUNTERS_MAX];
	size_t n;
	usec_t taken; /* CLOCK_BOOTTIME */
} ConnectionCounters;

typedef struct SessionsInput {
	const ProcTable *procs;
	const ProcTable
	        *prev; /* previous check's table, for CPU inside multiplexers; may be empty */
	const char *proc_root;
	const char *dev_root;
	usec_t realtime; /* CLOCK_REALTIME now: pts times are wall-clock */
	unsigned long ticks_per_sec;
	const Config *config;
	const ConnectionCounters *prev_counters; /* the previous check's; may be empty */
	ConnectionCounters *next_counters;       /* this check's, for the next one */
	usec_t now;                              /* CLOCK_BOOTTIME, like the counters */
} SessionsInput;

/* Fills *ret. A process or terminal that disappears meanwhile is skipped; any other failure
 * returns -errno with the path in err (and ret->valid false). */
int sessions_probe(const SessionsInput *in, SessionFacts *ret, char *err, size_t errlen);

/* N of /dev/pts/N for a tty_nr from /proc/PID/stat, or -1 when it is not a pts. */
int pts_from_tty_nr(int tty_nr);

/* Whether an sshd or sshd-session process title ("sshd: alice", "sshd-session: alice@notty")
 * is a login's connection without a terminal: see probe-sessions.c for the title schemes. */
bool sshd_title_is_connection(const char *title);

/* The socket a tmux command line talks to: the -S path, or /tmp/tmux-UID/LABEL for -L (and
 * "default"). Clients and servers with the same key belong together. */
void tmux_socket_key(char *const *argv, uid_t uid, char *buf, size_t size);

/* The session name a tmux ("-s NAME") or screen ("-S NAME") command line gives, or "". */
void multiplexer_session_name(SessionOwner kind, char *const *argv, char *buf, size_t size);
