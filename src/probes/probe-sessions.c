/* Sessions from the process table: which /dev/pts/N are controlling terminals and what owns
 * each (sshd, ssm-session-worker, tmux, screen), SSH connections without a terminal, SSM
 * sessions, every user's tmux and screen servers and Jupyter kernels with what runs inside
 * them. Nothing is cached between checks; nothing is forked (`tmux ls` as root would only see
 * root's server, and a Jupyter server's API would need its user's token).
 *
 * This file: the scan, each process's role and the terminals; SSH, SSM and VS Code
 * connections are in probe-sessions-remote.c, tmux, screen and Jupyter in
 * probe-sessions-mux.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "proc-match.h"
#include "probe-sessions-scan.h"
#include "probe.h"

/* UNIX98 pty slaves: majors 136..143, minor N within each. */
#define PTS_MAJOR_FIRST 136
#define PTS_MAJOR_LAST  143

/* A Jupyter kernel is started as `python -m ipykernel_launcher -f kernel-ID.json` (Jupyter
 * Server, Notebook, Lab, VS Code), older ones as a script path. */
static char *const kernel_patterns[] = { "ipykernel_launcher", "ipykernel_launcher.py", "ipykernel",
	                                 NULL };

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
int scan_argv_read(Scan *s, pid_t pid, Argv *a)
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

/* Whether process e matches patterns, as every signal asks it (proc_match). Returns 1, 0 (no
 * match, or gone) or -errno. */
int scan_patterns_match(Scan *s, const ProcEntry *e, char *const *patterns)
{
	const char *match;
	int r = proc_match(s->in->procs, e, patterns, &match);
	if (r < 0)
		snprintf(s->err, s->errlen, "%s/%d/cmdline: %s", s->in->proc_root, (int)e->pid,
		         strerror(-r));
	return r;
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
			if ((r = scan_argv_read(s, e->pid, &a)) < 0)
				return r;
			if (r > 0 && a.n > 0)
				s->roles[i] = streq(path_basename(a.v[0]), "SCREEN")
				                      ? ROLE_SCREEN_SERVER
				                      : ROLE_SCREEN_CLIENT;
		} else if (is_sshd_comm(e->comm)) {
			s->roles[i] = ROLE_SSHD;
			Argv a;
			if ((r = scan_argv_read(s, e->pid, &a)) < 0)
				return r;
			if (r == 0 || a.n == 0 || !sshd_title_is_connection(a.v[0]))
				continue;
			if (ret->n_ssh >= SSH_CONNECTIONS_MAX) {
				ret->n_ssh_dropped++;
				continue;
			}
			SshConnectionFacts *c = &ret->ssh[ret->n_ssh++];
			*c = (SshConnectionFacts){ .pid = e->pid, .uid = proc_table_uid(t, e) };
			user_name(c->uid, c->user, sizeof(c->user));
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
			if ((r = scan_patterns_match(s, e, kernel_patterns)) < 0)
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
TerminalFacts *term_find(const Scan *s, unsigned pts, pid_t session)
{
	for (size_t i = 0; i < s->n_terms; i++)
		if (s->terms[i].pts == pts && s->terms[i].session == session)
			return &s->terms[i];
	return NULL;
}

/* CPU of e over the interval since the previous check, % of one CPU. */
double scan_cpu_percent(const Scan *s, const ProcEntry *e)
{
	return proc_cpu_percent(s->in->prev, s->in->procs, e, s->in->ticks_per_sec);
}

void busy_consider(BusyProc *b, const ProcEntry *e, double percent)
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
		busy_consider(&term->busy, e, scan_cpu_percent(s, e));
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

/* The Neuron or ML question for one process inside a session, with the other signals' own
 * matchers and lists (proc-match.h). Returns 1 with *ret filled, 0 for neither (or gone),
 * 0 > r for a read error. */
int work_match(Scan *s, const ProcEntry *e, WorkProc *ret)
{
	const Config *c = s->in->config;
	Signal sig;
	int r;
	if ((r = scan_patterns_match(s, e, c->neuron_processes)) != 0)
		sig = SIGNAL_NEURON_PROCESS;
	else if ((r = scan_patterns_match(s, e, c->ml_processes)) != 0)
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
int inside_scan(Scan *s, const ProcEntry *root, size_t *idx, BusyProc *busy, WorkProc *work)
{
	const ProcTable *t = s->in->procs;
	size_t n = proc_table_descendants(t, root, idx, t->n);
	for (size_t k = 0; k < n; k++) {
		const ProcEntry *e = &t->entries[idx[k]];
		busy_consider(busy, e, scan_cpu_percent(s, e));
		if (work->pid != 0)
			continue;
		int r = work_match(s, e, work);
		if (r < 0)
			return r;
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
