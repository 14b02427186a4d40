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
	json_object_object_add(o, "probe-error", errors_json(s));
	return o;
}

json_object *verdict_to_json(const Decision *d, const Sample *s)
{
	json_object *o = json_object_new_object();
	json_object *reasons = json_object_new_array();

	for (size_t i = 0; i < d->n_reasons; i++) {
		json_object *r = json_object_new_object();
		json_object_object_add(
		        r, "signal",
		        json_object_new_string(signal_to_string(d->reasons[i].signal)));
		json_object_object_add(r, "detail", json_object_new_string(d->reasons[i].detail));
		json_object_array_add(reasons, r);
	}
	json_object_object_add(o, "verdict", json_object_new_string(verdict_to_string(d->verdict)));
	json_object_object_add(o, "reasons", reasons);
	json_object_object_add(o, "idle_checks", json_object_new_int64(d->idle_checks));
	json_object_object_add(o, "idle_checks_needed",
	                       json_object_new_int64(d->idle_checks_needed));
	json_object_object_add(o, "signals", sample_signals_to_json(s));
	return o;
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
	fclose(f);
	return buf;
}
