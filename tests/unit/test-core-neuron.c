/* Judges of neuron-process, neuron-device, ml-process, inhibitor, network and disk. */
#include "check-main.h"
#include <stdio.h>

#include "core.h"
#include "test-util.h"

#define SEC USEC_PER_SEC

static Config cfg(void)
{
	Config c;
	ck_assert_int_eq(config_init_defaults(&c), 0);
	c.boot_grace = 0;
	c.cpu_percent = 100;
	c.memory_percent = 100;
	return c;
}

static ProcRef proc(pid_t pid, const char *comm, const char *match, const char *cmdline)
{
	ProcRef p = { .pid = pid, .uid = 1000 };
	strscpy(p.comm, sizeof(p.comm), comm);
	strscpy(p.match, sizeof(p.match), match);
	strscpy(p.cmdline, sizeof(p.cmdline), cmdline);
	return p;
}

START_TEST(test_matched_processes)
{
	Config c = cfg();
	Sample s = { 0 };
	s.neuron_procs = (MatchedProcs){ .valid = true, .n = 3 };
	s.neuron_procs.procs[0] =
	        proc(42, "python3", "neuronx-cc", "python3 /opt/bin/neuronx-cc compile m.hlo");
	s.ml_procs = (MatchedProcs){ .valid = true, .n = 1 };
	s.ml_procs.procs[0] = proc(7, "python3", "train.py", "python3 train.py");
	Decision d = test_decide_once(&s, &c);
	ck_assert_int_eq(d.verdict, VERDICT_ACTIVE);
	ck_assert_uint_eq(d.n_reasons, 2);
	ck_assert_int_eq(d.reasons[0].signal, SIGNAL_NEURON_PROCESS);
	ck_assert_str_eq(d.reasons[0].detail,
	                 "neuronx-cc: pid 42 python3 /opt/bin/neuronx-cc compile m.hlo (+2 more)");
	ck_assert_int_eq(d.reasons[1].signal, SIGNAL_ML_PROCESS);
	ck_assert_str_eq(d.reasons[1].detail, "train.py: pid 7 python3 train.py");
	config_free(&c);
}
END_TEST

typedef struct DeviceCase {
	const char *name;
	usec_t held_idle;
	bool observable, executed;
	size_t holders, monitors;
	uint64_t mem;
	usec_t quiet;
	bool active;
	const char *detail_has;
} DeviceCase;

static const DeviceCase device_cases[] = {
	{ "executed, nobody holds it (old driver folds at exit)", 0, false, true, 0, 0, 0, 0, true,
	  "neuron0 executed since the last check" },
	{ "held, HeldIdleSec=0", 0, true, false, 1, 0, 1 << 30, 0, true, "HeldIdleSec=0" },
	{ "held, counters cannot show execution", 600 * SEC, false, false, 1, 0, 1 << 30,
	  3600 * SEC, true, "cannot show execution" },
	{ "held, quiet shorter than HeldIdleSec", 600 * SEC, true, false, 1, 0, 1 << 30, 60 * SEC,
	  true, "no execution for 1min < HeldIdleSec" },
	{ "held, quiet for HeldIdleSec", 600 * SEC, true, false, 1, 0, 1 << 30, 600 * SEC, false,
	  NULL },
	{ "held and executing despite HeldIdleSec", 600 * SEC, true, true, 1, 0, 1 << 30, 0, true,
	  "executed since the last check; held by pid 99" },
	{ "only neuron-monitor holds it", 0, true, false, 0, 1, 0, 0, false, NULL },
	{ "memory in use, no holder visible", 0, true, false, 0, 0, 3ULL << 30, 0, true,
	  "3.0 GiB device memory in use, no holder visible" },
	{ "free device", 0, true, false, 0, 0, 0, 0, false, NULL },
};

START_TEST(test_device)
{
	const DeviceCase *t = &device_cases[_i];
	Config c = cfg();
	c.neuron_held_idle = t->held_idle;
	Sample s = { 0 };
	s.neuron_devices = (NeuronDevicesFacts){ .valid = true, .n = 1 };
	strscpy(s.neuron_devices.driver_version, 24, "2.21.37");
	NeuronDeviceFacts *f = &s.neuron_devices.dev[0];
	strscpy(f->name, sizeof(f->name), "neuron0");
	f->sysfs = true;
	f->observable = t->observable;
	f->executed = t->executed;
	f->n_holders = t->holders;
	f->n_monitors = t->monitors;
	f->mem_bytes = t->mem;
	f->quiet_for = t->quiet;
	if (t->holders)
		f->holders[0] = proc(99, "python3", "/dev/neuron0", "python3 serve.py");
	Decision d = test_decide_once(&s, &c);
	ck_assert_msg((d.verdict == VERDICT_ACTIVE) == t->active, "%s: %s", t->name,
	              verdict_to_string(d.verdict));
	if (t->active) {
		ck_assert_int_eq(d.reasons[0].signal, SIGNAL_NEURON_DEVICE);
		ck_assert_msg(strstr(d.reasons[0].detail, t->detail_has), "%s: detail '%s'",
		              t->name, d.reasons[0].detail);
	}
	config_free(&c);
}
END_TEST

typedef struct InhibitCase {
	const char *what, *mode;
	bool active;
} InhibitCase;

static const InhibitCase inhibit_cases[] = {
	{ "idle", "block", true },
	{ "sleep:shutdown", "block", true },
	{ "handle-lid-switch:idle:sleep", "block", true },
	{ "sleep", "block", false },
	{ "shutdown:sleep", "delay", false },
	{ "idleness", "block", false },
};

START_TEST(test_inhibitor)
{
	const InhibitCase *t = &inhibit_cases[_i];
	Config c = cfg();
	Sample s = { 0 };
	s.inhibitor = (InhibitorFacts){ .valid = true, .available = true, .n = 1 };
	InhibitorEntry *e = &s.inhibitor.list[0];
	strscpy(e->what, sizeof(e->what), t->what);
	strscpy(e->mode, sizeof(e->mode), t->mode);
	strscpy(e->who, sizeof(e->who), "alice");
	strscpy(e->why, sizeof(e->why), "training");
	e->pid = 4242;
	e->uid = 1000;
	Decision d = test_decide_once(&s, &c);
	ck_assert_msg((d.verdict == VERDICT_ACTIVE) == t->active, "%s/%s", t->what, t->mode);
	if (t->active) {
		char want[256];
		snprintf(want, sizeof(want), "alice (pid 4242, uid 1000): training [%s]", t->what);
		ck_assert_int_eq(d.reasons[0].signal, SIGNAL_INHIBITOR);
		ck_assert_str_eq(d.reasons[0].detail, want);
	}
	/* No logind: out of the verdict. */
	s.inhibitor.available = false;
	ck_assert_int_eq(test_decide_once(&s, &c).verdict, VERDICT_IDLE);
	config_free(&c);
}
END_TEST

START_TEST(test_rates)
{
	Config c = cfg();
	Sample s = { 0 };
	s.network = (RateFacts){ .valid = true, .kbps = 500, .window = 60 * SEC };
	strscpy(s.network.busiest, 32, "ens5");
	s.disk = (RateFacts){ .valid = true, .kbps = 50, .window = 60 * SEC };
	/* Thresholds 0: off. */
	ck_assert_int_eq(test_decide_once(&s, &c).verdict, VERDICT_IDLE);
	c.network_kbps = 100;
	c.disk_kbps = 100;
	Decision d = test_decide_once(&s, &c);
	ck_assert_int_eq(d.verdict, VERDICT_ACTIVE);
	ck_assert_uint_eq(d.n_reasons, 1);
	ck_assert_int_eq(d.reasons[0].signal, SIGNAL_NETWORK);
	ck_assert_str_eq(d.reasons[0].detail, "500 KB/s > 100 KB/s (most on ens5)");
	c.disk_kbps = 49;
	d = test_decide_once(&s, &c);
	ck_assert_int_eq(d.reasons[1].signal, SIGNAL_DISK);
	c.network_kbps = 500; /* equal is not above */
	d = test_decide_once(&s, &c);
	ck_assert_uint_eq(d.n_reasons, 1);
	config_free(&c);
}
END_TEST

/* Facts beyond the tables were not examined: fail-safe, they count. */
START_TEST(test_unexamined_overflow_counts)
{
	Config c = cfg();
	Sample s = { 0 };
	s.inhibitor = (InhibitorFacts){ .valid = true, .available = true, .n_dropped = 3 };
	ck_assert_int_eq(test_decide_once(&s, &c).verdict, VERDICT_IDLE); /* delay-mode ones only */
	s.inhibitor.n_dropped_block = 1;
	Decision d = test_decide_once(&s, &c);
	ck_assert_int_eq(d.verdict, VERDICT_ACTIVE);
	ck_assert_str_eq(d.reasons[0].detail, "1 more block-mode locks (not examined)");

	s = (Sample){ 0 };
	s.neuron_devices = (NeuronDevicesFacts){ .valid = true, .n_dropped = 2 };
	d = test_decide_once(&s, &c);
	ck_assert_int_eq(d.verdict, VERDICT_ACTIVE);
	ck_assert_int_eq(d.reasons[0].signal, SIGNAL_NEURON_DEVICE);
	config_free(&c);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("core-neuron");
	TCase *tc = tcase_create("judges");
	tcase_add_test(tc, test_matched_processes);
	tcase_add_loop_test(tc, test_device, 0, (int)ELEMENTSOF(device_cases));
	tcase_add_loop_test(tc, test_inhibitor, 0, (int)ELEMENTSOF(inhibit_cases));
	tcase_add_test(tc, test_unexamined_overflow_counts);
	tcase_add_test(tc, test_rates);
	suite_add_tcase(s, tc);
	return s;
}
