/* Sessions from the process table: which /dev/pts/N are controlling terminals and what owns
 * each (sshd, ssm-session-worker, tmux, screen), SSH connections without a terminal, SSM
 * sessions, every user's tmux and screen servers and Jupyter kernels with what runs inside
 * them. Nothing is cached between checks; nothing is forked (`tmux ls` as root would only see
 * root's server, and a Jupyter server's API would need its user's token). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "proc-match.h"
#include "probe-sessions.h"
#include "probe.h"

/* UNIX98 pty slaves: majors 136..143, minor N within each. */
#define PTS_MAJOR_FIRST 136
#define PTS_MAJOR_LAST  143

/* getopt-style options that take a value: tmux's "cfLST"; screen's, with -r and -x read as
 * taking their optional session name. */
#define TMUX_OPTS_WITH_ARG   "cfLST"
#define SCREEN_OPTS_WITH_ARG "cehprSsTtx"

/* A Jupyter kernel is started as `python -m ipykernel_launcher -f kernel-ID.json` (Jupyter
 * Server, Notebook, Lab, VS Code), older ones as a script path. */
static char *const kernel_patterns[] = { "ipykernel_launcher", "ipykernel_launcher.py", "ipykernel",
	                                 NULL };
/* The server above a kernel: `jupyter lab` execs jupyter-lab (so comm is "jupyter-lab"),
 * `python -m jupyterlab` keeps the interpreter's name. */
static char *const server_patterns[] = { "jupyter*",  "jupyterlab", "notebook", "jupyter_server",
	                                 "nbclassic", "voila",      NULL };

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

/* tty_nr is the kernel's new_encode_dev() of the terminal's device number. */
static dev_t dev_from_tty_nr(int tty_nr)
{
	unsigned t = (unsigned)tty_nr;
	return makedev((t >> 8) & 0xfff, (t & 0xff) | ((t >> 12) & 0xfff00));
}

int pts_from_tty_nr(int tty_nr)
{
	dev_t dev = dev_from_tty_nr(tty_nr);
	if (tty_nr <= 0 || major(dev) < PTS_MAJOR_FIRST || major(dev) > PTS_MAJOR_LAST)
		return -1;
	return (int)((major(dev) - PTS_MAJOR_FIRST) * 256 + minor(dev));
}

/* Returns 1 with argv read, 0 when the process is gone, or -errno (err set). */
static int argv_read(Scan *s, pid_t pid, Argv *a)
{
	static char *const empty[] = { NULL };
	const ProcEntry *e = proc_table_find(s->in->procs, pid);
	if (!e)
		return 0;
	int r = proc_table_argv(s->in->procs, e, &a->v, &a->n);
	if (r == -ESRCH)
		return 0;
	if (r < 0) {
		snprintf(s->err, s->errlen, "%s/%d/cmdline: %s", s->in->proc_root, (int)pid,
		         strerror(-r));
		return r;
	}
	if (!a->v)
		a->v = empty;
	return 1;
}

/* An option's value in a getopt-style argv: "-L x" or "-Lx"; stops at the first non-option. */
static const char *option_value(char *const *argv, char opt, const char *with_arg)
{
	for (size_t i = 1; argv[0] && argv[i]; i++) {
		const char *a = argv[i];
		if (a[0] != '-' || a[1] == '\0' || streq(a, "--"))
			return NULL;
		for (size_t k = 1; a[k]; k++) {
			if (!strchr(with_arg, a[k]))
				continue; /* a flag without an argument */
			const char *v = a[k + 1] ? a + k + 1 : argv[i + 1];
			if (a[k] == opt)
				return v;
			if (!a[k + 1] && argv[i + 1])
				i++;
			break;
		}
	}
	return NULL;
}

void tmux_socket_key(char *const *argv, uid_t uid, char *buf, size_t size)
{
	const char *path = option_value(argv, 'S', TMUX_OPTS_WITH_ARG);
	if (path) {
		strscpy(buf, size, path);
		return;
	}
	const char *label = option_value(argv, 'L', TMUX_OPTS_WITH_ARG);
	snprintf(buf, size, "/tmp/tmux-%u/%s", (unsigned)uid, label ? label : "default");
}

void multiplexer_session_name(SessionOwner kind, char *const *argv, char *buf, size_t size)
{
	const char *name = NULL;
	buf[0] = '\0';
	if (kind == SESSION_OWNER_TMUX) {
		/* tmux [options] new[-session] [-d] -s NAME ... */
		for (size_t i = 1; argv[0] && argv[i]; i++)
			if (streq(argv[i], "-s") && argv[i + 1]) {
				name = argv[i + 1];
				break;
			}
	} else
		name = option_value(argv, 'S', SCREEN_OPTS_WITH_ARG);
	if (name)
		text_sanitize(buf, size, name);
}

static bool is_sshd_comm(const char *comm)
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
static int ssm_confirm(Scan *s, const ProcEntry *e)
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
	r = argv_read(s, e->pid, &a);
	if (r <= 0)
		return r;
	return a.n > 0 && streq(path_basename(a.v[0]), "ssm-session-worker");
}

/* Whether process e matches patterns, as every signal asks it (proc_match). Returns 1, 0 (no
 * match, or gone) or -errno. */
static int patterns_match(Scan *s, const ProcEntry *e, char *const *patterns)
{
	const char *match;
	int r = proc_match(s->in->procs, e, patterns, &match);
	if (r < 0)
		snprintf(s->err, s->errlen, "%s/%d/cmdline: %s", s->in->proc_root, (int)e->pid,
		         strerror(-r));
	return r;
}

/* A VS Code server's main process: Remote-SSH's `~/.vscode-server/…/node …/out/server-main.js`
 * (older: `~/.vscode-server/bin/COMMIT/node …`), code-server's `node …/code-server/out/node/
 * entry.js` (which starts a second entry.js under it). Returns 1, 0 or -errno. */
static int vscode_server_match(Scan *s, const ProcEntry *e)
{
	static const char *const mains[] = { "/out/server-main.js",
		                             "/code-server/out/node/entry.js" };
	Argv a;
	int r = argv_read(s, e->pid, &a);
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

/* Sorts out the candidates by name; command lines only for those that need it. */
static int roles_assign(Scan *s, SessionFacts *ret)
{
	const ProcTable *t = s->in->procs;
	for (size_t i = 0; i < t->n; i++) {
		const ProcEntry *e = &t->entries[i];
		int r;
		if (streq(e->comm, "tmux: server"))
			s->roles[i] = ROLE_TMUX_SERVER;
		else if (streq(e->comm, "tmux: client"))
			s->roles[i] = ROLE_TMUX_CLIENT;
		else if (streq(e->comm, "screen")) {
			Argv a;
			if ((r = argv_read(s, e->pid, &a)) < 0)
				return r;
			if (r > 0 && a.n > 0)
				s->roles[i] = streq(path_basename(a.v[0]), "SCREEN")
				                      ? ROLE_SCREEN_SERVER
				                      : ROLE_SCREEN_CLIENT;
		} else if (is_sshd_comm(e->comm)) {
			s->roles[i] = ROLE_SSHD;
			Argv a;
			if ((r = argv_read(s, e->pid, &a)) < 0)
				return r;
			if (r == 0 || a.n == 0 || !sshd_title_is_connection(a.v[0]))
				continue;
			if (ret->n_ssh >= SSH_CONNECTIONS_MAX) {
				ret->n_ssh_dropped++;
				continue;
			}
			SshConnectionFacts *c = &ret->ssh[ret->n_ssh++];
			*c = (SshConnectionFacts){ .pid = e->pid, .uid = e->uid };
			user_name(e->uid, c->user, sizeof(c->user));
		} else if (strneq(e->comm, "ssm-session-worker", PROC_COMM_MAX - 1)) {
			if ((r = ssm_confirm(s, e)) < 0)
				return r;
			if (r > 0)
				s->roles[i] = ROLE_SSM;
		} else {
			if (streq(e->comm, "node") || startswith(e->comm, "code-server")) {
				if ((r = vscode_server_match(s, e)) < 0)
					return r;
				if (r > 0) {
					s->roles[i] = ROLE_VSCODE;
					continue;
				}
			}
			if ((r = patterns_match(s, e, kernel_patterns)) < 0)
				return r;
			if (r > 0)
				s->roles[i] = ROLE_KERNEL;
		}
	}
	return 0;
}

static SessionOwner owner_of_role(Role r)
{
	switch (r) {
	case ROLE_SSHD:
		return SESSION_OWNER_SSHD;
	case ROLE_SSM:
		return SESSION_OWNER_SSM;
	case ROLE_TMUX_SERVER:
		return SESSION_OWNER_TMUX;
	case ROLE_SCREEN_SERVER:
		return SESSION_OWNER_SCREEN;
	default:
		return SESSION_OWNER_OTHER;
	}
}

/* The nearest ancestor (or e itself) that owns sessions. */
static const ProcEntry *owner_find(const Scan *s, const ProcEntry *e, SessionOwner *ret)
{
	const ProcTable *t = s->in->procs;
	const ProcEntry *p = e;
	for (size_t steps = 0; p && steps <= t->n; steps++) {
		SessionOwner o = owner_of_role((Role)s->roles[proc_table_index(t, p)]);
		if (o != SESSION_OWNER_OTHER) {
			*ret = o;
			return p;
		}
		p = proc_table_parent(t, p);
	}
	*ret = SESSION_OWNER_OTHER;
	return NULL;
}

/* A terminal is the controlling terminal of one session: pts numbers repeat across devpts
 * instances (a container's pts/0 is not the host's), sessions do not. */
static TerminalFacts *term_find(const Scan *s, unsigned pts, pid_t session)
{
	for (size_t i = 0; i < s->n_terms; i++)
		if (s->terms[i].pts == pts && s->terms[i].session == session)
			return &s->terms[i];
	return NULL;
}

/* CPU of e over the interval since the previous check, % of one CPU. */
static double cpu_percent(const Scan *s, const ProcEntry *e)
{
	return proc_cpu_percent(s->in->prev, s->in->procs, e, s->in->ticks_per_sec);
}

static void busy_consider(BusyProc *b, const ProcEntry *e, double percent)
{
	if (percent <= b->percent)
		return;
	*b = (BusyProc){ .pid = e->pid, .percent = percent };
	text_sanitize(b->comm, sizeof(b->comm), e->comm);
}

/* One entry per pts in use, with its session leader (or its lowest pid) and its busiest
 * process: a job that runs for hours without printing is still work. */
static void terms_collect(Scan *s)
{
	const ProcTable *t = s->in->procs;
	for (size_t i = 0; i < t->n; i++) {
		const ProcEntry *e = &t->entries[i];
		int pts = pts_from_tty_nr(e->tty_nr);
		if (pts < 0 || e->state == 'Z')
			continue;
		TerminalFacts *term = term_find(s, (unsigned)pts, e->session);
		if (!term) {
			term = &s->terms[s->n_terms++];
			*term = (TerminalFacts){ .pts = (unsigned)pts,
				                 .session = e->session,
				                 .leader_pid = e->pid };
			text_sanitize(term->leader_comm, sizeof(term->leader_comm), e->comm);
		} else if (e->pid == e->session) {
			term->leader_pid = e->pid;
			text_sanitize(term->leader_comm, sizeof(term->leader_comm), e->comm);
		}
		busy_consider(&term->busy, e, cpu_percent(s, e));
	}
}

static usec_t timespec_usec(const struct timespec *ts)
{
	return (usec_t)ts->tv_sec * USEC_PER_SEC + (usec_t)ts->tv_nsec / 1000;
}

static bool proc_gone(const Scan *s, pid_t pid)
{
	char path[512];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%d", s->in->proc_root, (int)pid);
	return stat(path, &st) < 0 && errno == ENOENT;
}

/* The pts the process holds open on fd 0-2, when it is the one of tty_nr. */
static bool term_stat_fds(const Scan *s, pid_t pid, int tty_nr, struct stat *ret)
{
	dev_t dev = dev_from_tty_nr(tty_nr);
	for (int fd = 0; fd <= 2; fd++) {
		char path[512];
		snprintf(path, sizeof(path), "%s/%d/fd/%d", s->in->proc_root, (int)pid, fd);
		if (stat(path, ret) == 0 && S_ISCHR(ret->st_mode) && ret->st_rdev == dev)
			return true;
	}
	return false;
}

/* The terminal's inode as its process sees it: a terminal of another devpts instance (a
 * container, a new mount namespace) is not in the daemon's /dev/pts, or is another terminal
 * there under the same number. First the pts the process holds open on fd 0-2 (the very
 * inode, whatever is mounted where), else its /dev/pts/N through /proc/PID/root (root may).
 * Returns 1, 0 when the process is gone (the terminal closed with it), or -errno with the
 * path in err. */
static int term_stat(Scan *s, const TerminalFacts *term, struct stat *ret)
{
	const ProcEntry *leader = proc_table_find(s->in->procs, term->leader_pid);
	if (leader && term_stat_fds(s, leader->pid, leader->tty_nr, ret))
		return 1;
	char path[512];
	snprintf(path, sizeof(path), "%s/%d/root%s/pts/%u", s->in->proc_root, (int)term->leader_pid,
	         s->in->dev_root, term->pts);
	if (stat(path, ret) == 0)
		return 1;
	int r = -errno;
	if (proc_gone(s, term->leader_pid))
		return 0;
	snprintf(s->err, s->errlen, "%s: %s", path, strerror(-r));
	return r;
}

/* Owner, device owner and age of every terminal; a terminal whose process is gone is dropped. */
static int terms_describe(Scan *s)
{
	size_t w = 0;
	for (size_t i = 0; i < s->n_terms; i++) {
		TerminalFacts *term = &s->terms[i];
		struct stat st;
		int r = term_stat(s, term, &st);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		/* Input updates the atime, output the mtime (in 8-second steps, like w(1)). */
		usec_t used = MAX(timespec_usec(&st.st_atim), timespec_usec(&st.st_mtim));
		term->idle = s->in->realtime > used ? s->in->realtime - used : 0;
		term->uid = st.st_uid;
		user_name(st.st_uid, term->user, sizeof(term->user));
		const ProcEntry *leader = proc_table_find(s->in->procs, term->leader_pid);
		const ProcEntry *owner = leader ? owner_find(s, leader, &term->owner) : NULL;
		term->owner_pid = owner ? owner->pid : 0;
		s->terms[w++] = *term;
	}
	s->n_terms = w;
	return 0;
}

static void ssm_collect(Scan *s, SessionFacts *ret)
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
		*f = (SsmSessionFacts){ .pid = e->pid, .uid = e->uid, .idle = USEC_INFINITY };
		user_name(e->uid, f->user, sizeof(f->user));
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

/* The Neuron or ML question for one process inside a session, with the other signals' own
 * matchers and lists (proc-match.h). Returns 1 with *ret filled, 0 for neither (or gone),
 * 0 > r for a read error. */
static int work_match(Scan *s, const ProcEntry *e, WorkProc *ret)
{
	const Config *c = s->in->config;
	Signal sig;
	int r;
	if ((r = patterns_match(s, e, c->neuron_processes)) != 0)
		sig = SIGNAL_NEURON_PROCESS;
	else if ((r = patterns_match(s, e, c->ml_processes)) != 0)
		sig = SIGNAL_ML_PROCESS;
	else
		return 0;
	if (r < 0)
		return r;
	*ret = (WorkProc){ .pid = e->pid, .signal = sig };
	text_sanitize(ret->comm, sizeof(ret->comm), e->comm);
	return 1;
}

/* The busiest process and the first Neuron or ML work among root's descendants. */
static int inside_scan(Scan *s, const ProcEntry *root, size_t *idx, BusyProc *busy, WorkProc *work)
{
	const ProcTable *t = s->in->procs;
	size_t n = proc_table_descendants(t, root, idx, t->n);
	for (size_t k = 0; k < n; k++) {
		const ProcEntry *e = &t->entries[idx[k]];
		busy_consider(busy, e, cpu_percent(s, e));
		if (work->pid != 0)
			continue;
		int r = work_match(s, e, work);
		if (r < 0)
			return r;
	}
	return 0;
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
	*ret = (ConnectionTraffic){ .started = e->starttime * USEC_PER_SEC / in->ticks_per_sec };
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
static int connections_describe(Scan *s, SessionFacts *ret)
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

static int vscode_collect(Scan *s, SessionFacts *ret)
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
		*f = (VscodeServerFacts){ .pid = e->pid, .uid = e->uid };
		user_name(e->uid, f->user, sizeof(f->user));
		busy_consider(&f->busy, e, cpu_percent(s, e));
		int r = inside_scan(s, e, s->idx, &f->busy, &f->work);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Whether a client process talks to server f (whose tmux socket key is server_key). */
static int client_matches(Scan *s, const ProcEntry *client, Role role, const MultiplexerFacts *f,
                          const char *server_key)
{
	if ((f->kind == SESSION_OWNER_TMUX) != (role == ROLE_TMUX_CLIENT))
		return 0;
	Argv a;
	int r = argv_read(s, client->pid, &a);
	if (r <= 0)
		return r;
	if (f->kind == SESSION_OWNER_TMUX) {
		char key[512];
		tmux_socket_key(a.v, client->uid, key, sizeof(key));
		return streq(key, server_key);
	}
	/* screen -r/-x [PID.]NAME of the same user (multiuser sessions aside). */
	if (client->uid != f->uid)
		return 0;
	const char *want = option_value(a.v, 'r', SCREEN_OPTS_WITH_ARG);
	if (!want)
		want = option_value(a.v, 'x', SCREEN_OPTS_WITH_ARG);
	if (!want || !want[0] || !f->name[0])
		return 1;
	const char *dot = strchr(want, '.');
	return streq(dot ? dot + 1 : want, f->name);
}

static int mux_clients(Scan *s, MultiplexerFacts *f, const char *server_key)
{
	const ProcTable *t = s->in->procs;
	for (size_t i = 0; i < t->n; i++) {
		Role role = (Role)s->roles[i];
		const ProcEntry *c = &t->entries[i];
		if (role != ROLE_TMUX_CLIENT && role != ROLE_SCREEN_CLIENT)
			continue;
		int pts = pts_from_tty_nr(c->tty_nr);
		const TerminalFacts *term =
		        pts >= 0 ? term_find(s, (unsigned)pts, c->session) : NULL;
		if (!term)
			continue;
		int r = client_matches(s, c, role, f, server_key);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		f->n_clients++;
		if (term->idle < f->client_idle) {
			f->client_idle = term->idle;
			f->client_pts = term->pts;
		}
	}
	return 0;
}

static int mux_describe(Scan *s, const ProcEntry *e, Role role, MultiplexerFacts *f)
{
	SessionOwner kind = role == ROLE_TMUX_SERVER ? SESSION_OWNER_TMUX : SESSION_OWNER_SCREEN;
	*f = (MultiplexerFacts){ .kind = kind,
		                 .pid = e->pid,
		                 .uid = e->uid,
		                 .pane_idle = USEC_INFINITY,
		                 .client_idle = USEC_INFINITY };
	user_name(e->uid, f->user, sizeof(f->user));

	Argv a;
	int r = argv_read(s, e->pid, &a);
	if (r <= 0)
		return r; /* gone: 0, and the caller drops it */
	char key[512] = "";
	multiplexer_session_name(kind, a.v, f->name, sizeof(f->name));
	if (kind == SESSION_OWNER_TMUX)
		tmux_socket_key(a.v, e->uid, key, sizeof(key));

	for (size_t k = 0; k < s->n_terms; k++) {
		const TerminalFacts *term = &s->terms[k];
		if (term->owner_pid != e->pid)
			continue;
		f->n_panes++;
		if (term->idle < f->pane_idle) {
			f->pane_idle = term->idle;
			f->pane_pts = term->pts;
		}
	}
	if ((r = mux_clients(s, f, key)) < 0 ||
	    (r = inside_scan(s, e, s->idx, &f->busy, &f->work)) < 0)
		return r;
	return 1;
}

static int mux_collect(Scan *s, SessionFacts *ret)
{
	const ProcTable *t = s->in->procs;
	for (size_t i = 0; i < t->n; i++) {
		Role role = (Role)s->roles[i];
		if (role != ROLE_TMUX_SERVER && role != ROLE_SCREEN_SERVER)
			continue;
		if (ret->n_multiplexers >= MULTIPLEXERS_MAX) {
			ret->n_multiplexers_dropped++;
			continue;
		}
		MultiplexerFacts *f = &ret->multiplexers[ret->n_multiplexers];
		int r = mux_describe(s, &t->entries[i], role, f);
		if (r < 0)
			return r;
		if (r > 0)
			ret->n_multiplexers++;
	}
	return 0;
}

/* The Jupyter server a kernel runs under: the nearest ancestor that is one, up to the first
 * session owner (sshd, tmux …). NULL when none (VS Code, nbclient), or -errno in *r. */
static const ProcEntry *kernel_server_find(Scan *s, const ProcEntry *kernel, int *r)
{
	const ProcTable *t = s->in->procs;
	const ProcEntry *p = proc_table_parent(t, kernel);
	*r = 0;
	for (size_t steps = 0; p && p->pid > 1 && steps <= t->n; steps++) {
		Role role = (Role)s->roles[proc_table_index(t, p)];
		if (role != ROLE_NONE && role != ROLE_KERNEL)
			return NULL;
		if (startswith(p->comm, "jupyter"))
			return p;
		*r = patterns_match(s, p, server_patterns);
		if (*r < 0)
			return NULL;
		if (*r > 0)
			return p;
		p = proc_table_parent(t, p);
	}
	return NULL;
}

/* The server's program for a human: comm keeps 15 characters ("jupyter-noteboo"), so a
 * script run by python (`python3 /usr/bin/jupyter-notebook`) is named by its path, and
 * `python3 -m jupyterlab` by its module. */
static int server_name(Scan *s, const ProcEntry *server, char *buf, size_t size)
{
	Argv a;
	text_sanitize(buf, size, server->comm);
	int r = argv_read(s, server->pid, &a);
	if (r <= 0)
		return r;
	if (a.n < 2 || !startswith(path_basename(a.v[0]), "python"))
		return 0;
	if (streq(a.v[1], "-m") && a.n >= 3)
		strscpy(buf, size, a.v[2]);
	else if (a.v[1][0] != '-')
		strscpy(buf, size, path_basename(a.v[1]));
	return 0;
}

static int kernel_describe(Scan *s, const ProcEntry *e, JupyterKernelFacts *f)
{
	*f = (JupyterKernelFacts){ .pid = e->pid, .uid = e->uid };
	user_name(e->uid, f->user, sizeof(f->user));
	int r;
	const ProcEntry *server = kernel_server_find(s, e, &r);
	if (r < 0)
		return r;
	if (server) {
		f->server_pid = server->pid;
		if ((r = server_name(s, server, f->server, sizeof(f->server))) < 0)
			return r;
	}
	busy_consider(&f->busy, e, cpu_percent(s, e));
	return inside_scan(s, e, s->idx, &f->busy, &f->work);
}

static int kernels_collect(Scan *s, SessionFacts *ret)
{
	const ProcTable *t = s->in->procs;
	for (size_t i = 0; i < t->n; i++) {
		if (s->roles[i] != ROLE_KERNEL)
			continue;
		if (ret->n_kernels >= JUPYTER_KERNELS_MAX) {
			ret->n_kernels_dropped++;
			continue;
		}
		int r = kernel_describe(s, &t->entries[i], &ret->kernels[ret->n_kernels]);
		if (r < 0)
			return r;
		ret->n_kernels++;
	}
	return 0;
}

static int term_idle_cmp(const void *a, const void *b)
{
	usec_t x = ((const TerminalFacts *)a)->idle, y = ((const TerminalFacts *)b)->idle;
	return (x > y) - (x < y);
}

/* Keeps the most recently used terminals: every dropped one is older than every kept one. */
static void terms_publish(Scan *s, SessionFacts *ret)
{
	if (s->n_terms > TERMINALS_MAX)
		qsort(s->terms, s->n_terms, sizeof(*s->terms), term_idle_cmp);
	ret->n_terminals = MIN(s->n_terms, (size_t)TERMINALS_MAX);
	ret->n_terminals_dropped = s->n_terms - ret->n_terminals;
	for (size_t i = ret->n_terminals; i < s->n_terms; i++) {
		const TerminalFacts *term = &s->terms[i];
		if ((term->owner == SESSION_OWNER_OTHER || term->owner == SESSION_OWNER_SSHD) &&
		    term->busy.percent > ret->dropped_terminals_busy.percent)
			ret->dropped_terminals_busy = term->busy;
	}
	memcpy(ret->terminals, s->terms, ret->n_terminals * sizeof(*s->terms));
}

static size_t processes_on_terminals(const ProcTable *t)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n; i++)
		if (pts_from_tty_nr(t->entries[i].tty_nr) >= 0 && t->entries[i].state != 'Z')
			n++;
	return n;
}

int sessions_probe(const SessionsInput *in, SessionFacts *ret, char *err, size_t errlen)
{
	const ProcTable *t = in->procs;
	Scan s = { .in = in, .err = err, .errlen = errlen };
	int r = -ENOMEM;

	*ret = (SessionFacts){ 0 };
	s.roles = calloc(MAX(t->n, (size_t)1), 1);
	/* Room for one terminal per process that has one: on a machine with thousands of
	 * processes a table per process would be most of the daemon's peak memory. */
	s.terms = calloc(MAX(processes_on_terminals(t), (size_t)1), sizeof(*s.terms));
	s.idx = calloc(MAX(t->n, (size_t)1), sizeof(*s.idx));
	if (!s.roles || !s.terms || !s.idx) {
		snprintf(err, errlen, "out of memory");
		goto finish;
	}
	if ((r = roles_assign(&s, ret)) < 0)
		goto finish;
	terms_collect(&s);
	if ((r = terms_describe(&s)) < 0)
		goto finish;
	ssm_collect(&s, ret);
	if ((r = mux_collect(&s, ret)) < 0 || (r = kernels_collect(&s, ret)) < 0 ||
	    (r = connections_describe(&s, ret)) < 0 || (r = vscode_collect(&s, ret)) < 0)
		goto finish;
	terms_publish(&s, ret);
	ret->valid = true;
finish:
	free(s.roles);
	free(s.terms);
	free(s.idx);
	if (r < 0)
		*ret = (SessionFacts){ 0 };
	return r < 0 ? r : 0;
}
