/* The table's views of its processes: the command line and the executable of a candidate, read
 * at most once per check and shared by every probe that asks (one limit, PROC_CMDLINE_MAX), the
 * executable carried from the previous check while the process is the same; and the plain
 * readers of /proc/PID/cmdline and /proc/PID/exe. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc-table.h"

/* One process's command line and executable as read this check. */
typedef struct ProcView {
	char **argv; /* one allocation: the pointers, then the strings */
	size_t argc;
	char *exe;
	int argv_r, exe_r; /* 0 or the -errno of the read */
	bool argv_read, exe_read;
} ProcView;

struct ProcViews {
	ProcView *v;
	size_t n, cap;
};

static ProcView *view_get(const ProcTable *t, const ProcEntry *e);

/* The executable of a candidate, known from the previous check: it changes only with an exec,
 * which changes comm too. Saves a readlink per candidate and check; argv is read anew (sshd
 * and others retitle themselves without a new comm). */
static void view_exe_carry(ProcTable *now, const ProcEntry *e, const ProcTable *prev,
                           const ProcEntry *p)
{
	if (!p->view)
		return;
	const ProcView *pv = &prev->views->v[p->view - 1];
	if (!pv->exe_read || pv->exe_r == -ENOMEM)
		return;
	ProcView *v = view_get(now, e);
	if (!v)
		return;
	v->exe_read = true;
	v->exe_r = pv->exe_r;
	if (pv->exe && !(v->exe = strdup(pv->exe)))
		v->exe_read = false; /* read it again when asked */
}

int proc_table_carry(ProcTable *now, const ProcTable *prev, char *err, size_t errlen)
{
	int r = 0;
	/* Both are sorted by pid: one walk side by side. */
	for (size_t i = 0, j = 0; i < now->n && prev && j < prev->n;) {
		ProcEntry *e = &now->entries[i];
		const ProcEntry *p = &prev->entries[j];
		if (p->pid < e->pid) {
			j++;
			continue;
		}
		i++;
		if (p->pid > e->pid || p->starttime != e->starttime)
			continue;
		j++;
		if (streq(p->comm, e->comm)) {
			e->exe_class = p->exe_class;
			view_exe_carry(now, e, prev, p);
		}
		if (e->cpu_ticks < p->cpu_ticks && r == 0) {
			snprintf(err, errlen,
			         "%s/%d/stat: CPU time went back from %" PRIu64 " to %" PRIu64
			         " ticks",
			         strempty(now->proc_root), (int)e->pid, p->cpu_ticks, e->cpu_ticks);
			r = -ERANGE;
		}
	}
	return r;
}

/* e's view, made on first use; NULL when out of memory or the table has no view store. */
static ProcView *view_get(const ProcTable *t, const ProcEntry *e)
{
	ProcViews *vs = t->views;
	ProcEntry *m = &t->entries[proc_table_index(t, e)];
	if (m->view)
		return &vs->v[m->view - 1];
	if (!vs || vs->n >= UINT32_MAX)
		return NULL;
	if (vs->n == vs->cap) {
		size_t ncap = vs->cap ? vs->cap * 2 : 16;
		ProcView *n = realloc(vs->v, ncap * sizeof(*n));
		if (!n)
			return NULL;
		vs->v = n;
		vs->cap = ncap;
	}
	vs->v[vs->n] = (ProcView){ 0 };
	m->view = (uint32_t)++vs->n;
	return &vs->v[vs->n - 1];
}

/* Reads e's argv into v as one allocation. Returns 0 or -errno. */
static int view_argv_read(const ProcTable *t, const ProcEntry *e, ProcView *v)
{
	char buf[PROC_CMDLINE_MAX];
	size_t argc, len = 0;
	int r = proc_cmdline_read(t->proc_root, e->pid, buf, sizeof(buf), &argc);
	if (r < 0 || argc == 0)
		return r;
	for (size_t i = 0; i < argc; i++)
		len += strlen(buf + len) + 1;
	char **argv = malloc((argc + 1) * sizeof(char *) + len);
	if (!argv)
		return -ENOMEM;
	char *strings = (char *)(argv + argc + 1);
	memcpy(strings, buf, len);
	for (size_t i = 0; i < argc; i++) {
		argv[i] = strings;
		strings += strlen(strings) + 1;
	}
	argv[argc] = NULL;
	v->argv = argv;
	v->argc = argc;
	return 0;
}

int proc_table_argv(const ProcTable *t, const ProcEntry *e, char *const **ret_argv,
                    size_t *ret_argc)
{
	*ret_argv = NULL;
	*ret_argc = 0;
	ProcView *v = view_get(t, e);
	if (!v)
		return -ENOMEM;
	if (!v->argv_read) {
		v->argv_read = true;
		v->argv_r = view_argv_read(t, e, v);
	}
	*ret_argv = v->argv;
	*ret_argc = v->argc;
	return v->argv_r;
}

int proc_table_exe(const ProcTable *t, const ProcEntry *e, const char **ret_exe)
{
	*ret_exe = NULL;
	ProcView *v = view_get(t, e);
	if (!v)
		return -ENOMEM;
	if (!v->exe_read) {
		char buf[PATH_MAX];
		v->exe_read = true;
		v->exe_r = e->kthread ? -ENOENT
		                      : proc_exe_read(t->proc_root, e->pid, buf, sizeof(buf));
		if (v->exe_r == 0 && !(v->exe = strdup(buf)))
			v->exe_r = -ENOMEM;
	}
	*ret_exe = v->exe;
	return v->exe_r;
}

int proc_cmdline_read(const char *proc_root, pid_t pid, char *buf, size_t size, size_t *ret_argc)
{
	char path[256];
	if (size < 2)
		return -ENOBUFS;
	snprintf(path, sizeof(path), "%s/%d/cmdline", proc_root, (int)pid);
	/* One byte kept back for the final NUL a rewritten argv may lack. */
	ssize_t k = read_small_fileat(AT_FDCWD, path, buf, size - 1);
	if (k < 0)
		return k == -ENOENT ? -ESRCH : (int)k;
	size_t n = (size_t)k;
	/* A process may overwrite its argv without a final NUL (setproctitle); terminate it. */
	if (n > 0 && buf[n - 1] != '\0')
		buf[n++] = '\0';
	buf[n] = '\0';
	size_t argc = 0;
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			argc++;
	*ret_argc = argc;
	return 0;
}

void proc_cmdline_join(const char *argv_buf, size_t argc, char *out, size_t size)
{
	if (size == 0)
		return;
	out[0] = '\0';
	const char *a = argv_buf;
	for (size_t i = 0; i < argc; i++) {
		strappendf(out, size, "%s%s", i ? " " : "", a);
		a += strlen(a) + 1;
	}
	/* Newlines and other control bytes would break a one-line journal record; the rest
	 * (DEL, C1, invalid UTF-8) would reach terminals and JSON. */
	for (char *c = out; *c; c++)
		if ((unsigned char)*c < 0x20)
			*c = ' ';
	text_sanitize(out, size, out);
}

int proc_exe_read(const char *proc_root, pid_t pid, char *buf, size_t size)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%d/exe", proc_root, (int)pid);
	ssize_t n = readlink(path, buf, size - 1);
	if (n < 0) {
		if (errno != ENOENT)
			return -errno;
		/* ENOENT is both "gone" and "kernel thread, no exe"; the directory tells. */
		char dir[256];
		snprintf(dir, sizeof(dir), "%s/%d", proc_root, (int)pid);
		return access(dir, F_OK) < 0 ? -ESRCH : -ENOENT;
	}
	buf[n] = '\0';
	char *deleted = strstr(buf, " (deleted)");
	if (deleted && deleted[10] == '\0')
		*deleted = '\0';
	return 0;
}

const char *path_basename(const char *s)
{
	const char *slash = strrchr(s, '/');
	return slash ? slash + 1 : s;
}

ProcViews *proc_views_new(void)
{
	return calloc(1, sizeof(ProcViews));
}

void proc_views_free(ProcViews *vs)
{
	if (!vs)
		return;
	for (size_t i = 0; i < vs->n; i++) {
		free(vs->v[i].argv);
		free(vs->v[i].exe);
	}
	free(vs->v);
	free(vs);
}
