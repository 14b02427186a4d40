/* The configuration parser: good files, every kind of bad line with its exact FILE:LINE
 * message, unknown keys, drop-in order, and the dump reading back as the same configuration. */
#include "check-main.h"
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include "config.h"
#include "test-util.h"

#define SEC USEC_PER_SEC

static void parse_ok(Config *c, const char *text)
{
	ConfigDiag d = { 0 };
	ck_assert_int_eq(config_init_defaults(c), 0);
	int r = config_parse_text(c, "t.conf", text, &d);
	ck_assert_msg(r == 0, "unexpected error: %s", d.errors ? d.errors[0] : "?");
	ck_assert_ptr_null(d.errors);
	config_diag_clear(&d);
}

/* Parses text expecting exactly one error and no warnings; returns that error. */
static void parse_one_error(const char *text, const char *expected)
{
	Config c;
	ConfigDiag d = { 0 };
	ck_assert_int_eq(config_init_defaults(&c), 0);
	ck_assert_int_eq(config_parse_text(&c, "t.conf", text, &d), 1);
	ck_assert_uint_eq(strv_length(d.errors), 1);
	ck_assert_str_eq(d.errors[0], expected);
	ck_assert_ptr_null(d.warnings);
	config_diag_clear(&d);
	config_free(&c);
}

START_TEST(test_defaults)
{
	Config c;
	ck_assert_int_eq(config_init_defaults(&c), 0);
	ck_assert_uint_eq(c.interval, 60 * SEC);
	ck_assert_uint_eq(c.boot_grace, 300 * SEC);
	ck_assert_uint_eq(c.idle_checks, 2);
	ck_assert_int_eq(c.action, ACTION_AUTO);
	ck_assert_uint_eq(c.warn, 60 * SEC);
	ck_assert(c.fallback_poweroff);
	ck_assert_ptr_null(c.pre_action_command);
	ck_assert_double_eq(c.cpu_percent, 10);
	ck_assert_double_eq(c.memory_percent, 80);
	ck_assert_uint_eq(c.max_hold, 24 * 3600 * SEC);
	ck_assert_str_eq(c.neuron_device_pattern, "/dev/neuron*");
	ck_assert_str_eq(c.neuron_processes[0], "neuronx-cc");
	ck_assert_str_eq(c.imds_endpoint, "http://169.254.169.254");
	ck_assert_ptr_null(c.ec2_endpoint);
	config_free(&c);
}
END_TEST

START_TEST(test_good_file)
{
	Config c;
	parse_ok(&c, "# a comment\n"
	             "; another comment\n"
	             "\n"
	             "[Check]\n"
	             "IntervalSec = 1h 30min\n"
	             "  BootGraceSec=0  \n"
	             "IdleChecks=5\r\n"
	             "[Action]\n"
	             "Action=none\n"
	             "WarnSec=0\n"
	             "FallbackPoweroff=off\n"
	             "PreActionCommand=/usr/bin/logger -t trnidled \"about to stop; bye\"\n"
	             "[Thresholds]\n"
	             "CpuPercent=12.5%\n"
	             "MemoryPercent=100\n"
	             "[Neuron]\n"
	             "Processes=a  b\tc\n"
	             "[AWS]\n"
	             "Ec2Endpoint=http://127.0.0.1:8080/\n");
	ck_assert_uint_eq(c.interval, 90 * 60 * SEC);
	ck_assert_uint_eq(c.boot_grace, 0);
	ck_assert_uint_eq(c.idle_checks, 5);
	ck_assert_int_eq(c.action, ACTION_NONE);
	ck_assert_uint_eq(c.warn, 0);
	ck_assert(!c.fallback_poweroff);
	ck_assert_uint_eq(strv_length(c.pre_action_command), 4);
	ck_assert_str_eq(c.pre_action_command[3], "about to stop; bye");
	ck_assert_double_eq(c.cpu_percent, 12.5);
	ck_assert_double_eq(c.memory_percent, 100);
	ck_assert_uint_eq(strv_length(c.neuron_processes), 3);
	ck_assert_str_eq(c.neuron_processes[2], "c");
	ck_assert_str_eq(c.ec2_endpoint, "http://127.0.0.1:8080/");
	config_free(&c);
}
END_TEST

START_TEST(test_later_line_wins_and_empty_resets)
{
	Config c;
	parse_ok(&c, "[Check]\nIdleChecks=3\nIdleChecks=4\n"
	             "[Action]\nPreActionCommand=/bin/true\nPreActionCommand=\n"
	             "[AWS]\nEc2Endpoint=http://x/\nEc2Endpoint=\n");
	ck_assert_uint_eq(c.idle_checks, 4);
	ck_assert_ptr_null(c.pre_action_command);
	ck_assert_ptr_null(c.ec2_endpoint);
	config_free(&c);
}
END_TEST

typedef struct BadCase {
	const char *text;
	const char *error;
} BadCase;

static const BadCase bad[] = {
	{ "[Check]\nIntervalSec=soon\n",
	  "t.conf:2: [Check] IntervalSec=soon: not a time span (examples: 90s, 5min, 2h)" },
	{ "[Check]\nIntervalSec=0\n",
	  "t.conf:2: [Check] IntervalSec=0: out of range (10ms to 1d)" },
	{ "[Check]\nIntervalSec=\n", "t.conf:2: [Check] IntervalSec=: must not be empty" },
	{ "[Check]\nIntervalSec=  \n", "t.conf:2: [Check] IntervalSec=: must not be empty" },
	{ "[Neuron]\nSysfsRoot=\n", "t.conf:2: [Neuron] SysfsRoot=: must not be empty" },
	{ "[Neuron]\nSysfsRoot=relative/path\n",
	  "t.conf:2: [Neuron] SysfsRoot=relative/path: must be an absolute path" },
	{ "[Neuron]\nDevicePattern=neuron*\n",
	  "t.conf:2: [Neuron] DevicePattern=neuron*: must be an absolute path" },
	{ "[Metrics]\nTextfilePath=m.prom\n",
	  "t.conf:2: [Metrics] TextfilePath=m.prom: must be an absolute path" },
	{ "[AWS]\nNotifyTopicArn=arn:aws:sqs:us-east-1:123456789012:q\n",
	  "t.conf:2: [AWS] NotifyTopicArn=arn:aws:sqs:us-east-1:123456789012:q: not the ARN of an "
	  "SNS topic (arn:aws:sns:REGION:ACCOUNT:NAME)" },
	{ "[Neuron]\nProcesses=neuronx-cc \"\"\n",
	  "t.conf:2: [Neuron] Processes=neuronx-cc \"\": an empty word (\"\") in the list" },
	{ "\n\n[Check]\nIdleChecks=0\n",
	  "t.conf:4: [Check] IdleChecks=0: out of range (1 to 10000)" },
	{ "[Check]\nIdleChecks=2.5\n", "t.conf:2: [Check] IdleChecks=2.5: not a whole number" },
	{ "[Check]\nIdleChecks=-1\n",
	  "t.conf:2: [Check] IdleChecks=-1: out of range (1 to 10000)" },
	{ "[Thresholds]\nCpuPercent=101\n",
	  "t.conf:2: [Thresholds] CpuPercent=101: out of range (0 to 100)" },
	{ "[Thresholds]\nCpuPercent=ten\n", "t.conf:2: [Thresholds] CpuPercent=ten: not a number" },
	{ "[Thresholds]\nCpuPercent=nan\n", "t.conf:2: [Thresholds] CpuPercent=nan: not a number" },
	{ "[Thresholds]\nCpuPercent=5%%\n", "t.conf:2: [Thresholds] CpuPercent=5%%: not a number" },
	{ "[Action]\nFallbackPoweroff=maybe\n",
	  "t.conf:2: [Action] FallbackPoweroff=maybe: not a boolean (yes or no)" },
	{ "[Action]\nAction=reboot\n", "t.conf:2: [Action] Action=reboot: unknown action (auto, "
	                               "poweroff, stop-instance, none)" },
	{ "[Action]\nPreActionCommand=logger hi\n",
	  "t.conf:2: [Action] PreActionCommand=logger hi: the command must start with an absolute "
	  "path" },
	{ "[Action]\nPreActionCommand=/bin/echo \"open\n",
	  "t.conf:2: [Action] PreActionCommand=/bin/echo \"open: unterminated quote" },
	{ "[Control]\nMaxHoldSec=30s\n",
	  "t.conf:2: [Control] MaxHoldSec=30s: out of range (1min to 30d)" },
	{ "IntervalSec=5s\n", "t.conf:1: IntervalSec= outside of any [Section]" },
	{ "[Check]\njust words\n", "t.conf:2: expected Key=value or [Section], got 'just words'" },
	{ "[Check\n", "t.conf:1: bad section header '[Check'" },
	{ "[]\n", "t.conf:1: bad section header '[]'" },
	{ "[Check] x\n", "t.conf:1: bad section header '[Check] x'" },
	{ "[Check]\nIntervalSec=\x01\x7f\n",
	  "t.conf:2: [Check] IntervalSec=??: not a time span (examples: 90s, 5min, 2h)" },
};

START_TEST(test_bad_value)
{
	parse_one_error(bad[_i].text, bad[_i].error);
}
END_TEST

/* The keys an empty value is a meaningful setting for (documented in trnidled.conf(5)): a
 * key added to the table must be either here or refused when empty. */
static const char *const may_be_empty[] = {
	"Action.PreActionCommand", /* no command */
	"Neuron.Processes",        /* the list matches nothing */
	"Processes.Active",        /* the list matches nothing */
	"AWS.Ec2Endpoint",         /* the region's public endpoint */
	"AWS.MonitoringEndpoint",  /* the region's public endpoint */
	"AWS.NotifyTopicArn",      /* no notifications */
	"AWS.SnsEndpoint",         /* the topic's region's public endpoint */
	"Metrics.TextfilePath",    /* no metrics file */
	"Control.HoldAllowed",     /* everyone may hold */
	"Control.AdminGroup",      /* no admin group: root alone */
};

static bool listed(const char *const *l, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (streq(l[i], s))
			return true;
	return false;
}

/* Every key of the table (read from the dump, which prints them all): "Key=" is either
 * refused at FILE:LINE or one of the documented empty settings, and the dump shows it so. */
START_TEST(test_every_key_empty)
{
	Config defaults;
	char *dump = NULL, section[64] = "";
	size_t size = 0, n_keys = 0;
	ck_assert_int_eq(config_init_defaults(&defaults), 0);
	FILE *f = open_memstream(&dump, &size);
	config_dump(&defaults, f);
	fclose(f);
	config_free(&defaults);
	for (char *line = strtok(dump, "\n"); line; line = strtok(NULL, "\n")) {
		if (line[0] == '[') {
			snprintf(section, sizeof(section), "%.*s", (int)strcspn(line + 1, "]"),
			         line + 1);
			continue;
		}
		char key[64], name[160], text[256], expected[256];
		snprintf(key, sizeof(key), "%.*s", (int)strcspn(line, "="), line);
		snprintf(name, sizeof(name), "%s.%s", section, key);
		snprintf(text, sizeof(text), "[%s]\n%s=\n", section, key);
		n_keys++;
		Config c;
		ConfigDiag d = { 0 };
		ck_assert_int_eq(config_init_defaults(&c), 0);
		int r = config_parse_text(&c, "t.conf", text, &d);
		if (listed(may_be_empty, ELEMENTSOF(may_be_empty), name)) {
			ck_assert_msg(r == 0, "%s= refused: %s", name,
			              d.errors ? d.errors[0] : "?");
			char *out = NULL;
			size_t outsize = 0;
			FILE *o = open_memstream(&out, &outsize);
			config_dump(&c, o);
			fclose(o);
			snprintf(expected, sizeof(expected), "\n%s=\n", key);
			ck_assert_msg(strstr(out, expected), "%s= not shown empty", name);
			free(out);
		} else {
			snprintf(expected, sizeof(expected),
			         "t.conf:2: [%s] %s=: must not be empty", section, key);
			ck_assert_msg(r == 1 && d.errors && streq(d.errors[0], expected),
			              "%s= accepted or refused oddly: %s", name,
			              d.errors ? d.errors[0] : "accepted");
		}
		config_diag_clear(&d);
		config_free(&c);
	}
	ck_assert_uint_gt(n_keys, 20);
	free(dump);
}
END_TEST

START_TEST(test_every_bad_line_is_reported)
{
	Config c;
	ConfigDiag d = { 0 };
	ck_assert_int_eq(config_init_defaults(&c), 0);
	ck_assert_int_eq(config_parse_text(&c, "t.conf",
	                                   "[Check]\nIntervalSec=x\nIdleChecks=7\nIdleChecks=y\n"
	                                   "[Thresholds]\nCpuPercent=200\n",
	                                   &d),
	                 3);
	ck_assert_uint_eq(strv_length(d.errors), 3);
	ck_assert_ptr_nonnull(strstr(d.errors[0], "t.conf:2:"));
	ck_assert_ptr_nonnull(strstr(d.errors[1], "t.conf:4:"));
	ck_assert_ptr_nonnull(strstr(d.errors[2], "t.conf:6:"));
	/* Good lines around the bad ones still apply; a bad line leaves the field alone. */
	ck_assert_uint_eq(c.idle_checks, 7);
	ck_assert_uint_eq(c.interval, 60 * SEC);
	config_diag_clear(&d);
	config_free(&c);
}
END_TEST

START_TEST(test_unknown_keys_and_sections_warn)
{
	Config c;
	ConfigDiag d = { 0 };
	ck_assert_int_eq(config_init_defaults(&c), 0);
	ck_assert_int_eq(config_parse_text(&c, "t.conf",
	                                   "[Check]\nIntervalSecs=5s\nintervalsec=5s\n"
	                                   "[Future]\nAnything=at all\nNot even a key\n"
	                                   "[Check]\nIdleChecks=3\n",
	                                   &d),
	                 1);
	ck_assert_uint_eq(strv_length(d.warnings), 3);
	ck_assert_str_eq(d.warnings[0],
	                 "t.conf:2: unknown key IntervalSecs= in [Check], ignoring it");
	ck_assert_str_eq(d.warnings[1],
	                 "t.conf:3: unknown key intervalsec= in [Check], ignoring it");
	ck_assert_str_eq(d.warnings[2], "t.conf:4: unknown section [Future], ignoring it");
	/* A line that is not Key=value is an error even in an unknown section. */
	ck_assert_str_eq(d.errors[0],
	                 "t.conf:6: expected Key=value or [Section], got 'Not even a key'");
	ck_assert_uint_eq(c.interval, 60 * SEC);
	ck_assert_uint_eq(c.idle_checks, 3);
	config_diag_clear(&d);
	config_free(&c);
}
END_TEST

START_TEST(test_long_value_is_cut_in_the_message)
{
	char text[4096];
	char value[2001];
	memset(value, 'x', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	snprintf(text, sizeof(text), "[Check]\nIntervalSec=%s\n", value);
	Config c;
	ConfigDiag d = { 0 };
	ck_assert_int_eq(config_init_defaults(&c), 0);
	ck_assert_int_eq(config_parse_text(&c, "t.conf", text, &d), 1);
	ck_assert_ptr_nonnull(strstr(d.errors[0], "xxx...: not a time span"));
	ck_assert_uint_lt(strlen(d.errors[0]), 300);
	config_diag_clear(&d);
	config_free(&c);
}
END_TEST

/* --- files and drop-ins ----------------------------------------------------------------- */

#define WRITE(rel, text) test_write_file(rel, text, strlen(text))

static int load(Config *c, ConfigDiag *d)
{
	char main_path[512], dropins[512];
	snprintf(main_path, sizeof(main_path), "%s/x.conf", test_tmpdir);
	snprintf(dropins, sizeof(dropins), "%s/x.conf.d", test_tmpdir);
	return config_load(main_path, dropins, c, d);
}

START_TEST(test_missing_files_give_defaults)
{
	Config c;
	ConfigDiag d = { 0 };
	ck_assert_int_eq(load(&c, &d), 0);
	ck_assert_ptr_null(d.errors);
	ck_assert_uint_eq(c.interval, 60 * SEC);
	config_free(&c);
}
END_TEST

START_TEST(test_dropin_order)
{
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/x.conf.d", test_tmpdir);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	WRITE("x.conf", "[Check]\nIntervalSec=10s\nIdleChecks=3\nBootGraceSec=1min\n");
	WRITE("x.conf.d/20-b.conf", "[Check]\nIntervalSec=30s\n");
	WRITE("x.conf.d/10-a.conf", "[Check]\nIntervalSec=20s\nIdleChecks=4\n");
	WRITE("x.conf.d/30-c.conf.disabled", "[Check]\nIntervalSec=99s\n");
	WRITE("x.conf.d/.hidden.conf", "[Check]\nIntervalSec=98s\n");
	WRITE("x.conf.d/README", "not a configuration file\n");

	Config c;
	ConfigDiag d = { 0 };
	ck_assert_int_eq(load(&c, &d), 0);
	ck_assert_uint_eq(c.interval, 30 * SEC);
	ck_assert_uint_eq(c.idle_checks, 4);
	ck_assert_uint_eq(c.boot_grace, 60 * SEC);
	config_diag_clear(&d);
	config_free(&c);
}
END_TEST

START_TEST(test_error_in_dropin_names_it_and_rejects_all)
{
	char dir[512], expected[1024];
	snprintf(dir, sizeof(dir), "%s/x.conf.d", test_tmpdir);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	WRITE("x.conf", "[Check]\nIntervalSec=10s\n");
	WRITE("x.conf.d/50-bad.conf", "# comment\n[Thresholds]\nMemoryPercent=lots\n");
	WRITE("x.conf.d/60-unknown.conf", "[Check]\nFoo=1\n");

	Config c = { .interval = 4242 };
	ConfigDiag d = { 0 };
	ck_assert_int_eq(load(&c, &d), 1);
	snprintf(expected, sizeof(expected),
	         "%s/x.conf.d/50-bad.conf:3: [Thresholds] MemoryPercent=lots: not a number",
	         test_tmpdir);
	ck_assert_str_eq(d.errors[0], expected);
	snprintf(expected, sizeof(expected),
	         "%s/x.conf.d/60-unknown.conf:2: unknown key Foo= in [Check], ignoring it",
	         test_tmpdir);
	ck_assert_str_eq(d.warnings[0], expected);
	ck_assert_uint_eq(c.interval, 4242); /* untouched on error */
	config_diag_clear(&d);
}
END_TEST

START_TEST(test_nul_byte_rejected)
{
	static const char text[] = "[Check]\nIntervalSec=5s\0\n";
	test_write_file("x.conf", text, sizeof(text) - 1);
	Config c;
	ConfigDiag d = { 0 };
	ck_assert_int_eq(load(&c, &d), 1);
	ck_assert_ptr_nonnull(strstr(d.errors[0], "x.conf: cannot read: contains a NUL byte"));
	config_diag_clear(&d);
}
END_TEST

static void path_in_tmp(char *buf, size_t size, const char *rel)
{
	snprintf(buf, size, "%s/%s", test_tmpdir, rel);
}

/* The main file must be a file: anything else is an error naming it, never a hang. */
START_TEST(test_main_path_is_not_a_file)
{
	static const char *const expected[] = { "x.conf: cannot read: not a regular file (a "
		                                "directory)",
		                                "x.conf: cannot read: not a regular file (a "
		                                "FIFO)" };
	char path[512];
	path_in_tmp(path, sizeof(path), "x.conf");
	ck_assert_int_eq(_i == 0 ? mkdir(path, 0755) : mkfifo(path, 0644), 0);
	Config c;
	ConfigDiag d = { 0 };
	ck_assert_int_eq(load(&c, &d), 1);
	ck_assert_msg(strstr(d.errors[0], expected[_i]), "%s", d.errors[0]);
	config_diag_clear(&d);
}
END_TEST

START_TEST(test_main_file_found)
{
	Config c;
	ConfigDiag d = { 0 };
	ck_assert_int_eq(load(&c, &d), 0);
	ck_assert(!c.main_file_found);
	config_free(&c);
	WRITE("x.conf", "# all defaults\n");
	ck_assert_int_eq(load(&c, &d), 0);
	ck_assert(c.main_file_found);
	config_free(&c);
	config_diag_clear(&d);
}
END_TEST

/* A drop-in that is a FIFO blocked the reload; one linked to /dev/zero grew the daemon by
 * hundreds of MB. Both are skipped, named in a warning; the others still apply. */
START_TEST(test_dropin_not_a_file_is_skipped)
{
	char dir[512], path[512], expected[1024];
	path_in_tmp(dir, sizeof(dir), "x.conf.d");
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	WRITE("x.conf.d/10-a.conf", "[Check]\nIdleChecks=4\n");
	path_in_tmp(path, sizeof(path), "x.conf.d/20-fifo.conf");
	ck_assert_int_eq(mkfifo(path, 0644), 0);
	path_in_tmp(path, sizeof(path), "x.conf.d/30-zero.conf");
	ck_assert_int_eq(symlink("/dev/zero", path), 0);
	path_in_tmp(path, sizeof(path), "x.conf.d/40-dir.conf");
	ck_assert_int_eq(mkdir(path, 0755), 0);
	WRITE("x.conf.d/50-b.conf", "[Check]\nIntervalSec=7s\n");

	Config c;
	ConfigDiag d = { 0 };
	ck_assert_int_eq(load(&c, &d), 0);
	ck_assert_uint_eq(c.idle_checks, 4);
	ck_assert_uint_eq(c.interval, 7 * SEC);
	ck_assert_uint_eq(strv_length(d.warnings), 3);
	snprintf(expected, sizeof(expected),
	         "%s/x.conf.d/20-fifo.conf: not a regular file (a FIFO), skipping it", test_tmpdir);
	ck_assert_str_eq(d.warnings[0], expected);
	ck_assert_ptr_nonnull(strstr(d.warnings[1], "30-zero.conf: not a regular file (a "
	                                            "character device), skipping it"));
	ck_assert_ptr_nonnull(strstr(d.warnings[2], "40-dir.conf: not a regular file (a "
	                                            "directory), skipping it"));
	config_diag_clear(&d);
	config_free(&c);
}
END_TEST

/* As with systemd, a drop-in linked to /dev/null is masked: it says nothing, silently. */
START_TEST(test_dropin_masked_by_dev_null)
{
	char dir[512], path[512];
	path_in_tmp(dir, sizeof(dir), "x.conf.d");
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	WRITE("x.conf", "[Check]\nIdleChecks=3\n");
	path_in_tmp(path, sizeof(path), "x.conf.d/50-off.conf");
	ck_assert_int_eq(symlink("/dev/null", path), 0);
	Config c;
	ConfigDiag d = { 0 };
	ck_assert_int_eq(load(&c, &d), 0);
	ck_assert_ptr_null(d.warnings);
	ck_assert_uint_eq(c.idle_checks, 3);
	config_free(&c);
}
END_TEST

START_TEST(test_file_over_the_size_limit)
{
	size_t len = 1024 * 1024 + 1;
	char *text = malloc(len);
	memset(text, '#', len);
	test_write_file("x.conf", text, len);
	free(text);
	Config c;
	ConfigDiag d = { 0 };
	ck_assert_int_eq(load(&c, &d), 1);
	ck_assert_ptr_nonnull(strstr(d.errors[0], "x.conf: cannot read: larger than 1 MiB"));
	config_diag_clear(&d);
}
END_TEST

START_TEST(test_dump_reads_back)
{
	Config a, b;
	char *text = NULL;
	size_t size = 0;
	parse_ok(&a, "[Check]\nIntervalSec=1h 30min 5s\nIdleChecks=9\n"
	             "[Action]\nAction=stop-instance\nPreActionCommand=/bin/echo a b\n"
	             "[Thresholds]\nCpuPercent=12.5\n[Metrics]\nCloudWatch=yes\n");
	FILE *f = open_memstream(&text, &size);
	config_dump(&a, f);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(text, "[Check]\nIntervalSec=1h 30min 5s\n"));
	parse_ok(&b, text);
	ck_assert_uint_eq(b.interval, a.interval);
	ck_assert_uint_eq(b.idle_checks, 9);
	ck_assert_int_eq(b.action, ACTION_STOP_INSTANCE);
	ck_assert_str_eq(b.pre_action_command[2], "b");
	ck_assert_double_eq(b.cpu_percent, 12.5);
	ck_assert(b.cloudwatch);
	ck_assert_str_eq(b.neuron_sysfs_root, a.neuron_sysfs_root);
	free(text);
	config_free(&a);
	config_free(&b);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_good_file);
	tcase_add_test(tc, test_later_line_wins_and_empty_resets);
	tcase_add_loop_test(tc, test_bad_value, 0, (int)ELEMENTSOF(bad));
	tcase_add_test(tc, test_every_key_empty);
	tcase_add_test(tc, test_every_bad_line_is_reported);
	tcase_add_test(tc, test_unknown_keys_and_sections_warn);
	tcase_add_test(tc, test_long_value_is_cut_in_the_message);
	tcase_add_test(tc, test_dump_reads_back);
	suite_add_tcase(s, tc);

	TCase *files = tcase_create("files");
	tcase_add_checked_fixture(files, test_tmpdir_setup, test_tmpdir_teardown);
	tcase_add_test(files, test_missing_files_give_defaults);
	tcase_add_test(files, test_dropin_order);
	tcase_add_test(files, test_error_in_dropin_names_it_and_rejects_all);
	tcase_add_test(files, test_nul_byte_rejected);
	tcase_add_loop_test(files, test_main_path_is_not_a_file, 0, 2);
	tcase_add_test(files, test_main_file_found);
	tcase_add_test(files, test_dropin_not_a_file_is_skipped);
	tcase_add_test(files, test_dropin_masked_by_dev_null);
	tcase_add_test(files, test_file_over_the_size_limit);
	suite_add_tcase(s, files);
	return s;
}
