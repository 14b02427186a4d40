/* The process table: one readdir of /proc and one read of each /proc/PID/stat per check, and
 * the per-check view of a candidate's argv and exe. One file although it is long: the view's
 * cache lives in the table's entries, and every parser of /proc/PID text (stat, status,
 * cmdline, exe) is here so that each process is read and split in one way only. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "proc-table.h"

/* include/linux/sched.h: the task is a kernel thread. */
#define PF_KTHREAD 0x00200000

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

/* Reads the next unsigned decimal field after blanks; fails on anything else. */
static bool field_u64(const char **p, uint64_t *ret)
{
	const char *s = *p;
	while (*s == ' ')
		s++;
	if (*s < '0' || *s > '9')
		return false;
	uint64_t v = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (*s != ' ' && *s != '\n' && *s != '\0')
		return false;
	*ret = v;
	*p = s;
	return true;
}

/* Signed variant: ppid, pgrp, tty_nr and tpgid can be -1 or 0. */
static bool field_i64(const char **p, int64_t *ret)
{
	const char *s = *p;
	while (*s == ' ')
		s++;
	bool neg = *s == '-';
	if (neg)
		s++;
	uint64_t v;
	if (!field_u64(&s, &v) || v > INT64_MAX)
		return false;
	*ret = neg ? -(int64_t)v : (int64_t)v;
	*p = s;
	return true;
}

static bool fields_skip(const char **p, int n)
{
	int64_t dummy;
	for (int i = 0; i < n; i++)
		if (!field_i64(p, &dummy))
			return false;
	return true;
}

int proc_stat_parse(const char *text, ProcEntry *ret)
{
	uint64_t pid;
	const char *p = text;
	if (!field_u64(&p, &pid) || pid == 0 || pid > INT32_MAX)
		return -EBADMSG;
	if (!(p = startswith(p, " (")))
		return -EBADMSG;
	const char *close = strrchr(p, ')');
	if (!close)
		return -EBADMSG;

	ProcEntry e = { .pid = (pid_t)pid };
	size_t len = MIN((size_t)(close - p), sizeof(e.comm) - 1);
	memcpy(e.comm, p, len);
	e.comm[len] = '\0';

	p = close + 1;
	if (p[0] != ' ' || p[1] == '\0' || p[1] == ' ' || p[1] == '\n')
		return -EBADMSG;
	e.state = p[1];
	p += 2;

	int64_t ppid, pgrp, session, tty_nr, tpgid;
	uint64_t flags, utime, stime, cutime, cstime, starttime;
	/* 4 ppid 5 pgrp 6 session 7 tty_nr 8 tpgid 9 flags 10-13 faults 14 utime 15 stime
	 * 16 cutime 17 cstime 18 priority 19 nice 20 num_threads 21 itrealvalue 22 starttime */
	if (!field_i64(&p, &ppid) || !field_i64(&p, &pgrp) || !field_i64(&p, &session) ||
	    !field_i64(&p, &tty_nr) || !field_i64(&p, &tpgid) || !field_u64(&p, &flags) ||
	    !fields_skip(&p, 4) || !field_u64(&p, &utime) || !field_u64(&p, &stime) ||
	    !field_u64(&p, &cutime) || !field_u64(&p, &cstime) || !fields_skip(&p, 4) ||
	    !field_u64(&p, &starttime))
		return -EBADMSG;
	if (ppid < 0 || ppid > INT32_MAX || pgrp < INT32_MIN || pgrp > INT32_MAX ||
	    session < INT32_MIN || session > INT32_MAX || tty_nr < INT32_MIN ||
	    tty_nr > INT32_MAX || tpgid < INT32_MIN || tpgid > INT32_MAX ||
	    utime > UINT64_MAX - stime || cutime > UINT64_MAX - cstime ||
	    utime + stime > UINT64_MAX - (cutime + cstime))
		return -EBADMSG;

	e.ppid = (pid_t)ppid;
	e.pgrp = (pid_t)pgrp;
	e.session = (pid_t)session;
	e.tty_nr = (int)tty_nr;
	e.tpgid = (pid_t)tpgid;
	e.kthread = flags & PF_KTHREAD;
	/* Children's time arrives in cutime only when the child is reaped, so adding it never
	 * counts a live child twice. A child that was alive at the previous check and reaped
	 * since brings its whole life's CPU into this interval: that errs towards active, once. */
	e.cpu_ticks = utime + stime + cutime + cstime;
	e.starttime = starttime;
	e.uid = ret->uid;
	e.first_child = ret->first_child;
	e.n_children = ret->n_children;
	*ret = e;
	return 0;
}

static bool is_gone(int r)
{
	return r == -ENOENT || r == -ESRCH;
}

static ssize_t stat_read(int dirfd, const char *name, char *buf, size_t size)
{
	char path[sizeof(((struct dirent *)0)->d_name) + 8];
	snprintf(path, sizeof(path), "%s/stat", name);
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	/* The kernel renders the whole stat line in one read (a seq_file single_open), so one
	 * read(2) suffices: the usual second read to see EOF was a sixth of the scan's cost. A
	 * line that fills the buffer is cut and fails to parse, which is reported, not guessed. */
	ssize_t k;
	do
		k = read(fd, buf, size - 1);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return -errno;
	buf[k] = '\0';
	return k;
}

static bool is_pid_name(const char *s)
{
	if (*s < '1' || *s > '9')
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static int entries_append(ProcTable *t, size_t *cap, const ProcEntry *e)
{
	if (t->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 256;
		ProcEntry *n = realloc(t->entries, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		t->entries = n;
		*cap = ncap;
	}
	t->entries[t->n++] = *e;
	return 0;
}

/* Reads one process into e. Returns 1 when read, 0 when it exited meanwhile, or -errno. */
static int entry_read(int dirfd, const char *proc_root, const char *name, ProcEntry *e, char *err,
                      size_t errlen)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, 0) < 0) {
		if (is_gone(-errno))
			return 0;
		snprintf(err, errlen, "%s/%s: %s", proc_root, name, strerror(errno));
		return -errno;
	}
	char buf[1024];
	ssize_t n = stat_read(dirfd, name, buf, sizeof(buf));
	if (n == 0 || is_gone((int)n))
		return 0;
	if (n < 0) {
		snprintf(err, errlen, "%s/%s/stat: %s", proc_root, name, strerror((int)-n));
		return (int)n;
	}
	if (proc_stat_parse(buf, e) < 0) {
		snprintf(err, errlen, "%s/%s/stat: cannot parse '%.40s'", proc_root, name, buf);
		return -EBADMSG;
	}
	e->uid = st.st_uid;
	return 1;
}

static int entry_cmp(const void *a, const void *b)
{
	pid_t x = ((const ProcEntry *)a)->pid, y = ((const ProcEntry *)b)->pid;
	return (x > y) - (x < y);
}

/* Groups children by parent: counts per parent, prefix sums, then fills. */
static int children_index(ProcTable *t)
{
	t->child_index = malloc(MAX(t->n, (size_t)1) * sizeof(size_t));
	if (!t->child_index)
		return -ENOMEM;
	size_t *parent = malloc(MAX(t->n, (size_t)1) * sizeof(size_t));
	if (!parent)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		t->entries[i].n_children = 0;
		const ProcEntry *p = proc_table_parent(t, &t->entries[i]);
		parent[i] = p ? proc_table_index(t, p) : SIZE_MAX;
		if (p)
			t->entries[parent[i]].n_children++;
	}
	size_t at = 0;
	for (size_t i = 0; i < t->n; i++) {
		t->entries[i].first_child = at;
		at += t->entries[i].n_children;
		t->entries[i].n_children = 0;
	}
	for (size_t i = 0; i < t->n; i++) {
		if (parent[i] == SIZE_MAX)
			continue;
		ProcEntry *p = &t->entries[parent[i]];
		t->child_index[p->first_child + p->n_children++] = i;
	}
	free(parent);
	return 0;
}

int proc_table_scan(const char *proc_root, ProcTable *ret, char *err, size_t errlen)
{
	ProcTable t = { 0 };
	size_t cap = 0;
	int r = 0;

	DIR *d = opendir(proc_root);
	if (!d) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", proc_root, strerror(errno));
		return r;
	}
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno != 0) {
				r = -errno;
				snprintf(err, errlen, "%s: %s", proc_root, strerror(errno));
			}
			break;
		}
		if (!is_pid_name(de->d_name))
			continue;
		ProcEntry e;
		r = entry_read(dirfd(d), proc_root, de->d_name, &e, err, errlen);
		if (r < 0)
			break;
		if (r > 0 && (r = entries_append(&t, &cap, &e)) < 0) {
			snprintf(err, errlen, "%s: out of memory", proc_root);
			break;
		}
		r = 0;
	}
	closedir(d);
	if (r >= 0 && !(t.views = calloc(1, sizeof(*t.views)))) {
		r = -ENOMEM;
		snprintf(err, errlen, "%s: out of memory", proc_root);
	}
	if (r >= 0) {
		/* No process at all (an empty proc_root) leaves entries NULL: qsort must not see it. */
		if (t.n > 0)
			qsort(t.entries, t.n, sizeof(*t.entries), entry_cmp);
		r = children_index(&t);
		if (r < 0)
			snprintf(err, errlen, "%s: out of memory", proc_root);
	}
	if (r < 0) {
		proc_table_done(&t);
		return r;
	}
	t.proc_root = proc_root;
	*ret = t;
	return 0;
}

void proc_table_done(ProcTable *t)
{
	if (t->views) {
		for (size_t i = 0; i < t->views->n; i++) {
			free(t->views->v[i].argv);
			free(t->views->v[i].exe);
		}
		free(t->views->v);
		free(t->views);
	}
	free(t->entries);
	free(t->child_index);
	*t = (ProcTable){ 0 };
}

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

const ProcEntry *proc_table_find(const ProcTable *t, pid_t pid)
{
	if (!t || t->n == 0)
		return NULL;
	ProcEntry key = { .pid = pid };
	return bsearch(&key, t->entries, t->n, sizeof(*t->entries), entry_cmp);
}

const ProcEntry *proc_table_find_same(const ProcTable *t, const ProcEntry *e)
{
	const ProcEntry *o = proc_table_find(t, e->pid);
	return o && o->starttime == e->starttime ? o : NULL;
}

const ProcEntry *proc_table_parent(const ProcTable *t, const ProcEntry *e)
{
	if (e->ppid <= 0 || e->ppid == e->pid)
		return NULL;
	return proc_table_find(t, e->ppid);
}

size_t proc_table_descendants(const ProcTable *t, const ProcEntry *root, size_t *out, size_t cap)
{
	/* Breadth first with out as the queue. With one parent each, the only node a walk can
	 * reach twice is root itself (through a ppid cycle), so skipping root ends every cycle. */
	size_t root_i = proc_table_index(t, root), n = 0;
	const ProcEntry *p = root;
	for (size_t head = 0;; head++) {
		for (size_t k = 0; k < p->n_children; k++) {
			size_t c = t->child_index[p->first_child + k];
			if (c == root_i)
				continue;
			if (n < cap)
				out[n] = c;
			n++;
		}
		if (head >= n || head >= cap)
			return n;
		p = &t->entries[out[head]];
	}
}

bool proc_table_is_descendant(const ProcTable *t, const ProcEntry *e, const ProcEntry *ancestor)
{
	const ProcEntry *p = e;
	for (size_t steps = 0; steps < t->n; steps++) {
		p = proc_table_parent(t, p);
		if (!p || p == e)
			return false;
		if (p == ancestor)
			return true;
	}
	return false;
}

double proc_cpu_percent(const ProcTable *prev, const ProcTable *now, const ProcEntry *e,
                        unsigned long ticks_per_sec)
{
	if (!prev || !prev->entries || now->taken <= prev->taken || ticks_per_sec == 0)
		return 0.0;
	const ProcEntry *before = proc_table_find_same(prev, e);
	uint64_t used = e->cpu_ticks;
	if (before)
		used = e->cpu_ticks >= before->cpu_ticks ? e->cpu_ticks - before->cpu_ticks : 0;
	double sec = (double)(now->taken - prev->taken) / USEC_PER_SEC;
	return 100.0 * ((double)used / (double)ticks_per_sec) / sec;
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
