/* CPU busy share from the aggregate "cpu" line of /proc/stat, averaged over the whole interval
 * between two checks (the seed sampled one second, which misses bursty work), and the busiest
 * processes of login users over the same interval. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"

int cpu_counters_parse(const char *text, CpuCounters *ret)
{
	uint64_t v[8] = { 0 };
	const char *p = startswith(text, "cpu");
	if (!p || (*p != ' ' && *p != '\t'))
		return -EBADMSG;
	/* user nice system idle iowait irq softirq steal guest guest_nice; guest time is already
	 * counted in user, so it is not added again. At least the first four must be there (Linux
	 * 2.6 has all eight); odd text is an error, never a guess, since a wrong number could read
	 * as idle. */
	int n = 0;
	for (; n < 8; n++) {
		const char *q = p;
		while (*q == ' ' || *q == '\t')
			q++;
		if (*q == '\n' || *q == '\0')
			break;
		if (proc_parse_u64(&p, &v[n]) < 0)
			return -EBADMSG;
	}
	if (n < 4)
		return -EBADMSG;
	uint64_t total = 0;
	for (int i = 0; i < n; i++) {
		if (total > UINT64_MAX - v[i])
			return -EBADMSG;
		total += v[i];
	}
	*ret = (CpuCounters){ .valid = true, .busy = total - v[3] - v[4], .total = total };
	return 0;
}

int cpu_counters_read(const char *proc_root, CpuCounters *ret, char *err, size_t errlen)
{
	char path[256], buf[4096];
	snprintf(path, sizeof(path), "%s/stat", proc_root);
	ssize_t n = read_small_file(path, buf, sizeof(buf));
	if (n < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror((int)-n));
		return (int)n;
	}
	if (cpu_counters_parse(buf, ret) < 0) {
		snprintf(err, errlen, "%s: no aggregate 'cpu' line", path);
		return -EBADMSG;
	}
	return 0;
}

int cpu_busy_percent(const CpuCounters *prev, const CpuCounters *now, double *ret)
{
	if (!prev->valid || !now->valid)
		return -EINVAL;
	/* The total counts every CPU's time, idle or not, so it grows on a running machine
	 * whatever it does (100 ticks a second per CPU). Standing still or going back, it says
	 * nothing about the interval, least of all "0 % busy". */
	if (now->total == prev->total)
		return -EAGAIN;
	if (now->total < prev->total || now->busy < prev->busy)
		return -ERANGE;
	double p = 100.0 * (double)(now->busy - prev->busy) / (double)(now->total - prev->total);
	*ret = p > 100.0 ? 100.0 : p;
	return 0;
}

static bool is_login_user(uid_t uid)
{
	if (uid >= DYNAMIC_UID_MIN && uid <= DYNAMIC_UID_MAX)
		return false;
	return uid >= USER_UID_MIN && uid != USER_UID_NOBODY && uid != (uid_t)-1;
}

/* Inserts p into the busiest-first list, dropping the least busy when full. */
static void busiest_insert(UserProcFacts *f, const BusyUserProc *p)
{
	size_t n = MIN(f->n, (size_t)BUSY_USER_PROCS_MAX), i = n;
	if (n == BUSY_USER_PROCS_MAX && p->percent <= f->procs[n - 1].percent)
		return;
	if (n == BUSY_USER_PROCS_MAX)
		i = n - 1;
	for (; i > 0 && f->procs[i - 1].percent < p->percent; i--)
		f->procs[i] = f->procs[i - 1];
	f->procs[i] = *p;
}

void user_procs_probe(const ProcTable *now, const ProcTable *prev, unsigned long ticks_per_sec,
                      UserProcFacts *ret)
{
	*ret = (UserProcFacts){ 0 };
	if (!prev || prev->n == 0)
		return; /* no interval to measure over: no facts, not "nobody computes" */
	for (size_t i = 0; i < now->n; i++) {
		const ProcEntry *e = &now->entries[i];
		if (e->state == 'Z')
			continue;
		double pct = proc_cpu_percent(prev, now, e, ticks_per_sec);
		if (pct <= 0)
			continue;
		/* Asked only of the processes that used CPU. One whose owner cannot be read
		 * (not gone, which the scan would have skipped a moment earlier) counts as a
		 * user's: when unsure, active. */
		uid_t uid;
		int r = proc_table_owner(now, e, &uid);
		if (r == -ESRCH || (r == 0 && !is_login_user(uid)))
			continue;
		BusyUserProc p = { .pid = e->pid, .uid = uid, .percent = pct };
		text_sanitize(p.comm, sizeof(p.comm), e->comm);
		busiest_insert(ret, &p);
		ret->n++;
	}
	for (size_t i = 0; i < MIN(ret->n, (size_t)BUSY_USER_PROCS_MAX); i++)
		user_name(ret->procs[i].uid, ret->procs[i].user, sizeof(ret->procs[i].user));
	ret->valid = true;
}
