/* The session probe's connections: sshd and SSM session workers found by name and title, the
 * traffic of a connection without a terminal (/proc/PID/io), VS Code servers, and what runs
 * under each. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "proc-match.h"
#include "probe-sessions-scan.h"
#include "probe.h"

bool is_sshd_comm(const char *comm)
{
	return streq(comm, "sshd") || streq(comm, "sshd-session");
}

/* Whether an sshd process title names a login's connection without a terminal. The process
 * that carries a connection after authentication is titled "sshd: USER" (as root, and a
 * non-root user's unprivileged child), "USER@notty" once a session channel without a pty
 * opens, "USER@pts/3" with a pty (several sessions: "USER@pts/3,notty"); OpenSSH 9.8 and later
 * run it as sshd-session with the same titles. Not connections: the listener
 * ("sshd: /usr/sbin/sshd -D [listener] ..."), a non-root login's privileged monitor
 * ("USER [priv]", beside the child that carries the connection, so not counted twice), and
 * what runs before authentication ("unknown [priv]", "USER [net]", "[accepted]"): any title
 * with a space or a bracket. A connection with a pty is the terminal signal's. */
bool sshd_title_is_connection(const char *title)
{
	const char *who = startswith(title, "sshd: ");
	if (!who)
		who = startswith(title, "sshd-session: ");
	if (!who || !who[0] || strpbrk(who, " []"))
		return false;
	const char *at = strchr(who, '@');
	if (!at)
		return true; /* no session channel yet: port forwarding only */
	if (at == who)
		return false;
	/* "notty" among the comma-separated sessions: a channel without a pty. */
	for (const char *p = at + 1; p;) {
		if (strneq(p, "notty", 5) && (p[5] == '\0' || p[5] == ','))
			return true;
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return false;
}

/* The kernel keeps 15 characters of a name: "ssm-session-worker" reads "ssm-session-wor". */
int ssm_confirm(Scan *s, const ProcEntry *e)
{
	const char *exe;
	int r = proc_table_exe(s->in->procs, e, &exe);
	if (r == -ESRCH)
		return 0;
	if (r == 0 && streq(path_basename(exe), "ssm-session-worker"))
		return 1;
	if (r < 0 && r != -ENOENT) {
		snprintf(s->err, s->errlen, "%s/%d/exe: %s", s->in->proc_root, (int)e->pid,
		         strerror(-r));
		return r;
	}
	Argv a;
	r = scan_argv_read(s, e->pid, &a);
	if (r <= 0)
		return r;
	return a.n > 0 && streq(path_basename(a.v[0]), "ssm-session-worker");
}

/* A VS Code server's main process: Remote-SSH's `~/.vscode-server/…/node …/out/server-main.js`
 * (older: `~/.vscode-server/bin/COMMIT/node …`), code-server's `node …/code-server/out/node/
 * entry.js` (which starts a second entry.js under it). Returns 1, 0 or -errno. */
int vscode_server_match(Scan *s, const ProcEntry *e)
{
	static const char *const mains[] = { "/out/server-main.js",
		                             "/code-server/out/node/entry.js" };
	Argv a;
	int r = scan_argv_read(s, e->pid, &a);
	if (r <= 0)
		return r;
	for (size_t i = 1; i < a.n && i < 3; i++)
		for (size_t k = 0; k < ELEMENTSOF(mains); k++) {
			size_t l = strlen(a.v[i]), m = strlen(mains[k]);
			if (l >= m && streq(a.v[i] + l - m, mains[k]))
				return 1;
		}
	return 0;
}

void ssm_collect(Scan *s, SessionFacts *ret)
{
	const ProcTable *t = s->in->procs;
	for (size_t i = 0; i < t->n; i++) {
		if (s->roles[i] != ROLE_SSM)
			continue;
		if (ret->n_ssm >= SSM_SESSIONS_MAX) {
			ret->n_ssm_dropped++;
			continue;
		}
		const ProcEntry *e = &t->entries[i];
		SsmSessionFacts *f = &ret->ssm[ret->n_ssm++];
		*f = (SsmSessionFacts){ .pid = e->pid,
			                .uid = proc_table_uid(t, e),
			                .idle = USEC_INFINITY };
		user_name(f->uid, f->user, sizeof(f->user));
		for (size_t k = 0; k < s->n_terms; k++) {
			const TerminalFacts *term = &s->terms[k];
			if (term->owner != SESSION_OWNER_SSM || term->owner_pid != e->pid)
				continue;
			f->n_terminals++;
			if (term->idle < f->idle) {
				f->idle = term->idle;
				f->pts = term->pts;
			}
			if (term->busy.percent > f->busy.percent)
				f->busy = term->busy;
		}
	}
}

static const ConnectionCounter *counter_find(const ConnectionCounters *t, const ProcEntry *e)
{
	for (size_t i = 0; t && i < t->n; i++)
		if (t->c[i].pid == e->pid && t->c[i].starttime == e->starttime)
			return &t->c[i];
	return NULL;
}

/* What connection process e moved since the previous check: rchar + wchar of /proc/PID/io
 * count every byte it read or wrote, to the network and to its channels (keepalives
 * included), and root can read them in the daemon's sandbox without network access. Returns
 * 1, 0 when the process is gone, or -errno. */
static int traffic_read(Scan *s, const ProcEntry *e, ConnectionTraffic *ret)
{
	const SessionsInput *in = s->in;
	char path[512], text[1024];
	uint64_t rchar, wchar;
	snprintf(path, sizeof(path), "%s/%d/io", in->proc_root, (int)e->pid);
	ssize_t n = read_small_fileat(AT_FDCWD, path, text, sizeof(text));
	if (n == -ENOENT || n == -ESRCH)
		return 0;
	if (n < 0) {
		snprintf(s->err, s->errlen, "%s: %s", path, strerror((int)-n));
		return (int)n;
	}
	if (proc_field_u64(text, "rchar", &rchar) < 0 ||
	    proc_field_u64(text, "wchar", &wchar) < 0) {
		snprintf(s->err, s->errlen, "%s: no rchar or wchar", path);
		return -EBADMSG;
	}
	*ret = (ConnectionTraffic){ .started = proc_started_usec(e, in->ticks_per_sec) };
	uint64_t bytes = rchar + wchar;
	ConnectionCounters *next = in->next_counters;
	if (next && next->n < CONNECTION_COUNTERS_MAX)
		next->c[next->n++] = (ConnectionCounter){ .pid = e->pid,
			                                  .starttime = e->starttime,
			                                  .bytes = bytes };
	/* Counters only grow: one that went back is no reading (the core's memory of the
	 * connection decides). */
	const ConnectionCounter *prev = counter_find(in->prev_counters, e);
	if (prev && bytes >= prev->bytes && in->now > in->prev_counters->taken) {
		ret->valid = true;
		ret->bytes = bytes - prev->bytes;
		ret->window = in->now - in->prev_counters->taken;
	}
	return 1;
}

/* Traffic of every connection without a terminal, and what runs under an SSH one. */
int connections_describe(Scan *s, SessionFacts *ret)
{
	int r;
	if (s->in->next_counters)
		*s->in->next_counters = (ConnectionCounters){ .taken = s->in->now };
	for (size_t i = 0; i < ret->n_ssh; i++) {
		SshConnectionFacts *c = &ret->ssh[i];
		const ProcEntry *e = proc_table_find(s->in->procs, c->pid);
		if ((r = traffic_read(s, e, &c->traffic)) < 0 ||
		    (r = inside_scan(s, e, s->idx, &c->busy, &c->work)) < 0)
			return r;
	}
	for (size_t i = 0; i < ret->n_ssm; i++) {
		SsmSessionFacts *m = &ret->ssm[i];
		if (m->n_terminals > 0)
			continue;
		r = traffic_read(s, proc_table_find(s->in->procs, m->pid), &m->traffic);
		if (r < 0)
			return r;
	}
	return 0;
}

int vscode_collect(Scan *s, SessionFacts *ret)
{
	const ProcTable *t = s->in->procs;
	for (size_t i = 0; i < t->n; i++) {
		const ProcEntry *e = &t->entries[i];
		const ProcEntry *parent = proc_table_parent(t, e);
		/* code-server's entry.js starts a second one: the first is the server. */
		if (s->roles[i] != ROLE_VSCODE ||
		    (parent && s->roles[proc_table_index(t, parent)] == ROLE_VSCODE))
			continue;
		if (ret->n_vscode >= VSCODE_SERVERS_MAX) {
			ret->n_vscode_dropped++;
			continue;
		}
		VscodeServerFacts *f = &ret->vscode[ret->n_vscode++];
		*f = (VscodeServerFacts){ .pid = e->pid, .uid = proc_table_uid(t, e) };
		user_name(f->uid, f->user, sizeof(f->user));
		busy_consider(&f->busy, e, scan_cpu_percent(s, e));
		int r = inside_scan(s, e, s->idx, &f->busy, &f->work);
		if (r < 0)
			return r;
	}
	return 0;
}
