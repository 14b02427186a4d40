/* The session probe's multiplexers and notebooks: tmux and screen servers with their panes,
 * attached clients and what runs inside, and Jupyter kernels with the server above them.
 * Nothing is forked (`tmux ls` as root would only see root's server). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "proc-match.h"
#include "probe-sessions-scan.h"
#include "probe.h"

/* getopt-style options that take a value: tmux's "cfLST"; screen's, with -r and -x read as
 * taking their optional session name. */
#define TMUX_OPTS_WITH_ARG   "cfLST"
#define SCREEN_OPTS_WITH_ARG "cehprSsTtx"

/* The server above a kernel: `jupyter lab` execs jupyter-lab (so comm is "jupyter-lab"),
 * `python -m jupyterlab` keeps the interpreter's name. */
static char *const server_patterns[] = { "jupyter*",  "jupyterlab", "notebook", "jupyter_server",
	                                 "nbclassic", "voila",      NULL };

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

/* Whether a client process talks to server f (whose tmux socket key is server_key). */
static int client_matches(Scan *s, const ProcEntry *client, Role role, const MultiplexerFacts *f,
                          const char *server_key)
{
	if ((f->kind == SESSION_OWNER_TMUX) != (role == ROLE_TMUX_CLIENT))
		return 0;
	Argv a;
	int r = scan_argv_read(s, client->pid, &a);
	if (r <= 0)
		return r;
	if (f->kind == SESSION_OWNER_TMUX) {
		char key[512];
		tmux_socket_key(a.v, proc_table_uid(s->in->procs, client), key, sizeof(key));
		return streq(key, server_key);
	}
	/* screen -r/-x [PID.]NAME of the same user (multiuser sessions aside). */
	if (proc_table_uid(s->in->procs, client) != f->uid)
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
		                 .uid = proc_table_uid(s->in->procs, e),
		                 .pane_idle = USEC_INFINITY,
		                 .client_idle = USEC_INFINITY };
	user_name(f->uid, f->user, sizeof(f->user));

	Argv a;
	int r = scan_argv_read(s, e->pid, &a);
	if (r <= 0)
		return r; /* gone: 0, and the caller drops it */
	char key[512] = "";
	multiplexer_session_name(kind, a.v, f->name, sizeof(f->name));
	if (kind == SESSION_OWNER_TMUX)
		tmux_socket_key(a.v, f->uid, key, sizeof(key));

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

int mux_collect(Scan *s, SessionFacts *ret)
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
		*r = scan_patterns_match(s, p, server_patterns);
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
	int r = scan_argv_read(s, server->pid, &a);
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
	*f = (JupyterKernelFacts){ .pid = e->pid, .uid = proc_table_uid(s->in->procs, e) };
	user_name(f->uid, f->user, sizeof(f->user));
	int r;
	const ProcEntry *server = kernel_server_find(s, e, &r);
	if (r < 0)
		return r;
	if (server) {
		f->server_pid = server->pid;
		if ((r = server_name(s, server, f->server, sizeof(f->server))) < 0)
			return r;
	}
	busy_consider(&f->busy, e, scan_cpu_percent(s, e));
	return inside_scan(s, e, s->idx, &f->busy, &f->work);
}

int kernels_collect(Scan *s, SessionFacts *ret)
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
