/* neuron-process, ml-process and neuron-device: facts from the shared process table, the
 * driver's sysfs counters and, only where those leave a device's holder unknown, /proc/PID/fd. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "probe-neuron.h"
#include "probe.h"
#include "proc-match.h"

/* A kernel thread holds no files and runs no programs: kthreadd (pid 2 in the initial PID
 * namespace, invisible in others, where pid 2 is an ordinary process) and its children. */
static bool kernel_thread(const ProcTable *t, const ProcEntry *e)
{
	pid_t kthreadd = e->pid == 2 ? 2 : e->ppid == 2 ? 2 : 0;
	if (!kthreadd)
		return false;
	const ProcEntry *k = proc_table_find(t, kthreadd);
	return k && k->ppid == 0 && streq(k->comm, "kthreadd");
}

static void procref_fill(ProcRef *r, const ProcTable *t, const ProcEntry *e, const char *match)
{
	*r = (ProcRef){ .pid = e->pid, .uid = proc_table_uid(t, e) };
	text_sanitize(r->comm, sizeof(r->comm), e->comm);
	strscpy(r->match, sizeof(r->match), strempty(match));
	char *const *argv;
	size_t argc;
	(void)proc_table_argv(t, e, &argv, &argc); /* empty when unreadable */
	if (argv)
		proc_cmdline_join(argv[0], argc, r->cmdline, sizeof(r->cmdline));
}

static void matched_add(MatchedProcs *m, const ProcTable *t, const ProcEntry *e, const char *match)
{
	if (m->n < MATCHED_PROCS_MAX)
		procref_fill(&m->procs[m->n], t, e, match);
	m->n++;
}

int neuron_processes_probe(const char *proc_root, const ProcTable *t, char *const *neuron_patterns,
                           char *const *ml_patterns, MatchedProcs *neuron, MatchedProcs *ml,
                           char *err, size_t errlen)
{
	*neuron = (MatchedProcs){ .valid = true };
	*ml = (MatchedProcs){ .valid = true };
	int ret = 0;
	for (size_t i = 0; i < t->n; i++) {
		const ProcEntry *e = &t->entries[i];
		if (kernel_thread(t, e))
			continue;
		const char *n_match, *m_match;
		int rn = proc_match(t, e, neuron_patterns, &n_match);
		int rm = proc_match(t, e, ml_patterns, &m_match);
		int r = rn < 0 ? rn : rm < 0 ? rm : 0;
		if (r < 0 && ret == 0) {
			/* Judged on comm and exe alone; say the cmdline could not be read. */
			snprintf(err, errlen, "%s/%d/cmdline: %s", proc_root, (int)e->pid,
			         strerror(-r));
			ret = r;
		}
		if (n_match)
			matched_add(neuron, t, e, n_match);
		if (m_match)
			matched_add(ml, t, e, m_match);
	}
	return ret;
}

/* --- Devices ------------------------------------------------------------------------------ */

static NeuronDeviceFacts *device_get(NeuronDevicesFacts *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (streq(f->dev[i].name, name))
			return &f->dev[i];
	if (f->n >= NEURON_DEVICE_FACTS_MAX) {
		f->n_dropped++;
		return NULL;
	}
	NeuronDeviceFacts *d = &f->dev[f->n++];
	*d = (NeuronDeviceFacts){ 0 };
	strscpy(d->name, sizeof(d->name), name);
	return d;
}

static usec_t track_quiet_since(const NeuronBaseline *b, const char *name)
{
	for (size_t i = 0; i < b->n_track; i++)
		if (streq(b->track[i].name, name))
			return b->track[i].quiet_since;
	return 0;
}

static void track_set(NeuronBaseline *b, const char *name, usec_t quiet_since)
{
	if (b->n_track >= NEURON_DEVICES_MAX)
		return;
	NeuronTrack *t = &b->track[b->n_track++];
	strscpy(t->name, sizeof(t->name), name);
	t->quiet_since = quiet_since;
}

static bool device_needs_holders(const NeuronDeviceFacts *d)
{
	/* Device memory in use or execution says a runtime has it; without sysfs nothing says
	 * it is free. A device the sysfs shows empty and still needs no walk. */
	return d->node[0] && (!d->sysfs || d->mem_bytes > 0 || d->executed);
}

typedef struct HolderScan {
	const char *proc_root;
	const ProcTable *procs;
	NeuronDevicesFacts *facts;
	char **nodes;
	NeuronDeviceFacts **node_dev; /* facts of each node */
	size_t n_nodes;
	uint64_t wanted; /* nodes whose holder is still unnamed */
	char *err;
	size_t errlen;
	int ret;
} HolderScan;

static void holder_scan_one(HolderScan *h, const ProcEntry *e)
{
	uint64_t mask;
	char err[256];
	int r = neuron_fd_scan(h->proc_root, e->pid, h->nodes, &mask, err, sizeof(err));
	if (r == -ESRCH)
		return;
	if (r < 0) {
		if (h->ret == 0)
			snprintf(h->err, h->errlen, "%s", err);
		h->ret = r;
		return;
	}
	if (mask == 0)
		return;
	bool monitor = false, argv_read = false;
	for (size_t i = 0; i < h->n_nodes && i < 64; i++) {
		if (!(mask & (1ULL << i)))
			continue;
		NeuronDeviceFacts *d = h->node_dev[i];
		if (!d)
			continue;
		if (!argv_read) {
			char *const *argv;
			size_t argc;
			argv_read = true;
			/* Empty when unreadable: then it is no monitoring tool. */
			(void)proc_table_argv(h->procs, e, &argv, &argc);
			monitor = neuron_monitor_tool(e->comm, argv);
		}
		if (monitor) {
			d->n_monitors++;
			continue;
		}
		if (d->n_holders < NEURON_HOLDERS_MAX)
			procref_fill(&d->holders[d->n_holders], h->procs, e, d->node);
		d->n_holders++;
		h->wanted &= ~(1ULL << i);
	}
}

/* Interpreters and matched programs first: a training or serving process is found after a
 * few fd lists, and the walk stops once every device in question has a named holder. */
static bool likely_holder(const ProcTable *t, const ProcEntry *e, const Config *c)
{
	return proc_match_candidate(t, e, c->ml_processes) ||
	       proc_match_candidate(t, e, c->neuron_processes);
}

static void holders_scan(HolderScan *h, const ProcTable *t, const Config *c)
{
	pid_t self = getpid();
	for (int pass = 0; pass < 2 && h->wanted; pass++)
		for (size_t i = 0; i < t->n && h->wanted; i++) {
			const ProcEntry *e = &t->entries[i];
			if (kernel_thread(t, e) || e->pid == self ||
			    likely_holder(t, e, c) != (pass == 0))
				continue;
			holder_scan_one(h, e);
		}
}

static void version_format(const unsigned v[3], char *buf, size_t size)
{
	if (v[0] == 0 && v[1] == 0)
		buf[0] = '\0';
	else
		snprintf(buf, size, "%u.%u.%u", v[0], v[1], v[2]);
}

int neuron_devices_probe(const char *proc_root, const Config *c, const ProcTable *t,
                         const NeuronBaseline *prev, NeuronBaseline *next, usec_t now,
                         NeuronDevicesFacts *ret, char *err, size_t errlen)
{
	*ret = (NeuronDevicesFacts){ 0 };
	next->n_track = 0;
	int r = neuron_sysfs_read(c->neuron_sysfs_root, &next->counters, err, errlen);
	if (r < 0)
		return r;
	const NeuronCounters *now_c = &next->counters;
	version_format(now_c->driver_version, ret->driver_version, sizeof(ret->driver_version));

	for (size_t i = 0; i < now_c->n; i++) {
		const NeuronDeviceCounters *dc = &now_c->dev[i];
		NeuronDeviceFacts *d = device_get(ret, dc->name);
		if (!d)
			continue;
		d->sysfs = true;
		d->mem_bytes = dc->mem_bytes;
		d->observable = neuron_execution_observable(dc, now_c->driver_version);
		const NeuronDeviceCounters *pc =
		        prev->counters.valid ? neuron_counters_find(&prev->counters, dc->name)
		                             : NULL;
		d->executed = pc && (pc->exec != dc->exec || pc->pe_busy != dc->pe_busy);
	}

	_cleanup_strv_free_ char **nodes = NULL;
	int n_nodes = neuron_device_nodes(c->neuron_device_pattern, &nodes);
	if (n_nodes < 0) {
		snprintf(err, errlen, "%s: %s", c->neuron_device_pattern, strerror(-n_nodes));
		return n_nodes;
	}
	NeuronDeviceFacts *node_dev[64] = { 0 };
	HolderScan h = { .proc_root = proc_root,
		         .procs = t,
		         .facts = ret,
		         .nodes = nodes,
		         .node_dev = node_dev,
		         .err = err,
		         .errlen = errlen };
	for (int i = 0; i < n_nodes && i < 64; i++) {
		NeuronDeviceFacts *d = device_get(ret, path_basename(nodes[i]));
		if (!d)
			continue;
		strscpy(d->node, sizeof(d->node), nodes[i]);
		node_dev[i] = d;
		if (device_needs_holders(d))
			h.wanted |= 1ULL << i;
		d->holders_scanned = h.wanted & (1ULL << i);
	}
	h.n_nodes = (size_t)MIN(n_nodes, 64);
	if (h.wanted && t)
		holders_scan(&h, t, c);
	else if (h.wanted) {
		snprintf(err, errlen, "no process table to find who holds %s", nodes[0]);
		return -ENODATA;
	}

	/* How long each device in use has gone without execution, carried across checks. */
	for (size_t i = 0; i < ret->n; i++) {
		NeuronDeviceFacts *d = &ret->dev[i];
		if (d->n_holders == 0 && d->mem_bytes == 0)
			continue;
		usec_t since = track_quiet_since(prev, d->name);
		if (since == 0 || d->executed)
			since = now;
		track_set(next, d->name, since);
		d->quiet_for = now - since;
	}
	ret->valid = true;
	return h.ret;
}
