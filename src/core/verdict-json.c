#include <stdio.h>

#include "verdict-json.h"

static json_object *cpu_json(const CpuFacts *f)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "busy_percent", json_object_new_double(f->busy_percent));
	json_object_object_add(o, "window_sec",
	                       json_object_new_double((double)f->window / USEC_PER_SEC));
	return o;
}

static json_object *memory_json(const MemoryFacts *f)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "used_percent", json_object_new_double(f->used_percent));
	json_object_object_add(o, "total_kib", json_object_new_uint64(f->total_kib));
	json_object_object_add(o, "available_kib", json_object_new_uint64(f->available_kib));
	return o;
}

static json_object *procref_json(const ProcRef *p)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "pid", json_object_new_int64(p->pid));
	json_object_object_add(o, "uid", json_object_new_int64(p->uid));
	json_object_object_add(o, "comm", json_object_new_string(p->comm));
	json_object_object_add(o, "match", json_object_new_string(p->match));
	json_object_object_add(o, "cmdline", json_object_new_string(p->cmdline));
	return o;
}

static json_object *matched_json(const MatchedProcs *m)
{
	json_object *o = json_object_new_object();
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < MIN(m->n, (size_t)MATCHED_PROCS_MAX); i++)
		json_object_array_add(a, procref_json(&m->procs[i]));
	json_object_object_add(o, "count", json_object_new_int64((int64_t)m->n));
	json_object_object_add(o, "processes", a);
	return o;
}

static json_object *neuron_device_json(const NeuronDeviceFacts *f)
{
	json_object *o = json_object_new_object();
	json_object *holders = json_object_new_array();
	for (size_t i = 0; i < MIN(f->n_holders, (size_t)NEURON_HOLDERS_MAX); i++)
		json_object_array_add(holders, procref_json(&f->holders[i]));
	json_object_object_add(o, "name", json_object_new_string(f->name));
	json_object_object_add(o, "node", f->node[0] ? json_object_new_string(f->node) : NULL);
	json_object_object_add(o, "sysfs", json_object_new_boolean(f->sysfs));
	json_object_object_add(o, "execution_observable", json_object_new_boolean(f->observable));
	json_object_object_add(o, "executed", json_object_new_boolean(f->executed));
	json_object_object_add(o, "device_memory_bytes", json_object_new_uint64(f->mem_bytes));
	json_object_object_add(o, "holders_scanned", json_object_new_boolean(f->holders_scanned));
	json_object_object_add(o, "holder_count", json_object_new_int64((int64_t)f->n_holders));
	json_object_object_add(o, "holders", holders);
	json_object_object_add(o, "monitor_holders", json_object_new_int64((int64_t)f->n_monitors));
	json_object_object_add(o, "quiet_sec",
	                       json_object_new_double((double)f->quiet_for / USEC_PER_SEC));
	return o;
}

static json_object *neuron_devices_json(const NeuronDevicesFacts *f)
{
	json_object *o = json_object_new_object();
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < f->n; i++)
		json_object_array_add(a, neuron_device_json(&f->dev[i]));
	json_object_object_add(o, "driver_version",
	                       f->driver_version[0] ? json_object_new_string(f->driver_version)
	                                            : NULL);
	json_object_object_add(o, "devices", a);
	return o;
}

static json_object *rate_json(const RateFacts *r)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "kbps", json_object_new_double(r->kbps));
	json_object_object_add(o, "window_sec",
	                       json_object_new_double((double)r->window / USEC_PER_SEC));
	json_object_object_add(o, "busiest",
	                       r->busiest[0] ? json_object_new_string(r->busiest) : NULL);
	return o;
}

static json_object *inhibitor_json(const InhibitorFacts *f)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "available", json_object_new_boolean(f->available));
	if (!f->available) {
		json_object_object_add(o, "absent", json_object_new_string(f->absent));
		return o;
	}
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < f->n; i++) {
		const InhibitorEntry *e = &f->list[i];
		json_object *x = json_object_new_object();
		json_object_object_add(x, "what", json_object_new_string(e->what));
		json_object_object_add(x, "who", json_object_new_string(e->who));
		json_object_object_add(x, "why", json_object_new_string(e->why));
		json_object_object_add(x, "mode", json_object_new_string(e->mode));
		json_object_object_add(x, "uid", json_object_new_int64(e->uid));
		json_object_object_add(x, "pid", json_object_new_int64(e->pid));
		json_object_array_add(a, x);
	}
	json_object_object_add(o, "inhibitors", a);
	return o;
}

/* {"busy_pid", "busy_comm", "busy_percent"} into o. */
static void busy_json(json_object *o, const BusyProc *b)
{
	json_object_object_add(o, "busy_pid", json_object_new_int64(b->pid));
	json_object_object_add(o, "busy_comm", json_object_new_string(b->comm));
	json_object_object_add(o, "busy_percent", json_object_new_double(b->percent));
}

/* Ages in seconds; null for "never" (no terminal). */
static json_object *age_json(usec_t idle)
{
	return idle == USEC_INFINITY ? NULL : json_object_new_double((double)idle / USEC_PER_SEC);
}

static json_object *terminals_json(const SessionFacts *f)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < f->n_terminals; i++) {
		const TerminalFacts *t = &f->terminals[i];
		json_object *o = json_object_new_object();
		char pts[32];
		snprintf(pts, sizeof(pts), "pts/%u", t->pts);
		json_object_object_add(o, "tty", json_object_new_string(pts));
		json_object_object_add(o, "user", json_object_new_string(t->user));
		json_object_object_add(o, "uid", json_object_new_int64(t->uid));
		json_object_object_add(o, "owner",
		                       json_object_new_string(session_owner_to_string(t->owner)));
		json_object_object_add(o, "owner_pid", json_object_new_int64(t->owner_pid));
		json_object_object_add(o, "leader_pid", json_object_new_int64(t->leader_pid));
		json_object_object_add(o, "leader", json_object_new_string(t->leader_comm));
		json_object_object_add(o, "idle_sec", age_json(t->idle));
		busy_json(o, &t->busy);
		json_object_array_add(a, o);
	}
	return a;
}

/* Bytes moved since the previous check; null without an earlier reading. */
static void traffic_json(json_object *o, const ConnectionTraffic *t)
{
	json_object_object_add(o, "bytes",
	                       t->valid ? json_object_new_int64((int64_t)t->bytes) : NULL);
	json_object_object_add(o, "window_sec",
	                       t->valid ? json_object_new_double((double)t->window / USEC_PER_SEC)
	                                : NULL);
}

static json_object *reasons_json(const Reason *r, size_t n)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "signal",
		                       json_object_new_string(signal_to_string(r[i].signal)));
		json_object_object_add(o, "detail", json_object_new_string(r[i].detail));
		json_object_array_add(a, o);
	}
	return a;
}

static json_object *ssh_json(const SessionFacts *f)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < f->n_ssh; i++) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "pid", json_object_new_int64(f->ssh[i].pid));
		json_object_object_add(o, "user", json_object_new_string(f->ssh[i].user));
		json_object_object_add(o, "uid", json_object_new_int64(f->ssh[i].uid));
		traffic_json(o, &f->ssh[i].traffic);
		busy_json(o, &f->ssh[i].busy);
		json_object_array_add(a, o);
	}
	return a;
}

static json_object *ssm_json(const SessionFacts *f)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < f->n_ssm; i++) {
		const SsmSessionFacts *m = &f->ssm[i];
		json_object *o = json_object_new_object();
		json_object_object_add(o, "pid", json_object_new_int64(m->pid));
		json_object_object_add(o, "user", json_object_new_string(m->user));
		json_object_object_add(o, "terminals",
		                       json_object_new_int64((int64_t)m->n_terminals));
		json_object_object_add(o, "idle_sec", m->n_terminals ? age_json(m->idle) : NULL);
		busy_json(o, &m->busy);
		json_object_array_add(a, o);
	}
	return a;
}

static json_object *multiplexers_json(const SessionFacts *f)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < f->n_multiplexers; i++) {
		const MultiplexerFacts *m = &f->multiplexers[i];
		json_object *o = json_object_new_object();
		json_object_object_add(o, "kind",
		                       json_object_new_string(session_owner_to_string(m->kind)));
		json_object_object_add(o, "pid", json_object_new_int64(m->pid));
		json_object_object_add(o, "user", json_object_new_string(m->user));
		json_object_object_add(o, "name", json_object_new_string(m->name));
		json_object_object_add(o, "panes", json_object_new_int64((int64_t)m->n_panes));
		json_object_object_add(o, "pane_idle_sec",
		                       m->n_panes ? age_json(m->pane_idle) : NULL);
		json_object_object_add(o, "clients", json_object_new_int64((int64_t)m->n_clients));
		json_object_object_add(o, "client_idle_sec",
		                       m->n_clients ? age_json(m->client_idle) : NULL);
		busy_json(o, &m->busy);
		json_object_object_add(o, "work_pid", json_object_new_int64(m->work.pid));
		json_object_array_add(a, o);
	}
	return a;
}

static json_object *kernels_json(const SessionFacts *f)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < f->n_kernels; i++) {
		const JupyterKernelFacts *k = &f->kernels[i];
		json_object *o = json_object_new_object();
		json_object_object_add(o, "pid", json_object_new_int64(k->pid));
		json_object_object_add(o, "user", json_object_new_string(k->user));
		json_object_object_add(o, "uid", json_object_new_int64(k->uid));
		json_object_object_add(o, "server_pid", json_object_new_int64(k->server_pid));
		json_object_object_add(o, "server", json_object_new_string(k->server));
		busy_json(o, &k->busy);
		json_object_object_add(o, "work_pid", json_object_new_int64(k->work.pid));
		json_object_array_add(a, o);
	}
	return a;
}

static void sessions_json(json_object *signals, const SessionFacts *f)
{
	if (!f->valid)
		return;
	json_object_object_add(signals, "terminal", terminals_json(f));
	json_object_object_add(signals, "ssh", ssh_json(f));
	json_object_object_add(signals, "ssm", ssm_json(f));
	json_object_object_add(signals, "multiplexer", multiplexers_json(f));
	json_object_object_add(signals, "jupyter", kernels_json(f));
}

static json_object *errors_json(const Sample *s)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < s->n_errors; i++) {
		json_object *e = json_object_new_object();
		json_object_object_add(e, "probe", json_object_new_string(s->errors[i].probe));
		json_object_object_add(e, "message", json_object_new_string(s->errors[i].message));
		json_object_array_add(a, e);
	}
	return a;
}

/* {"count", "busiest": [{"pid", "user", "uid", "comm", "cpu_percent"}]} */
static json_object *user_procs_json(const UserProcFacts *f)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	json_object_object_add(o, "count", json_object_new_int64((int64_t)f->n));
	for (size_t i = 0; i < MIN(f->n, (size_t)BUSY_USER_PROCS_MAX); i++) {
		const BusyUserProc *p = &f->procs[i];
		json_object *x = json_object_new_object();
		json_object_object_add(x, "pid", json_object_new_int64(p->pid));
		json_object_object_add(x, "user", json_object_new_string(p->user));
		json_object_object_add(x, "uid", json_object_new_int64(p->uid));
		json_object_object_add(x, "comm", json_object_new_string(p->comm));
		json_object_object_add(x, "cpu_percent", json_object_new_double(p->percent));
		json_object_array_add(a, x);
	}
	json_object_object_add(o, "busiest", a);
	return o;
}

static json_object *cloud_init_json(const CloudInitFacts *f)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "running", json_object_new_boolean(f->running));
	json_object_object_add(o, "stage", f->stage[0] ? json_object_new_string(f->stage) : NULL);
	return o;
}

static json_object *package_lock_json(const PackageLockFacts *f)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "held", json_object_new_boolean(f->held));
	if (!f->held)
		return o;
	json_object_object_add(o, "lock", json_object_new_string(f->lock));
	json_object_object_add(o, "pid", json_object_new_int64(f->pid));
	json_object_object_add(o, "comm", json_object_new_string(f->comm));
	return o;
}

json_object *sample_signals_to_json(const Sample *s)
{
	json_object *o = json_object_new_object();
	if (s->cpu.valid)
		json_object_object_add(o, "cpu", cpu_json(&s->cpu));
	if (s->memory.valid)
		json_object_object_add(o, "memory", memory_json(&s->memory));
	if (s->neuron_procs.valid)
		json_object_object_add(o, "neuron-process", matched_json(&s->neuron_procs));
	if (s->neuron_devices.valid)
		json_object_object_add(o, "neuron-device", neuron_devices_json(&s->neuron_devices));
	if (s->ml_procs.valid)
		json_object_object_add(o, "ml-process", matched_json(&s->ml_procs));
	if (s->inhibitor.valid)
		json_object_object_add(o, "inhibitor", inhibitor_json(&s->inhibitor));
	if (s->network.valid)
		json_object_object_add(o, "network", rate_json(&s->network));
	if (s->disk.valid)
		json_object_object_add(o, "disk", rate_json(&s->disk));
	sessions_json(o, &s->sessions);
	if (s->user_procs.valid)
		json_object_object_add(o, "user-process", user_procs_json(&s->user_procs));
	if (s->cloud_init.valid)
		json_object_object_add(o, "cloud-init", cloud_init_json(&s->cloud_init));
	if (s->package_lock.valid)
		json_object_object_add(o, "package-manager", package_lock_json(&s->package_lock));
	json_object_object_add(o, "probe-error", errors_json(s));
	return o;
}

json_object *verdict_to_json(const Decision *d, const Sample *s)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "verdict", json_object_new_string(verdict_to_string(d->verdict)));
	json_object_object_add(o, "reasons", reasons_json(d->reasons, d->n_reasons));
	json_object_object_add(o, "not_counting", reasons_json(d->not_counting, d->n_not_counting));
	json_object_object_add(o, "idle_checks", json_object_new_int64(d->idle_checks));
	json_object_object_add(o, "idle_checks_needed",
	                       json_object_new_int64(d->idle_checks_needed));
	json_object_object_add(o, "signals", sample_signals_to_json(s));
	return o;
}

void not_counting_text(FILE *f, const Decision *d)
{
	if (d->n_not_counting > 0)
		fprintf(f, "not counting:\n");
	for (size_t i = 0; i < d->n_not_counting; i++)
		fprintf(f, "  %-16s %s\n", signal_to_string(d->not_counting[i].signal),
		        d->not_counting[i].detail);
}

char *verdict_to_text(const Decision *d)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	if (!f)
		return NULL;
	char line[512];
	decision_summary(d, line, sizeof(line));
	fprintf(f, "%s\n", line);
	for (size_t i = 0; i < d->n_reasons; i++)
		fprintf(f, "  %-16s %s\n", signal_to_string(d->reasons[i].signal),
		        d->reasons[i].detail);
	if (d->n_reasons_dropped)
		fprintf(f, "  ... and %zu more\n", d->n_reasons_dropped);
	not_counting_text(f, d);
	fclose(f);
	return buf;
}
