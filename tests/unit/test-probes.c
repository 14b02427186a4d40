/* The /proc/stat and /proc/meminfo parsers on fixture trees (tests/data/proc/CASE/), odd
 * contents included: anything they cannot read exactly is an error, never a guess. */
#include "check-main.h"
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe-inhibitor.h"
#include "probe.h"
#include "test-util.h"

static const char *data_dir(void)
{
	const char *d = getenv("TESTS_DATA");
	ck_assert_msg(d, "TESTS_DATA is not set");
	return d;
}

static void case_root(const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%s/proc/%s", data_dir(), name);
}

static void read_fixture(const char *name, const char *file, char *buf, size_t size)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/proc/%s/%s", data_dir(), name, file);
	ck_assert_msg(read_small_file(path, buf, size) >= 0, "cannot read %s", path);
}

typedef struct CpuCase {
	const char *name;
	int result;
	uint64_t busy, total;
} CpuCase;

static const CpuCase cpu_cases[] = {
	{ "normal", 0, 1338, 9438 },
	{ "old-kernel", 0, 1320, 9320 },  /* only user nice system idle */
	{ "odd-spacing", 0, 1338, 9438 }, /* tabs between fields */
	{ "no-newline", 0, 1338, 9438 },
	{ "lookalikes", 0, 51, 68 }, /* more fields than we know: the first eight count */
	{ "zero-total", 0, 0, 0 },
	{ "short", -EBADMSG, 0, 0 },
	{ "no-cpu-line", -EBADMSG, 0, 0 }, /* the aggregate line is the first one */
	{ "garbage", -EBADMSG, 0, 0 },
	{ "negative", -EBADMSG, 0, 0 },
	{ "overflow", -EBADMSG, 0, 0 },
	{ "empty", -EBADMSG, 0, 0 },
	{ "trailing-junk", -EBADMSG, 0, 0 },
};

START_TEST(test_cpu_parse)
{
	const CpuCase *t = &cpu_cases[_i];
	char text[4096];
	CpuCounters c = { .busy = 4242 };
	read_fixture(t->name, "stat", text, sizeof(text));
	int r = cpu_counters_parse(text, &c);
	ck_assert_msg(r == t->result, "%s: %d", t->name, r);
	if (r < 0) {
		ck_assert_uint_eq(c.busy, 4242); /* untouched */
		return;
	}
	ck_assert(c.valid);
	ck_assert_msg(c.busy == t->busy, "%s: busy %llu", t->name, (unsigned long long)c.busy);
	ck_assert_msg(c.total == t->total, "%s: total %llu", t->name, (unsigned long long)c.total);
}
END_TEST

START_TEST(test_proc_parse_u64)
{
	const char *p = " \t42 7";
	uint64_t v;
	ck_assert_int_eq(proc_parse_u64(&p, &v), 0);
	ck_assert_uint_eq(v, 42);
	ck_assert_str_eq(p, " 7");
	const char *bad[] = { "", " ", "-1", "+1", "x1", "1x", "18446744073709551616", "0x10" };
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		p = bad[i];
		ck_assert_msg(proc_parse_u64(&p, &v) == -EBADMSG, "'%s'", bad[i]);
		ck_assert_ptr_eq(p, bad[i]);
	}
	p = "18446744073709551615";
	ck_assert_int_eq(proc_parse_u64(&p, &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
}
END_TEST

START_TEST(test_cpu_sum_overflow)
{
	CpuCounters c;
	ck_assert_int_eq(cpu_counters_parse("cpu  18446744073709551615 1 0 0\n", &c), -EBADMSG);
	ck_assert_int_eq(cpu_counters_parse("cpu  18446744073709551614 1 0 0\n", &c), 0);
	ck_assert_int_eq(cpu_counters_parse("cpu 1 2 3 4 5 6 7 8 nonsense\n", &c), 0);
	ck_assert_int_eq(cpu_counters_parse("cpu1 2 3 4 5\n", &c), -EBADMSG);
	ck_assert_int_eq(cpu_counters_parse("cpu 1 2 3 4\n", &c), 0);
}
END_TEST

START_TEST(test_cpu_read_names_the_path)
{
	char root[1024], err[256] = "";
	CpuCounters c;
	case_root("normal", root, sizeof(root));
	ck_assert_int_eq(cpu_counters_read(root, &c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.total, 9438);

	case_root("garbage", root, sizeof(root));
	ck_assert_int_eq(cpu_counters_read(root, &c, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "/proc/garbage/stat: no aggregate 'cpu' line"));

	case_root("does-not-exist", root, sizeof(root));
	ck_assert_int_eq(cpu_counters_read(root, &c, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "/proc/does-not-exist/stat: No such file or directory"));

	/* The real one parses. */
	ck_assert_int_eq(cpu_counters_read("/proc", &c, err, sizeof(err)), 0);
	ck_assert_uint_gt(c.total, 0);
}
END_TEST

START_TEST(test_cpu_busy_percent)
{
	CpuCounters a = { .valid = true, .busy = 100, .total = 1000 };
	CpuCounters b = { .valid = true, .busy = 150, .total = 1200 };
	double p = -1;
	ck_assert_int_eq(cpu_busy_percent(&a, &b, &p), 0);
	ck_assert_double_eq_tol(p, 25.0, 1e-9);
	/* A total that stood still or went back, or a missing reading, is an error: never a 0 %
	 * that reads as idle, never a division by zero. p is left alone. */
	p = -1;
	ck_assert_int_eq(cpu_busy_percent(&a, &a, &p), -EAGAIN);
	CpuCounters invalid = { .valid = false };
	ck_assert_int_eq(cpu_busy_percent(&invalid, &b, &p), -EINVAL);
	ck_assert_int_eq(cpu_busy_percent(&b, &a, &p), -ERANGE);
	CpuCounters busy_back = { .valid = true, .busy = 90, .total = 1300 };
	ck_assert_int_eq(cpu_busy_percent(&a, &busy_back, &p), -ERANGE);
	ck_assert_double_eq(p, -1);
	/* Fully busy. */
	CpuCounters c = { .valid = true, .busy = 300, .total = 1200 };
	CpuCounters d = { .valid = true, .busy = 400, .total = 1300 };
	ck_assert_int_eq(cpu_busy_percent(&c, &d, &p), 0);
	ck_assert_double_eq_tol(p, 100.0, 1e-9);
}
END_TEST

typedef struct MemCase {
	const char *name;
	int result;
	uint64_t total, available;
	double used;
} MemCase;

static const MemCase mem_cases[] = {
	{ "normal", 0, 16000000, 12000000, 25.0 },
	{ "no-newline", 0, 1000, 250, 75.0 },
	{ "odd-spacing", 0, 10000, 10000, 0.0 }, /* MemAvailable > MemTotal: clamped */
	{ "lookalikes", 0, 1000, 500, 50.0 },    /* MemTotalHuge:, XMemAvailable: are not ours */
	{ "old-kernel", -EBADMSG, 0, 0, 0 },     /* no MemAvailable (before Linux 3.14) */
	{ "short", -EBADMSG, 0, 0, 0 },
	{ "no-cpu-line", -EBADMSG, 0, 0, 0 },
	{ "garbage", -EBADMSG, 0, 0, 0 },
	{ "negative", -EBADMSG, 0, 0, 0 },
	{ "overflow", -EBADMSG, 0, 0, 0 },
	{ "empty", -EBADMSG, 0, 0, 0 },
	{ "trailing-junk", -EBADMSG, 0, 0, 0 },
	{ "zero-total", -EBADMSG, 0, 0, 0 },
};

static ProcEntry entry(pid_t pid, uid_t uid, const char *comm, uint64_t ticks)
{
	ProcEntry e = { .pid = pid,
		        .uid = uid,
		        .owner = PROC_OWNER_READ,
		        .state = 'R',
		        .cpu_ticks = ticks,
		        .starttime = 7 };
	strscpy(e.comm, sizeof(e.comm), comm);
	return e;
}

START_TEST(test_user_procs_probe)
{
	/* 100 ticks per second, 10 s between the scans: 1000 ticks are 100% of one CPU. */
	ProcEntry before[] = {
		entry(10, 0, "sshd", 0),         entry(20, 1000, "bash", 5),
		entry(30, 1000, "python3", 100), entry(40, 1001, "yes", 0),
		entry(50, 65534, "spin", 0),     entry(60, 999, "ssm-agent", 0),
		entry(70, 1002, "gone", 0),
	};
	ProcEntry after[] = {
		entry(10, 0, "sshd", 5000),       entry(20, 1000, "bash", 6),
		entry(30, 1000, "python3", 1100), entry(40, 1001, "yes", 500),
		entry(50, 65534, "spin", 9000),   entry(60, 999, "ssm-agent", 9000),
		entry(80, 1000, "make", 300), /* started after the first scan: all its ticks */
	};
	ProcTable prev = { .entries = before, .n = ELEMENTSOF(before), .taken = 0 };
	ProcTable now = { .entries = after, .n = ELEMENTSOF(after), .taken = 10 * USEC_PER_SEC };
	UserProcFacts f;
	user_procs_probe(&now, &prev, 100, &f);
	ck_assert(f.valid);
	ck_assert_uint_eq(f.n, 4); /* bash, python3, yes, make: root, nobody and uid 999 are not */
	ck_assert_int_eq(f.procs[0].pid, 30);
	ck_assert_double_eq_tol(f.procs[0].percent, 100.0, 1e-9);
	ck_assert_int_eq(f.procs[1].pid, 40);
	ck_assert_double_eq_tol(f.procs[1].percent, 50.0, 1e-9);
	ck_assert_int_eq(f.procs[2].pid, 80);
	ck_assert_double_eq_tol(f.procs[2].percent, 30.0, 1e-9);
	ck_assert_int_eq(f.procs[3].pid, 20);
	ck_assert_str_eq(f.procs[0].comm, "python3");
	ck_assert_uint_eq(f.procs[0].uid, 1000);

	/* An owner that could not be read counts as a user's (when unsure, active); one gone
	 * since the scan is not counted, as the scan would not have seen it a moment later. */
	after[0].owner = PROC_OWNER_FAILED;
	after[0].uid = (uid_t)-1;
	after[1].owner = PROC_OWNER_GONE;
	user_procs_probe(&now, &prev, 100, &f);
	ck_assert_uint_eq(f.n, 4); /* sshd in, bash out */
	ck_assert_int_eq(f.procs[0].pid, 10);
	after[0] = entry(10, 0, "sshd", 5000);
	after[1] = entry(20, 1000, "bash", 6);

	/* A zombie has stopped computing; no previous scan: no facts at all. */
	after[2].state = 'Z';
	user_procs_probe(&now, &prev, 100, &f);
	ck_assert_int_eq(f.procs[0].pid, 40);
	ProcTable empty = { 0 };
	user_procs_probe(&now, &empty, 100, &f);
	ck_assert(!f.valid);
}
END_TEST

START_TEST(test_user_procs_keeps_the_busiest)
{
	/* More busy processes than the facts hold: the busiest stay, in order. */
	ProcEntry before[20], after[20];
	for (int i = 0; i < 20; i++) {
		before[i] = entry(100 + i, 1000, "w", 0);
		after[i] = entry(100 + i, 1000, "w", (uint64_t)((i * 7) % 20 + 1) * 10);
	}
	ProcTable prev = { .entries = before, .n = 20, .taken = 0 };
	ProcTable now = { .entries = after, .n = 20, .taken = USEC_PER_SEC };
	UserProcFacts f;
	user_procs_probe(&now, &prev, 100, &f);
	ck_assert_uint_eq(f.n, 20);
	for (size_t i = 0; i < BUSY_USER_PROCS_MAX; i++)
		ck_assert_double_eq_tol(f.procs[i].percent, (double)(200 - 10 * (int)i), 1e-9);
}
END_TEST

START_TEST(test_meminfo_parse)
{
	const MemCase *t = &mem_cases[_i];
	char text[8192];
	MemoryFacts m = { .total_kib = 4242 };
	read_fixture(t->name, "meminfo", text, sizeof(text));
	int r = meminfo_parse(text, &m);
	ck_assert_msg(r == t->result, "%s: %d", t->name, r);
	if (r < 0) {
		ck_assert_uint_eq(m.total_kib, 4242);
		return;
	}
	ck_assert(m.valid);
	ck_assert_uint_eq(m.total_kib, t->total);
	ck_assert_uint_eq(m.available_kib, t->available);
	ck_assert_double_eq_tol(m.used_percent, t->used, 1e-9);
}
END_TEST

START_TEST(test_meminfo_value_forms)
{
	MemoryFacts m;
	ck_assert_int_eq(meminfo_parse("MemTotal: 100\nMemAvailable: 50\n", &m), 0);
	ck_assert_int_eq(meminfo_parse("MemTotal:100 kB\nMemAvailable:\t50 kB  \n", &m), 0);
	ck_assert_int_eq(meminfo_parse("MemTotal: 100kB\nMemAvailable: 50kB\n", &m), -EBADMSG);
	ck_assert_int_eq(meminfo_parse("MemTotal: 100 MB\nMemAvailable: 50 kB\n", &m), -EBADMSG);
	ck_assert_int_eq(meminfo_parse("MemTotal: 100 kB\nMemAvailable: 5 0 kB\n", &m), -EBADMSG);
	ck_assert_int_eq(meminfo_parse("MemTotal : 100 kB\nMemAvailable: 50 kB\n", &m), -EBADMSG);
	ck_assert_int_eq(meminfo_parse(" MemTotal: 100 kB\nMemAvailable: 50 kB\n", &m), -EBADMSG);
}
END_TEST

START_TEST(test_memory_read_names_the_path)
{
	char root[1024], err[256] = "";
	MemoryFacts m;
	case_root("old-kernel", root, sizeof(root));
	ck_assert_int_eq(memory_read(root, &m, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(
	        strstr(err, "/proc/old-kernel/meminfo: MemTotal or MemAvailable missing"));
	case_root("does-not-exist", root, sizeof(root));
	ck_assert_int_eq(memory_read(root, &m, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "/proc/does-not-exist/meminfo: No such file"));
	ck_assert_int_eq(memory_read("/proc", &m, err, sizeof(err)), 0);
	ck_assert_uint_gt(m.total_kib, 0);
}
END_TEST

/* The sampler turns a failing probe into an error in the sample, never into quiet facts. */
START_TEST(test_sampler_reports_probe_errors)
{
	char root[1024];
	Config c;
	Sample s;
	Sampler sm;
	ck_assert_int_eq(config_init_defaults(&c), 0);

	case_root("normal", root, sizeof(root));
	ProbeEnv env = { .proc_root = root, .dev_root = "/dev" };
	sampler_init(&sm, &env);
	sampler_prime(&sm, &c, 1000);
	/* The same /proc/stat twice a millisecond apart: too short to tell, neither 0 % nor an
	 * error. Over a second: CPU time stood still, which no running machine does. */
	sampler_sample(&sm, &c, 2000, false, &s);
	ck_assert_uint_eq(s.n_errors, 0);
	ck_assert(!s.cpu.valid);
	sampler_sample(&sm, &c, 1000 + USEC_PER_SEC, true, &s);
	ck_assert_uint_eq(s.n_errors, 1);
	ck_assert_str_eq(s.errors[0].probe, "cpu");
	ck_assert_ptr_nonnull(
	        strstr(s.errors[0].message, "/proc/normal/stat: CPU time stood still"));
	ck_assert(!s.cpu.valid);
	ck_assert(s.memory.valid);
	sampler_done(&sm);

	case_root("garbage", root, sizeof(root));
	env.proc_root = root;
	sampler_init(&sm, &env);
	sampler_prime(&sm, &c, 1000);
	sampler_sample(&sm, &c, 2000, true, &s);
	ck_assert_uint_eq(s.n_errors, 2);
	ck_assert_str_eq(s.errors[0].probe, "cpu");
	ck_assert_ptr_nonnull(strstr(s.errors[0].message, "no aggregate 'cpu' line"));
	ck_assert_str_eq(s.errors[1].probe, "memory");
	ck_assert(!s.cpu.valid);
	ck_assert(!s.memory.valid);
	sampler_done(&sm);
	config_free(&c);
}
END_TEST

static const ProbeError *error_of(const Sample *s, const char *probe)
{
	for (size_t i = 0; i < s->n_errors; i++)
		if (streq(s->errors[i].probe, probe))
			return &s->errors[i];
	return NULL;
}

/* Counters that go back between two checks (tests/data/proc-counters): every rate probe says
 * so, naming the file, rather than reading "nothing moved". */
START_TEST(test_sampler_counters_going_back_are_errors)
{
	char before[1024], back[1024], sys[1024];
	Config c;
	Sample *s = malloc(sizeof(*s));
	Sampler sm;
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(config_init_defaults(&c), 0);
	c.network_kbps = 1;
	c.disk_kbps = 1;
	snprintf(before, sizeof(before), "%s/proc-counters/before", data_dir());
	snprintf(back, sizeof(back), "%s/proc-counters/back", data_dir());
	snprintf(sys, sizeof(sys), "%s/proc-counters/sys", data_dir());

	/* Standing still: an error for the CPU total only; a quiet disk or network is quiet. */
	ProbeEnv env = { .proc_root = before, .dev_root = "/dev", .sys_root = sys };
	sampler_init(&sm, &env);
	sampler_prime(&sm, &c, 1000);
	sampler_sample(&sm, &c, 1000 + USEC_PER_SEC, false, s);
	ck_assert_ptr_nonnull(error_of(s, "cpu"));
	ck_assert_ptr_null(error_of(s, "processes"));
	ck_assert_ptr_null(error_of(s, "network"));
	ck_assert_ptr_null(error_of(s, "disk"));
	ck_assert(s->network.valid && s->network.kbps == 0.0);
	ck_assert(s->disk.valid && s->disk.kbps == 0.0);

	sm.env.proc_root = back;
	sampler_sample(&sm, &c, 1000 + USEC_PER_SEC, true, s);
	const ProbeError *e = error_of(s, "cpu");
	ck_assert_ptr_nonnull(e);
	ck_assert_msg(strstr(e->message, "proc-counters/back/stat: CPU time went back"), "%s",
	              e->message);
	ck_assert_ptr_nonnull(e = error_of(s, "processes"));
	ck_assert_msg(strstr(e->message, "back/10/stat: CPU time went back from 380 to 280"), "%s",
	              e->message);
	ck_assert_ptr_nonnull(e = error_of(s, "network"));
	ck_assert_msg(strstr(e->message, "back/1/net/dev: eth0 byte count went back"), "%s",
	              e->message);
	ck_assert_ptr_nonnull(e = error_of(s, "disk"));
	ck_assert_msg(strstr(e->message, "back/diskstats: sda byte count went back"), "%s",
	              e->message);
	ck_assert(!s->cpu.valid && !s->network.valid && !s->disk.valid);
	sampler_done(&sm);
	config_free(&c);
	free(s);
}
END_TEST

typedef struct CloudInitProbeCase {
	const char *name;
	const char *status; /* status.json's text; NULL: no such file */
	bool result;        /* result.json exists */
	bool running;
	const char *stage;
} CloudInitProbeCase;

static const CloudInitProbeCase cloud_init_probe_cases[] = {
	{ "a stage under way", "{\"v1\": {\"stage\": \"modules-final\", \"init\": {}}}", false,
	  true, "modules-final" },
	{ "between stages", "{\"v1\": {\"stage\": null}}", false, true, "" },
	{ "status.json cut short", "{\"v1\": {\"stage\": \"modu", false, true, "" },
	{ "status.json not JSON", "\x01\x02 garbage", false, true, "" },
	{ "a stage that is no string", "{\"v1\": {\"stage\": 7}}", false, true, "" },
	{ "a stage name with control characters", "{\"v1\": {\"stage\": \"in\\u001bit\"}}", false,
	  true, "init" },
	{ "done", "{\"v1\": {\"stage\": null}}", true, false, "" },
	{ "done, status.json gone", NULL, true, false, "" },
	{ "the directory without either (disabled)", NULL, false, false, "" },
};

START_TEST(test_cloud_init_probe)
{
	const CloudInitProbeCase *t = &cloud_init_probe_cases[_i];
	char dir[512], err[256] = "";
	CloudInitFacts f;
	snprintf(dir, sizeof(dir), "%s/cloud-init", test_tmpdir);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	if (t->status)
		test_write_file("cloud-init/status.json", t->status, strlen(t->status));
	if (t->result)
		test_write_file("cloud-init/result.json", "{}", 2);
	ck_assert_int_eq(cloud_init_probe(dir, &f, err, sizeof(err)), 0);
	ck_assert_msg(f.valid && f.running == t->running, "%s: valid %d running %d", t->name,
	              f.valid, f.running);
	ck_assert_str_eq(f.stage, t->stage);
}
END_TEST

/* No run directory: cloud-init is not installed or did not run this boot. A directory that
 * cannot be read is an error (activity), never "not running". */
START_TEST(test_cloud_init_probe_missing_and_unreadable)
{
	char dir[512], err[256] = "";
	CloudInitFacts f;
	snprintf(dir, sizeof(dir), "%s/absent", test_tmpdir);
	ck_assert_int_eq(cloud_init_probe(dir, &f, err, sizeof(err)), 0);
	ck_assert(f.valid && !f.running);

	test_write_file("not-a-dir", "x", 1);
	snprintf(dir, sizeof(dir), "%s/not-a-dir", test_tmpdir);
	ck_assert_int_eq(cloud_init_probe(dir, &f, err, sizeof(err)), -ENOTDIR);
	ck_assert(!f.valid);
	ck_assert_msg(strstr(err, "not-a-dir: Not a directory"), "%s", err);

	/* A path component that is a file: the same, for the files inside. */
	snprintf(dir, sizeof(dir), "%s/not-a-dir/cloud-init", test_tmpdir);
	ck_assert_int_lt(cloud_init_probe(dir, &f, err, sizeof(err)), 0);
	ck_assert(!f.valid);
}
END_TEST

/* The sampler reads it only when CloudInitMaxSec= is not 0, and from the directory its
 * environment names. */
START_TEST(test_sampler_cloud_init)
{
	char root[1024], dir[512];
	Config c;
	Sample *s = malloc(sizeof(*s));
	Sampler sm;
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(config_init_defaults(&c), 0);
	snprintf(dir, sizeof(dir), "%s/ci", test_tmpdir);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	test_write_file("ci/status.json", "{\"v1\": {\"stage\": \"init\"}}", 26);
	case_root("normal", root, sizeof(root));
	ProbeEnv env = { .proc_root = root, .dev_root = "/dev", .cloud_init_dir = dir };
	sampler_init(&sm, &env);
	sampler_prime(&sm, &c, 1000);
	sampler_sample(&sm, &c, 2000, false, s);
	ck_assert(s->cloud_init.valid && s->cloud_init.running);
	ck_assert_str_eq(s->cloud_init.stage, "init");
	c.cloud_init_max = 0;
	sampler_sample(&sm, &c, 3000, false, s);
	ck_assert(!s->cloud_init.valid);
	sampler_done(&sm);
	config_free(&c);
	free(s);
}
END_TEST

/* Makes test_tmpdir/rel and every directory above it. */
static void make_dirs(const char *rel)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", test_tmpdir, rel);
	for (char *p = path + strlen(test_tmpdir) + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char was = *p;
		*p = '\0';
		ck_assert_msg(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir %s", path);
		*p = was;
		if (!was)
			break;
	}
}

/* A process that holds a POSIX record lock on path (as dpkg and apt do) until *release is
 * closed; returns its pid. F_GETLK never reports our own locks, so it must be another. */
static pid_t hold_lock(const char *path, short type, int *release)
{
	int ready[2], wait[2];
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(wait), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(wait[1]); /* or the read below never sees the end */
		close(ready[0]);
		int fd = open(path, type == F_WRLCK ? O_RDWR : O_RDONLY);
		struct flock fl = { .l_type = type, .l_whence = SEEK_SET };
		char c = fd >= 0 && fcntl(fd, F_SETLK, &fl) == 0 ? 'y' : 'n';
		(void)!write(ready[1], &c, 1);
		(void)!read(wait[0], &c, 1);
		_exit(0);
	}
	close(ready[1]);
	close(wait[0]);
	char c = 0;
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	ck_assert_int_eq(c, 'y');
	close(ready[0]);
	*release = wait[1];
	return pid;
}

static void release_lock(pid_t pid, int release)
{
	close(release);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
}

START_TEST(test_package_locks_probe)
{
	char err[256] = "";
	PackageLockFacts f;
	/* No dpkg here at all: nothing held, no error. */
	ck_assert_int_eq(package_locks_probe(test_tmpdir, NULL, 100, &f, err, sizeof(err)), 0);
	ck_assert(f.valid && !f.held);

	char lists[600], frontend[600];
	make_dirs("var/lib/dpkg");
	make_dirs("var/lib/apt/lists");
	test_write_file("var/lib/dpkg/lock-frontend", "", 0);
	test_write_file("var/lib/dpkg/lock", "", 0);
	test_write_file("var/lib/apt/lists/lock", "", 0);
	snprintf(lists, sizeof(lists), "%s/var/lib/apt/lists/lock", test_tmpdir);
	snprintf(frontend, sizeof(frontend), "%s/var/lib/dpkg/lock-frontend", test_tmpdir);

	/* Files that nobody locks: not held. */
	ck_assert_int_eq(package_locks_probe(test_tmpdir, NULL, 100, &f, err, sizeof(err)), 0);
	ck_assert(f.valid && !f.held);

	/* apt-get update holds the lists lock. */
	int release;
	pid_t pid = hold_lock(lists, F_WRLCK, &release);
	ck_assert_int_eq(package_locks_probe(test_tmpdir, NULL, 100, &f, err, sizeof(err)), 0);
	ck_assert(f.valid && f.held);
	ck_assert_str_eq(f.lock, "/var/lib/apt/lists/lock");
	ck_assert_int_eq(f.pid, pid);
	/* With the check's process table, the holder is named and its start known (the core
	 * bounds the signal by how long the holder has run). */
	ProcTable procs;
	ck_assert_int_eq(proc_table_scan("/proc", &procs, err, sizeof(err)), 0);
	ck_assert_int_eq(package_locks_probe(test_tmpdir, &procs, 100, &f, err, sizeof(err)), 0);
	const ProcEntry *holder = proc_table_find(&procs, pid);
	ck_assert_ptr_nonnull(holder);
	ck_assert_str_eq(f.comm, holder->comm);
	ck_assert_uint_eq(f.started, proc_started_usec(holder, 100));
	ck_assert_uint_gt(f.started, 0);
	proc_table_done(&procs);
	release_lock(pid, release);

	/* The frontend lock comes first; once released, nothing is held any more. */
	pid = hold_lock(frontend, F_WRLCK, &release);
	ck_assert_int_eq(package_locks_probe(test_tmpdir, NULL, 100, &f, err, sizeof(err)), 0);
	ck_assert_str_eq(f.lock, "/var/lib/dpkg/lock-frontend");
	release_lock(pid, release);
	ck_assert_int_eq(package_locks_probe(test_tmpdir, NULL, 100, &f, err, sizeof(err)), 0);
	ck_assert(f.valid && !f.held);

	/* A read lock: dpkg and apt never take one, any user who can read the file could. */
	pid = hold_lock(frontend, F_RDLCK, &release);
	ck_assert_int_eq(package_locks_probe(test_tmpdir, NULL, 100, &f, err, sizeof(err)), 0);
	ck_assert(f.valid && !f.held);
	release_lock(pid, release);

	/* A lock file that cannot be opened (here its path runs through a file): an error that
	 * names it, never "not held". */
	char root[600];
	snprintf(root, sizeof(root), "%s/var/lib/dpkg/lock", test_tmpdir);
	ck_assert_int_lt(package_locks_probe(root, NULL, 100, &f, err, sizeof(err)), 0);
	ck_assert(!f.valid);
	ck_assert_msg(strstr(err, "lock/var/lib/dpkg/lock-frontend: Not a directory"), "%s", err);
}
END_TEST

/* ---- InhibitorWatch: when the check's own wake-up asks logind -------------------------- */

static int waited;

static void count_wait(void *userdata)
{
	waited++;
}

/* What the check that waited reads. */
static int probe_in_wait_r;
static char probe_in_wait_err[256];

static void probe_in_wait(void *userdata)
{
	InhibitorFacts f;
	bool said = false;
	waited++;
	probe_in_wait_r = inhibitor_watch_probe(userdata, now_boottime(), 60 * USEC_PER_SEC, &said,
	                                        &f, probe_in_wait_err, sizeof(probe_in_wait_err));
}

/* Points sd-bus at tmpdir/name for the system bus. */
static void system_bus_at(const char *name)
{
	char address[700];
	snprintf(address, sizeof(address), "unix:path=%s/%s", test_tmpdir, name);
	ck_assert_int_eq(setenv("DBUS_SYSTEM_BUS_ADDRESS", address, 1), 0);
}

/* A system bus at tmpdir/name that takes connections and never answers (logind stuck,
 * dbus-daemon overloaded): they wait in the backlog. Returns its listening socket. */
static int silent_bus(const char *name)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/%s", test_tmpdir, name);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	ck_assert_int_ge(fd, 0);
	ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
	strcpy(sa.sun_path, path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	system_bus_at(name);
	return fd;
}

START_TEST(test_inhibitor_watch_without_a_bus_answers_at_once)
{
	sd_event *e = NULL;
	SystemBus bus = { 0 };
	InhibitorWatch w;
	InhibitorFacts f;
	bool said = false;
	char err[256] = "";
	system_bus_at("no-such-socket");
	ck_assert_int_ge(sd_event_new(&e), 0);
	bus.event = e;
	ck_assert_int_eq(inhibitor_watch_init(&w, e, &bus), 0);
	/* Asked at start; no bus is an answer at once, and a quick one. */
	ck_assert(w.answered);
	ck_assert(inhibitor_watch_quick(&w, now_boottime()));
	waited = 0;
	inhibitor_watch_ask_and_wait(&w, now_boottime(), INHIBITOR_QUICK_USEC, count_wait, NULL);
	ck_assert_int_eq(waited, 1); /* before it returned: the check runs in the same wake-up */
	ck_assert_int_eq(sd_event_run(e, 50 * USEC_PER_MSEC), 0);
	ck_assert_int_eq(waited, 1); /* and only then: its deadline was put away */
	ck_assert_int_eq(inhibitor_watch_probe(&w, now_boottime(), USEC_PER_SEC, &said, &f, err,
	                                       sizeof(err)),
	                 0);
	ck_assert(f.valid && !f.available);
	ck_assert_msg(strstr(f.absent, "no system bus"), "%s", f.absent);
	inhibitor_watch_done(&w);
	system_bus_done(&bus);
	sd_event_unref(e);
}
END_TEST

/* A bus that takes the connection and never answers (logind stuck, dbus-daemon overloaded):
 * the check waits as long as it was told, not longer, and logind counts as slow from then on,
 * so that the next checks ask it ahead of time. */
START_TEST(test_inhibitor_watch_waits_no_longer_than_told)
{
	int fd = silent_bus("bus");

	sd_event *e = NULL;
	SystemBus bus = { 0 };
	InhibitorWatch w;
	ck_assert_int_ge(sd_event_new(&e), 0);
	bus.event = e;
	ck_assert_int_eq(inhibitor_watch_init(&w, e, &bus), 0);
	ck_assert(!w.answered);
	usec_t start = now_boottime();
	ck_assert(inhibitor_watch_quick(&w, start)); /* a young first call: worth waiting for */
	/* An earlier answer (no logind), from before this check. */
	w.answered = true;
	w.connected = false;
	w.r = -ENOENT;
	w.answered_at = start;
	waited = 0;
	const usec_t wait = 200 * USEC_PER_MSEC;
	inhibitor_watch_ask_and_wait(&w, start, wait, probe_in_wait, &w);
	ck_assert_int_eq(waited, 0);
	while (waited == 0 && now_boottime() - start < 5 * USEC_PER_SEC)
		ck_assert_int_ge(sd_event_run(e, 100 * USEC_PER_MSEC), 0);
	usec_t took = now_boottime() - start;
	ck_assert_int_eq(waited, 1);
	ck_assert_uint_ge(took, wait);
	ck_assert_msg(took < 2 * USEC_PER_SEC, "waited %llu us", (unsigned long long)took);
	/* The check that waited in vain does not read the earlier answer as today's: a lock
	 * taken since would read as none. It is an error, so the check counts as active. */
	ck_assert_int_eq(probe_in_wait_r, -ETIMEDOUT);
	ck_assert_msg(strstr(probe_in_wait_err, "no answer yet to a question asked for this check"),
	              "%s", probe_in_wait_err);
	ck_assert(!inhibitor_watch_quick(&w, now_boottime())); /* under way for longer */
	/* A look after it (check-now) reads the earlier answer as before. */
	InhibitorFacts f;
	bool said = false;
	char err[256] = "";
	ck_assert_int_eq(inhibitor_watch_probe(&w, now_boottime(), 60 * USEC_PER_SEC, &said, &f,
	                                       err, sizeof(err)),
	                 0);
	ck_assert(f.valid && !f.available);
	for (int i = 0; i < 3; i++)
		(void)sd_event_run(e, 20 * USEC_PER_MSEC);
	ck_assert_int_eq(waited, 1); /* once */
	inhibitor_watch_done(&w);
	system_bus_done(&bus);
	sd_event_unref(e);
	close(fd);
}
END_TEST

static usec_t woken_at[2];
static usec_t woken_need[2];

static void note_wake(void *userdata)
{
	InhibitorWatch *w = userdata;
	woken_at[waited] = now_boottime();
	woken_need[waited] = inhibitor_watch_waited_for(w);
	waited++;
}

/* A check and an action's step wait at once for a logind that never answers: each is woken
 * once, at its own deadline, told which question it waited for; one more than there is room
 * for is told at once, with a question no answer can be to. */
START_TEST(test_inhibitor_watch_two_waiters_each_their_deadline)
{
	int fd = silent_bus("bus2");

	sd_event *e = NULL;
	SystemBus bus = { 0 };
	InhibitorWatch w;
	ck_assert_int_ge(sd_event_new(&e), 0);
	bus.event = e;
	ck_assert_int_eq(inhibitor_watch_init(&w, e, &bus), 0);
	usec_t start = now_boottime();
	waited = 0;
	usec_t asked1 = inhibitor_watch_ask_and_wait(&w, start, 300 * USEC_PER_MSEC, note_wake, &w);
	usec_t asked2 = inhibitor_watch_ask_and_wait(&w, start, 100 * USEC_PER_MSEC, note_wake, &w);
	/* Each waits for a question sent after it began: the one under way (asked at init)
	 * will not do. */
	ck_assert_uint_ge(asked1, w.asked);
	ck_assert_uint_ge(asked2, asked1);
	ck_assert_int_eq(waited, 0);
	while (waited < 2 && now_boottime() - start < 5 * USEC_PER_SEC)
		ck_assert_int_ge(sd_event_run(e, 50 * USEC_PER_MSEC), 0);
	ck_assert_int_eq(waited, 2);
	ck_assert_uint_ge(woken_at[0] - start, 100 * USEC_PER_MSEC); /* the shorter wait first */
	ck_assert_uint_lt(woken_at[0] - start, 300 * USEC_PER_MSEC);
	ck_assert_uint_ge(woken_at[1] - start, 300 * USEC_PER_MSEC);
	ck_assert_uint_eq(woken_need[0], asked2);
	ck_assert_uint_eq(woken_need[1], asked1);
	ck_assert_uint_eq(inhibitor_watch_waited_for(&w), 0); /* only inside a done */

	/* Full: as many wait as there is room for; one more is told at once and its probe is
	 * an error. */
	waited = 0;
	for (size_t i = 0; i < ELEMENTSOF(w.waiters); i++)
		inhibitor_watch_ask_and_wait(&w, now_boottime(), USEC_PER_SEC, count_wait, NULL);
	ck_assert_int_eq(waited, 0);
	w.answered = true; /* an answer to a question before the one under way */
	w.answered_at = now_boottime();
	w.answer_asked = asked1 - 1;
	inhibitor_watch_ask_and_wait(&w, now_boottime(), USEC_PER_SEC, probe_in_wait, &w);
	ck_assert_int_eq(waited, 1);
	ck_assert_msg(probe_in_wait_r == -ETIMEDOUT, "%d %s", probe_in_wait_r, probe_in_wait_err);
	inhibitor_watch_done(&w);
	system_bus_done(&bus);
	sd_event_unref(e);
	close(fd);
}
END_TEST

/* Quick or slow is the last answer's time; a young call under way does not hide a slow one. */
START_TEST(test_inhibitor_watch_quick_is_the_last_answers_time)
{
	InhibitorWatch w = { .answered = true, .answer_took = INHIBITOR_QUICK_USEC };
	usec_t now = 100 * USEC_PER_SEC;
	ck_assert(inhibitor_watch_quick(&w, now));
	w.answer_took = INHIBITOR_QUICK_USEC + 1;
	ck_assert(!inhibitor_watch_quick(&w, now));
	w.answered = false; /* the first call, none answered yet */
	ck_assert(inhibitor_watch_quick(&w, now));
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("probes");
	TCase *tc = tcase_create("parsers");
	tcase_add_loop_test(tc, test_cpu_parse, 0, (int)ELEMENTSOF(cpu_cases));
	tcase_add_test(tc, test_proc_parse_u64);
	tcase_add_test(tc, test_cpu_sum_overflow);
	tcase_add_test(tc, test_cpu_read_names_the_path);
	tcase_add_test(tc, test_cpu_busy_percent);
	tcase_add_test(tc, test_user_procs_probe);
	tcase_add_test(tc, test_user_procs_keeps_the_busiest);
	tcase_add_loop_test(tc, test_meminfo_parse, 0, (int)ELEMENTSOF(mem_cases));
	tcase_add_test(tc, test_meminfo_value_forms);
	tcase_add_test(tc, test_memory_read_names_the_path);
	tcase_add_test(tc, test_sampler_reports_probe_errors);
	tcase_add_test(tc, test_sampler_counters_going_back_are_errors);
	suite_add_tcase(s, tc);
	TCase *ci = tcase_create("cloud-init");
	tcase_add_checked_fixture(ci, test_tmpdir_setup, test_tmpdir_teardown);
	tcase_add_loop_test(ci, test_cloud_init_probe, 0, (int)ELEMENTSOF(cloud_init_probe_cases));
	tcase_add_test(ci, test_cloud_init_probe_missing_and_unreadable);
	tcase_add_test(ci, test_sampler_cloud_init);
	tcase_add_test(ci, test_package_locks_probe);
	suite_add_tcase(s, ci);
	TCase *iw = tcase_create("inhibitor-watch");
	tcase_add_checked_fixture(iw, test_tmpdir_setup, test_tmpdir_teardown);
	tcase_add_test(iw, test_inhibitor_watch_without_a_bus_answers_at_once);
	tcase_add_test(iw, test_inhibitor_watch_waits_no_longer_than_told);
	tcase_add_test(iw, test_inhibitor_watch_quick_is_the_last_answers_time);
	tcase_add_test(iw, test_inhibitor_watch_two_waiters_each_their_deadline);
	suite_add_tcase(s, iw);
	return s;
}
