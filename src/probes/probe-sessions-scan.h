/* What the parts of the session probe share (probe-sessions.c: the scan, roles and terminals;
 * probe-sessions-remote.c: SSH, SSM and VS Code connections; probe-sessions-mux.c: tmux,
 * screen and Jupyter). Private to src/probes. */
#pragma once

#include "probe-sessions.h"

typedef enum Role {
	ROLE_NONE,
	ROLE_SSHD,
	ROLE_SSM,
	ROLE_TMUX_SERVER,
	ROLE_SCREEN_SERVER,
	ROLE_TMUX_CLIENT,
	ROLE_SCREEN_CLIENT,
	ROLE_KERNEL,
	ROLE_VSCODE,
} Role;

/* What one check learnt about processes and terminals, before it is cut to the fixed caps. */
typedef struct Scan {
	const SessionsInput *in;
	uint8_t *roles; /* per procs entry */
	TerminalFacts *terms;
	size_t n_terms;
	size_t *idx; /* room for every entry, for descendant lists */
	char *err;
	size_t errlen;
} Scan;

/* A process's argv from the check's view (proc_table_argv): NULL-terminated, never NULL. */
typedef struct Argv {
	char *const *v;
	size_t n;
} Argv;

/* Returns 1 with argv read, 0 when the process is gone, or -errno (err set). */
int scan_argv_read(Scan *s, pid_t pid, Argv *a);

/* Whether process e matches patterns, as every signal asks it (proc_match). Returns 1, 0 (no
 * match, or gone) or -errno. */
int scan_patterns_match(Scan *s, const ProcEntry *e, char *const *patterns);

/* CPU of e over the interval since the previous check, % of one CPU. */
double scan_cpu_percent(const Scan *s, const ProcEntry *e);

void busy_consider(BusyProc *b, const ProcEntry *e, double percent);

/* The Neuron or ML question for one process inside a session, with the other signals' own
 * matchers and lists (proc-match.h). Returns 1 with *ret filled, 0 for neither (or gone),
 * 0 > r for a read error. */
int work_match(Scan *s, const ProcEntry *e, WorkProc *ret);

/* The busiest process and the first Neuron or ML work among root's descendants. */
int inside_scan(Scan *s, const ProcEntry *root, size_t *idx, BusyProc *busy, WorkProc *work);

/* A terminal is the controlling terminal of one session: pts numbers repeat across devpts
 * instances (a container's pts/0 is not the host's), sessions do not. */
TerminalFacts *term_find(const Scan *s, unsigned pts, pid_t session);

bool is_sshd_comm(const char *comm);

/* The kernel keeps 15 characters of a name: "ssm-session-worker" reads "ssm-session-wor". */
int ssm_confirm(Scan *s, const ProcEntry *e);

/* A VS Code server's main process: Remote-SSH's `~/.vscode-server/…/node …/out/server-main.js`
 * (older: `~/.vscode-server/bin/COMMIT/node …`), code-server's `node …/code-server/out/node/
 * entry.js` (which starts a second entry.js under it). Returns 1, 0 or -errno. */
int vscode_server_match(Scan *s, const ProcEntry *e);

void ssm_collect(Scan *s, SessionFacts *ret);

/* Traffic of every connection without a terminal, and what runs under an SSH one. */
int connections_describe(Scan *s, SessionFacts *ret);

int vscode_collect(Scan *s, SessionFacts *ret);

int mux_collect(Scan *s, SessionFacts *ret);

int kernels_collect(Scan *s, SessionFacts *ret);
