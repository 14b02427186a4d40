/* The process table: one readdir of /proc and one read of each /proc/PID/stat per check. What a
 * check reads beyond the stat lines (command lines, executables) is in proc-views.c. A little
 * over 400 lines: the stat parser, the scan and the lookups share the entry's layout. */
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
	/* Joined by hand: snprintf() per process was a twentieth of the daemon's instructions. name
	 * is a d_name, so it fits. */
	char path[sizeof(((struct dirent *)0)->d_name) + sizeof("/stat")];
	size_t len = strnlen(name, sizeof(((struct dirent *)0)->d_name) - 1);
	memcpy(path, name, len);
	memcpy(path + len, "/stat", sizeof("/stat"));
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
	e->owner = PROC_OWNER_UNREAD;
	e->uid = (uid_t)-1;
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
	if (t->n >= UINT32_MAX)
		return -ENOMEM;
	t->child_index = malloc(MAX(t->n, (size_t)1) * sizeof(*t->child_index));
	if (!t->child_index)
		return -ENOMEM;
	uint32_t *parent = malloc(MAX(t->n, (size_t)1) * sizeof(*parent));
	if (!parent)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		t->entries[i].n_children = 0;
		const ProcEntry *p = proc_table_parent(t, &t->entries[i]);
		parent[i] = p ? (uint32_t)proc_table_index(t, p) : UINT32_MAX;
		if (p)
			t->entries[parent[i]].n_children++;
	}
	uint32_t at = 0;
	for (size_t i = 0; i < t->n; i++) {
		t->entries[i].first_child = at;
		at += t->entries[i].n_children;
		t->entries[i].n_children = 0;
	}
	for (size_t i = 0; i < t->n; i++) {
		if (parent[i] == UINT32_MAX)
			continue;
		ProcEntry *p = &t->entries[parent[i]];
		t->child_index[p->first_child + p->n_children++] = (uint32_t)i;
	}
	free(parent);
	return 0;
}

/* The table is kept until the next check's is made: two at a time. Doubling left up to half of
 * it unused (8192 places for 5,000 processes); a big block shrinks in place (mremap). */
static void entries_fit(ProcTable *t, size_t cap)
{
	if (t->n == 0 || t->n == cap)
		return;
	ProcEntry *fit = realloc(t->entries, t->n * sizeof(*fit));
	if (fit)
		t->entries = fit;
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
	entries_fit(&t, cap);
	if (r >= 0 && !(t.views = proc_views_new())) {
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
	proc_views_free(t->views);
	free(t->entries);
	free(t->child_index);
	*t = (ProcTable){ 0 };
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

int proc_table_owner(const ProcTable *t, const ProcEntry *e, uid_t *ret)
{
	ProcEntry *m = &t->entries[proc_table_index(t, e)];
	if (m->owner == PROC_OWNER_UNREAD) {
		char path[PATH_MAX];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%d", strempty(t->proc_root), (int)e->pid);
		/* Milliseconds after the scan: for the pid to name another process by now, the
		 * kernel would have had to go round its whole pid space. */
		if (stat(path, &st) == 0) {
			m->owner = PROC_OWNER_READ;
			m->uid = st.st_uid;
		} else
			m->owner = is_gone(-errno) ? PROC_OWNER_GONE : PROC_OWNER_FAILED;
	}
	*ret = m->uid;
	return m->owner == PROC_OWNER_READ ? 0 : m->owner == PROC_OWNER_GONE ? -ESRCH : -EIO;
}

size_t proc_table_owners_failed(const ProcTable *t, pid_t *ret_first)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n; i++)
		if (t->entries[i].owner == PROC_OWNER_FAILED && n++ == 0)
			*ret_first = t->entries[i].pid;
	return n;
}

uid_t proc_table_uid(const ProcTable *t, const ProcEntry *e)
{
	uid_t uid;
	(void)proc_table_owner(t, e, &uid);
	return uid;
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
