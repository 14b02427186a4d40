/* The verdict JSON that CheckNow, Status and --once --json share, and its text form. */
#include "check-main.h"

#include "verdict-json.h"

#define SEC USEC_PER_SEC

static Decision decision(void)
{
	Decision d = { .verdict = VERDICT_ACTIVE, .idle_checks = 1, .idle_checks_needed = 3 };
	d.reasons[0].signal = SIGNAL_PROBE_ERROR;
	strscpy(d.reasons[0].detail, REASON_DETAIL_MAX, "memory: /proc/meminfo: \"odd\" text");
	d.reasons[1].signal = SIGNAL_CPU;
	strscpy(d.reasons[1].detail, REASON_DETAIL_MAX, "37% > 10%");
	d.n_reasons = 2;
	return d;
}

static Sample sample(void)
{
	Sample s = { .cpu = { .valid = true, .busy_percent = 37.5, .window = 60 * SEC } };
	sample_add_error(&s, "memory", "/proc/meminfo: \"odd\" text");
	return s;
}

static void assert_keys(json_object *o, const char *const *keys, size_t n)
{
	ck_assert(json_object_is_type(o, json_type_object));
	ck_assert_int_eq(json_object_object_length(o), (int)n);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(json_object_object_get_ex(o, keys[i], NULL), "no key %s", keys[i]);
}

START_TEST(test_shape)
{
	Decision d = decision();
	Sample s = sample();
	json_object *o = verdict_to_json(&d, &s), *v;
	static const char *const top[] = {
		"verdict", "reasons", "not_counting", "idle_checks", "idle_checks_needed", "signals"
	};
	assert_keys(o, top, ELEMENTSOF(top));

	json_object_object_get_ex(o, "verdict", &v);
	ck_assert_str_eq(json_object_get_string(v), "active");
	json_object_object_get_ex(o, "idle_checks", &v);
	ck_assert(json_object_is_type(v, json_type_int));
	ck_assert_int_eq(json_object_get_int(v), 1);
	json_object_object_get_ex(o, "idle_checks_needed", &v);
	ck_assert_int_eq(json_object_get_int(v), 3);

	json_object *reasons;
	json_object_object_get_ex(o, "reasons", &reasons);
	ck_assert(json_object_is_type(reasons, json_type_array));
	ck_assert_uint_eq(json_object_array_length(reasons), 2);
	static const char *const reason_keys[] = { "signal", "detail" };
	json_object *r0 = json_object_array_get_idx(reasons, 0);
	assert_keys(r0, reason_keys, 2);
	json_object_object_get_ex(r0, "signal", &v);
	ck_assert_str_eq(json_object_get_string(v), "probe-error");
	json_object_object_get_ex(r0, "detail", &v);
	ck_assert_str_eq(json_object_get_string(v), "memory: /proc/meminfo: \"odd\" text");

	json_object *signals, *cpu, *errors;
	json_object_object_get_ex(o, "signals", &signals);
	/* Facts a probe could not read are absent, not zero. */
	ck_assert(!json_object_object_get_ex(signals, "memory", NULL));
	ck_assert(json_object_object_get_ex(signals, "cpu", &cpu));
	json_object_object_get_ex(cpu, "busy_percent", &v);
	ck_assert_double_eq(json_object_get_double(v), 37.5);
	json_object_object_get_ex(cpu, "window_sec", &v);
	ck_assert_double_eq(json_object_get_double(v), 60.0);
	ck_assert(json_object_object_get_ex(signals, "probe-error", &errors));
	ck_assert_uint_eq(json_object_array_length(errors), 1);
	json_object_object_get_ex(json_object_array_get_idx(errors, 0), "probe", &v);
	ck_assert_str_eq(json_object_get_string(v), "memory");

	/* And it survives a trip through text (escaping). */
	json_object *back = json_tokener_parse(json_object_to_json_string(o));
	ck_assert_ptr_nonnull(back);
	ck_assert(json_object_equal(o, back));
	json_object_put(back);
	json_object_put(o);
}
END_TEST

START_TEST(test_idle_has_empty_reasons_and_memory_facts)
{
	Decision d = { .verdict = VERDICT_IDLE,
		       .idle_checks = 2,
		       .idle_checks_needed = 2,
		       .action_due = true };
	Sample s = { .memory = { .valid = true,
		                 .total_kib = 1000,
		                 .available_kib = 750,
		                 .used_percent = 25.0 } };
	json_object *o = verdict_to_json(&d, &s), *v, *signals, *mem, *reasons;
	json_object_object_get_ex(o, "verdict", &v);
	ck_assert_str_eq(json_object_get_string(v), "idle");
	json_object_object_get_ex(o, "reasons", &reasons);
	ck_assert_uint_eq(json_object_array_length(reasons), 0);
	json_object_object_get_ex(o, "signals", &signals);
	ck_assert(!json_object_object_get_ex(signals, "cpu", NULL));
	ck_assert(json_object_object_get_ex(signals, "memory", &mem));
	static const char *const mem_keys[] = { "used_percent", "total_kib", "available_kib" };
	assert_keys(mem, mem_keys, 3);
	json_object_object_get_ex(mem, "total_kib", &v);
	ck_assert_int_eq(json_object_get_int64(v), 1000);
	json_object_put(o);
}
END_TEST

START_TEST(test_every_verdict_name)
{
	static const char *const names[] = { "active", "idle", "grace", "held" };
	Sample s = { 0 };
	for (int i = 0; i < _VERDICT_MAX; i++) {
		Decision d = { .verdict = (Verdict)i };
		json_object *o = verdict_to_json(&d, &s), *v;
		json_object_object_get_ex(o, "verdict", &v);
		ck_assert_str_eq(json_object_get_string(v), names[i]);
		json_object_put(o);
	}
}
END_TEST

START_TEST(test_text)
{
	Decision d = decision();
	d.n_reasons_dropped = 4;
	_cleanup_free_ char *text = verdict_to_text(&d);
	ck_assert_str_eq(text, "active: probe-error memory: /proc/meminfo: \"odd\" text (+5 more); "
	                       "idle 1/3\n"
	                       "  probe-error      memory: /proc/meminfo: \"odd\" text\n"
	                       "  cpu              37% > 10%\n"
	                       "  ... and 4 more\n");
}
END_TEST

/* A connection that carries only keepalives is shown as not counting (trnidlectl status and
 * check-now print the same lines), and in the JSON. */
START_TEST(test_not_counting)
{
	Decision d = decision();
	d.n_reasons = 0;
	d.verdict = VERDICT_IDLE;
	Reason *r = &d.not_counting[d.n_not_counting++];
	r->signal = SIGNAL_SSH;
	strscpy(r->detail, sizeof(r->detail),
	        "bob over SSH without a terminal (sshd pid 812): only keepalives for 1h 2min");
	_cleanup_free_ char *text = verdict_to_text(&d);
	ck_assert_str_eq(text, "idle: nothing active; idle 1/3\n"
	                       "not counting:\n"
	                       "  ssh              bob over SSH without a terminal (sshd pid 812): "
	                       "only keepalives for 1h 2min\n");
	Sample s = sample();
	json_object *o = verdict_to_json(&d, &s), *a;
	ck_assert(json_object_object_get_ex(o, "not_counting", &a));
	ck_assert_uint_eq(json_object_array_length(a), 1);
	json_object_put(o);
}
END_TEST

START_TEST(test_sessions_busy_and_kernels)
{
	Decision d = decision();
	Sample s = sample();
	s.sessions.valid = true;
	TerminalFacts *t = &s.sessions.terminals[s.sessions.n_terminals++];
	*t = (TerminalFacts){ .pts = 2,
		              .idle = 3 * 3600 * SEC,
		              .busy = { .pid = 4242, .comm = "python3", .percent = 99.5 } };
	JupyterKernelFacts *k = &s.sessions.kernels[s.sessions.n_kernels++];
	*k = (JupyterKernelFacts){ .pid = 812,
		                   .uid = 1000,
		                   .user = "alice",
		                   .server_pid = 700,
		                   .server = "jupyter-lab",
		                   .busy = { .pid = 812, .comm = "python3", .percent = 97 },
		                   .work = { .pid = 900, .comm = "neuronx-cc" } };
	json_object *o = verdict_to_json(&d, &s), *signals, *a, *v;
	json_object_object_get_ex(o, "signals", &signals);

	ck_assert(json_object_object_get_ex(signals, "terminal", &a));
	json_object *t0 = json_object_array_get_idx(a, 0);
	json_object_object_get_ex(t0, "busy_pid", &v);
	ck_assert_int_eq(json_object_get_int(v), 4242);
	json_object_object_get_ex(t0, "busy_comm", &v);
	ck_assert_str_eq(json_object_get_string(v), "python3");
	json_object_object_get_ex(t0, "busy_percent", &v);
	ck_assert_double_eq(json_object_get_double(v), 99.5);

	ck_assert(json_object_object_get_ex(signals, "jupyter", &a));
	ck_assert_uint_eq(json_object_array_length(a), 1);
	static const char *const kernel_keys[] = { "pid",        "user",         "uid",
		                                   "server_pid", "server",       "busy_pid",
		                                   "busy_comm",  "busy_percent", "work_pid" };
	json_object *k0 = json_object_array_get_idx(a, 0);
	assert_keys(k0, kernel_keys, ELEMENTSOF(kernel_keys));
	json_object_object_get_ex(k0, "server", &v);
	ck_assert_str_eq(json_object_get_string(v), "jupyter-lab");
	json_object_object_get_ex(k0, "work_pid", &v);
	ck_assert_int_eq(json_object_get_int(v), 900);
	json_object_put(o);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("verdict-json");
	TCase *tc = tcase_create("json");
	tcase_add_test(tc, test_shape);
	tcase_add_test(tc, test_sessions_busy_and_kernels);
	tcase_add_test(tc, test_idle_has_empty_reasons_and_memory_facts);
	tcase_add_test(tc, test_every_verdict_name);
	tcase_add_test(tc, test_text);
	tcase_add_test(tc, test_not_counting);
	suite_add_tcase(s, tc);
	return s;
}
