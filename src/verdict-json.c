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
	json_object_object_add(o, "probe-error", errors_json(s));
	return o;
}

json_object *verdict_to_json(const Decision *d, const Sample *s)
{
	json_object *o = json_object_new_object();
	json_object *reasons = json_object_new_array();

	for (size_t i = 0; i < d->n_reasons; i++) {
		json_object *r = json_object_new_object();
		json_object_object_add(r, "signal",
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
