/* Configuration parsing: the key table, the parser and each value type's checks, one concern
 * and one file over 400 lines (split, the table and its checks would drift apart). Own parser
 * rather than inih: Debian's libinih is built with
 * INI_HANDLER_LINENO=0 and INI_MAX_LINE=200, so it can neither report FILE:LINE for a bad value
 * nor read a long PreActionCommand= line whole, and it treats ';' inside values as a comment,
 * which systemd's syntax (the one our users know) does not. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "timespan.h"

static const char *const action_names[_ACTION_KIND_MAX] = {
	[ACTION_AUTO] = "auto",
	[ACTION_POWEROFF] = "poweroff",
	[ACTION_STOP_INSTANCE] = "stop-instance",
	[ACTION_NONE] = "none",
};

const char *action_kind_to_string(ActionKind k)
{
	return k >= 0 && k < _ACTION_KIND_MAX ? action_names[k] : "invalid";
}

int action_kind_from_string(const char *s, ActionKind *ret)
{
	for (int i = 0; i < _ACTION_KIND_MAX; i++)
		if (streq(s, action_names[i])) {
			*ret = (ActionKind)i;
			return 0;
		}
	return -EINVAL;
}

typedef enum ValueType {
	VT_TIMESPAN,
	VT_UINT,
	VT_PERCENT,
	VT_RATE,
	VT_BOOL,
	VT_STRING,
	VT_ACTION,
	VT_WORDS, /* white-space separated list */
	VT_ARGV,  /* like VT_WORDS, with quoting; empty = unset */
} ValueType;

typedef struct KeyDef {
	const char *section;
	const char *key;
	ValueType type;
	size_t offset;
	double min, max; /* for VT_UINT, VT_PERCENT, VT_RATE and VT_TIMESPAN (seconds) */
	const char *def; /* default, in file syntax */
} KeyDef;

#define OFF(f)  offsetof(Config, f)
#define NOLIMIT 0, 0

/* The one table of keys: defaults, ranges and the order of --check-config output. */
static const KeyDef keys[] = {
	/* Down to 10ms so that tests/suites/valgrind runs 1,000 checks in minutes. */
	{ "Check", "IntervalSec", VT_TIMESPAN, OFF(interval), 0.01, 86400, "60s" },
	{ "Check", "BootGraceSec", VT_TIMESPAN, OFF(boot_grace), 0, 7 * 86400, "5min" },
	{ "Check", "IdleChecks", VT_UINT, OFF(idle_checks), 1, 10000, "2" },
	{ "Check", "CloudInitMaxSec", VT_TIMESPAN, OFF(cloud_init_max), 0, 7 * 86400, "1h" },
	{ "Action", "Action", VT_ACTION, OFF(action), NOLIMIT, "auto" },
	{ "Action", "WarnSec", VT_TIMESPAN, OFF(warn), 0, 3600, "60s" },
	{ "Action", "FallbackPoweroff", VT_BOOL, OFF(fallback_poweroff), NOLIMIT, "yes" },
	{ "Action", "PreActionCommand", VT_ARGV, OFF(pre_action_command), NOLIMIT, "" },
	{ "Action", "PreActionTimeoutSec", VT_TIMESPAN, OFF(pre_action_timeout), 1, 3600, "60s" },
	{ "Thresholds", "CpuPercent", VT_PERCENT, OFF(cpu_percent), 0, 100, "10" },
	{ "Thresholds", "MemoryPercent", VT_PERCENT, OFF(memory_percent), 0, 100, "80" },
	{ "Thresholds", "NetworkKBps", VT_RATE, OFF(network_kbps), 0, 1e9, "0" },
	{ "Thresholds", "DiskKBps", VT_RATE, OFF(disk_kbps), 0, 1e9, "0" },
	{ "Sessions", "SessionIdleSec", VT_TIMESPAN, OFF(session_idle), 0, 30 * 86400, "1h" },
	{ "Sessions", "BusyPercent", VT_PERCENT, OFF(busy_percent), 0, 100, "5" },
	{ "Sessions", "KeepaliveBytesPerSec", VT_UINT, OFF(keepalive_bytes_per_sec), 0, 1e9,
	  "1000" },
	{ "Sessions", "ConnectionsAlwaysActive", VT_BOOL, OFF(connections_always_active), NOLIMIT,
	  "no" },
	{ "Neuron", "Processes", VT_WORDS, OFF(neuron_processes), NOLIMIT,
	  "neuronx-cc neuron-cc neuron_parallel_compile neuron-profile walrus_driver "
	  "hlo2penguin hlo-opt neuronx-distributed" },
	{ "Neuron", "DevicePattern", VT_STRING, OFF(neuron_device_pattern), NOLIMIT,
	  "/dev/neuron*" },
	{ "Neuron", "SysfsRoot", VT_STRING, OFF(neuron_sysfs_root), NOLIMIT,
	  "/sys/devices/virtual/neuron_device" },
	{ "Neuron", "HeldIdleSec", VT_TIMESPAN, OFF(neuron_held_idle), 0, 30 * 86400, "0" },
	{ "Processes", "Active", VT_WORDS, OFF(ml_processes), NOLIMIT,
	  "train.py inference.py run_*.py torchrun accelerate deepspeed" },
	{ "Processes", "UserBusyPercent", VT_PERCENT, OFF(user_busy_percent), 0, 100, "10" },
	{ "Processes", "PackageManagerMaxSec", VT_TIMESPAN, OFF(package_manager_max), 0, 7 * 86400,
	  "3h" },
	{ "Control", "MaxHoldSec", VT_TIMESPAN, OFF(max_hold), 60, 30 * 86400, "24h" },
	{ "Control", "UserMaxHoldSec", VT_TIMESPAN, OFF(user_max_hold), 60, 30 * 86400, "24h" },
	{ "Control", "HoldsPerUser", VT_UINT, OFF(holds_per_user), 1, HOLDS_MAX, "8" },
	{ "Control", "HoldAllowed", VT_WORDS, OFF(hold_allowed), NOLIMIT, "" },
	{ "Control", "AdminGroup", VT_STRING, OFF(admin_group), NOLIMIT, "" },
	{ "AWS", "ImdsEndpoint", VT_STRING, OFF(imds_endpoint), NOLIMIT, IMDS_DEFAULT_ENDPOINT },
	{ "AWS", "Ec2Endpoint", VT_STRING, OFF(ec2_endpoint), NOLIMIT, "" },
	{ "AWS", "MonitoringEndpoint", VT_STRING, OFF(monitoring_endpoint), NOLIMIT, "" },
	{ "AWS", "NotifyTopicArn", VT_STRING, OFF(notify_topic_arn), NOLIMIT, "" },
	{ "AWS", "SnsEndpoint", VT_STRING, OFF(sns_endpoint), NOLIMIT, "" },
	{ "Metrics", "CloudWatch", VT_BOOL, OFF(cloudwatch), NOLIMIT, "no" },
	{ "Metrics", "Namespace", VT_STRING, OFF(metrics_namespace), NOLIMIT, "Trnidled" },
	{ "Metrics", "TextfilePath", VT_STRING, OFF(textfile_path), NOLIMIT, "" },
};

typedef enum StringRule {
	STRING_NONEMPTY = 1 << 0,
	STRING_ABSPATH = 1 << 1, /* when not empty */
	STRING_SNS_ARN = 1 << 2, /* when not empty: arn:aws:sns:REGION:ACCOUNT:NAME */
} StringRule;

/* What a VT_STRING value must be. Only VT_STRING, VT_WORDS and VT_ARGV keys may be empty at
 * all (it means "none" or "the default endpoint"); a value nothing could use (an empty
 * SysfsRoot= crashed the daemon at every start, an empty DevicePattern= made a permanent
 * probe error) is refused at FILE:LINE like any other bad value. */
static const struct {
	size_t offset;
	StringRule rule;
} string_rules[] = {
	{ OFF(neuron_device_pattern), STRING_NONEMPTY | STRING_ABSPATH },
	{ OFF(neuron_sysfs_root), STRING_NONEMPTY | STRING_ABSPATH },
	{ OFF(imds_endpoint), STRING_NONEMPTY },
	{ OFF(metrics_namespace), STRING_NONEMPTY },
	{ OFF(textfile_path), STRING_ABSPATH },
	{ OFF(notify_topic_arn), STRING_SNS_ARN },
};

static StringRule string_rule(const KeyDef *k)
{
	for (size_t i = 0; k->type == VT_STRING && i < ELEMENTSOF(string_rules); i++)
		if (string_rules[i].offset == k->offset)
			return string_rules[i].rule;
	return 0;
}

void config_diag_clear(ConfigDiag *d)
{
	d->errors = strv_free(d->errors);
	d->warnings = strv_free(d->warnings);
}

static _printf_(2, 3) int diag_add(char ***l, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return strv_push(l, buf);
}

static int parse_bool(const char *v, bool *ret)
{
	static const char *const yes[] = { "1", "yes", "y", "true", "t", "on" };
	static const char *const no[] = { "0", "no", "n", "false", "f", "off" };
	for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_number(const char *v, double *ret)
{
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	if (errno != 0 || end == v || !isfinite(d))
		return -EINVAL;
	while (isspace((unsigned char)*end))
		end++;
	if (*end == '%')
		end++;
	if (*end)
		return -EINVAL;
	*ret = d;
	return 0;
}

static bool may_be_empty(const KeyDef *k)
{
	return (k->type == VT_STRING || k->type == VT_WORDS || k->type == VT_ARGV) &&
	       !(string_rule(k) & STRING_NONEMPTY);
}

/* Stores v into the field; on failure writes a reason to why and leaves the field alone. */
static int assign(Config *c, const KeyDef *k, const char *v, char *why, size_t whylen)
{
	void *field = (char *)c + k->offset;
	double d;
	usec_t t;
	bool b;
	ActionKind a;
	char **l = NULL;

	if (*v == '\0' && !may_be_empty(k)) {
		snprintf(why, whylen, "must not be empty");
		return -EINVAL;
	}
	switch (k->type) {
	case VT_TIMESPAN:
		if (timespan_parse(v, &t) < 0) {
			snprintf(why, whylen, "not a time span (examples: 90s, 5min, 2h)");
			return -EINVAL;
		}
		if ((double)t < k->min * 1e6 || (double)t > k->max * 1e6) {
			char lo[32], hi[32];
			snprintf(why, whylen, "out of range (%s to %s)",
			         timespan_format(lo, sizeof(lo), (usec_t)(k->min * 1e6)),
			         timespan_format(hi, sizeof(hi), (usec_t)(k->max * 1e6)));
			return -ERANGE;
		}
		*(usec_t *)field = t;
		return 0;
	case VT_UINT:
	case VT_PERCENT:
	case VT_RATE:
		if (parse_number(v, &d) < 0 || (k->type == VT_UINT && d != floor(d))) {
			snprintf(why, whylen, "not a %s",
			         k->type == VT_UINT ? "whole number" : "number");
			return -EINVAL;
		}
		if (d < k->min || d > k->max) {
			snprintf(why, whylen, "out of range (%g to %g)", k->min, k->max);
			return -ERANGE;
		}
		if (k->type == VT_UINT)
			*(unsigned *)field = (unsigned)d;
		else
			*(double *)field = d;
		return 0;
	case VT_BOOL:
		if (parse_bool(v, &b) < 0) {
			snprintf(why, whylen, "not a boolean (yes or no)");
			return -EINVAL;
		}
		*(bool *)field = b;
		return 0;
	case VT_ACTION:
		if (action_kind_from_string(v, &a) < 0) {
			snprintf(why, whylen,
			         "unknown action (auto, poweroff, stop-instance, none)");
			return -EINVAL;
		}
		*(ActionKind *)field = a;
		return 0;
	case VT_STRING: {
		char *s = NULL;
		if ((string_rule(k) & STRING_ABSPATH) && *v && *v != '/') {
			snprintf(why, whylen, "must be an absolute path");
			return -EINVAL;
		}
		char region[32];
		if ((string_rule(k) & STRING_SNS_ARN) && *v &&
		    sns_topic_region(v, region, sizeof(region)) < 0) {
			snprintf(why, whylen,
			         "not the ARN of an SNS topic (arn:aws:sns:REGION:ACCOUNT:NAME)");
			return -EINVAL;
		}
		if (*v && !(s = strdup(v)))
			return -ENOMEM;
		free(*(char **)field);
		*(char **)field = s;
		return 0;
	}
	case VT_WORDS:
	case VT_ARGV:
		if (strv_split_quoted(v, &l) < 0) {
			snprintf(why, whylen, "unterminated quote");
			return -EINVAL;
		}
		/* "" would match only a process without a name: surely a mistake. */
		for (size_t i = 0; k->type == VT_WORDS && l[i]; i++)
			if (l[i][0] == '\0') {
				snprintf(why, whylen, "an empty word (\"\") in the list");
				strv_free(l);
				return -EINVAL;
			}
		if (k->type == VT_ARGV && strv_length(l) > 0 && l[0][0] != '/') {
			snprintf(why, whylen, "the command must start with an absolute path");
			strv_free(l);
			return -EINVAL;
		}
		if (k->type == VT_ARGV && strv_length(l) == 0)
			l = strv_free(l);
		strv_free(*(char ***)field);
		*(char ***)field = l;
		return 0;
	}
	return -EINVAL;
}

static void field_free(Config *c, const KeyDef *k)
{
	void *field = (char *)c + k->offset;
	if (k->type == VT_STRING) {
		free(*(char **)field);
		*(char **)field = NULL;
	} else if (k->type == VT_WORDS || k->type == VT_ARGV) {
		*(char ***)field = strv_free(*(char ***)field);
	}
}

void config_free(Config *c)
{
	for (size_t i = 0; i < ELEMENTSOF(keys); i++)
		field_free(c, &keys[i]);
}

int config_init_defaults(Config *c)
{
	char why[128];
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		int r = assign(c, &keys[i], keys[i].def, why, sizeof(why));
		if (r < 0) {
			config_free(c);
			return r;
		}
	}
	return 0;
}

static bool section_known(const char *s)
{
	for (size_t i = 0; i < ELEMENTSOF(keys); i++)
		if (streq(keys[i].section, s))
			return true;
	return false;
}

static const KeyDef *key_find(const char *section, const char *key)
{
	for (size_t i = 0; i < ELEMENTSOF(keys); i++)
		if (streq(keys[i].section, section) && streq(keys[i].key, key))
			return &keys[i];
	return NULL;
}

static char *strip(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Printable excerpt of untrusted text for a message. */
static const char *excerpt(const char *s, char *buf, size_t size)
{
	size_t n = 0;
	for (; *s && n + 4 < size; s++)
		buf[n++] = isprint((unsigned char)*s) ? *s : '?';
	if (*s && n + 4 >= size) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

int config_parse_text(Config *c, const char *name, const char *text, ConfigDiag *d)
{
	_cleanup_free_ char *copy = strdup(text);
	char section[64] = "";
	bool section_ok = false;
	int errors = 0;
	unsigned lineno = 0;
	char ex[80];

	if (!copy)
		return -ENOMEM;
	for (char *line = copy, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		char *l = strip(line);
		if (*l == '\0' || *l == '#' || *l == ';')
			continue;
		if (*l == '[') {
			char *e = strchr(l, ']');
			if (!e || *strip(e + 1) != '\0' || e - l - 1 <= 0 ||
			    (size_t)(e - l - 1) >= sizeof(section)) {
				diag_add(&d->errors, "%s:%u: bad section header '%s'", name, lineno,
				         excerpt(l, ex, sizeof(ex)));
				errors++;
				section[0] = '\0';
				section_ok = false;
				continue;
			}
			*e = '\0';
			strscpy(section, sizeof(section), l + 1);
			section_ok = section_known(section);
			if (!section_ok)
				diag_add(&d->warnings, "%s:%u: unknown section [%s], ignoring it",
				         name, lineno, excerpt(section, ex, sizeof(ex)));
			continue;
		}
		char *eq = strchr(l, '=');
		if (!eq) {
			diag_add(&d->errors, "%s:%u: expected Key=value or [Section], got '%s'",
			         name, lineno, excerpt(l, ex, sizeof(ex)));
			errors++;
			continue;
		}
		*eq = '\0';
		char *key = strip(l), *value = strip(eq + 1);
		if (section[0] == '\0') {
			diag_add(&d->errors, "%s:%u: %s= outside of any [Section]", name, lineno,
			         excerpt(key, ex, sizeof(ex)));
			errors++;
			continue;
		}
		if (!section_ok)
			continue;
		const KeyDef *k = key_find(section, key);
		if (!k) {
			diag_add(&d->warnings, "%s:%u: unknown key %s= in [%s], ignoring it", name,
			         lineno, excerpt(key, ex, sizeof(ex)), section);
			continue;
		}
		char why[160] = "";
		int r = assign(c, k, value, why, sizeof(why));
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			char vex[80];
			diag_add(&d->errors, "%s:%u: [%s] %s=%s: %s", name, lineno, k->section,
			         k->key, excerpt(value, vex, sizeof(vex)), why);
			errors++;
		}
	}
	return errors;
}

/* Far above any real configuration, far below what would hurt the daemon. */
#define CONFIG_FILE_SIZE_MAX (1024 * 1024)

static const char *read_error(int r)
{
	return r == -EBADMSG ? "contains a NUL byte"
	       : r == -EFBIG ? "larger than 1 MiB"
	                     : strerror(-r);
}

/* A missing main file means the built-in defaults; a drop-in that is not a regular file is
 * skipped with a warning (systemd skips them too), and any other file that cannot be read is
 * an error: what it says is unknown. */
static int load_one(Config *c, const char *path, bool dropin, ConfigDiag *d)
{
	_cleanup_free_ char *text = NULL;
	mode_t mode = 0;
	ssize_t n = read_regular_file(path, CONFIG_FILE_SIZE_MAX, &text, &mode);
	int r = n < 0 ? (int)n : memchr(text, '\0', (size_t)n) ? -EBADMSG : 0;
	if (r == -ENOENT && !dropin)
		return 0;
	if (r == -EBADFD) {
		diag_add(dropin ? &d->warnings : &d->errors, "%s: %snot a regular file (%s)%s",
		         path, dropin ? "" : "cannot read: ", file_type_name(mode),
		         dropin ? ", skipping it" : "");
		return dropin ? 0 : 1;
	}
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		diag_add(&d->errors, "%s: cannot read: %s", path, read_error(r));
		return 1;
	}
	if (!dropin)
		c->main_file_found = true;
	return config_parse_text(c, path, text, d);
}

static int dropin_filter(const struct dirent *de)
{
	size_t n = strlen(de->d_name);
	return de->d_name[0] != '.' && n > 5 && streq(de->d_name + n - 5, ".conf");
}

int config_load(const char *main_path, const char *dropin_dir, Config *ret, ConfigDiag *d)
{
	Config c;
	int r, errors = 0;

	r = config_init_defaults(&c);
	if (r < 0)
		return r;
	if (main_path) {
		r = load_one(&c, main_path, false, d);
		if (r < 0)
			goto fail;
		errors += r;
	}
	if (dropin_dir) {
		struct dirent **names = NULL;
		int n = scandir(dropin_dir, &names, dropin_filter, alphasort);
		if (n < 0 && errno != ENOENT) {
			diag_add(&d->errors, "%s: cannot read directory: %s", dropin_dir,
			         strerror(errno));
			errors++;
		}
		for (int i = 0; i < n; i++) {
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", dropin_dir, names[i]->d_name);
			if (r >= 0) {
				r = load_one(&c, path, true, d);
				if (r > 0)
					errors += r;
			}
			free(names[i]);
		}
		free(names);
		if (r < 0)
			goto fail;
	}
	if (errors > 0) {
		config_free(&c);
		return errors;
	}
	*ret = c;
	return 0;
fail:
	config_free(&c);
	return r;
}

/* Writes one list word so that strv_split_quoted() reads it back whole: quoted when empty or
 * holding white space or quotes. The syntax has no escapes, so a quote character of the
 * enclosing kind is written as a piece in the other kind ("it"'"'"s" is it"s). */
static void word_print(const char *w, FILE *f)
{
	if (*w && !strpbrk(w, " \t\n\v\f\r\"'")) {
		fputs(w, f);
		return;
	}
	char q = strchr(w, '"') ? '\'' : '"', other = q == '"' ? '\'' : '"';
	fputc(q, f);
	for (const char *p = w; *p; p++)
		if (*p == q)
			fprintf(f, "%c%c%c%c%c", q, other, *p, other, q);
		else
			fputc(*p, f);
	fputc(q, f);
}

/* Prints the value in file syntax, whole: the dump must read back as the same configuration. */
static void value_print(const Config *c, const KeyDef *k, FILE *f)
{
	const void *field = (const char *)c + k->offset;
	char buf[64];

	switch (k->type) {
	case VT_TIMESPAN:
		fputs(timespan_format(buf, sizeof(buf), *(const usec_t *)field), f);
		return;
	case VT_UINT:
		fprintf(f, "%u", *(const unsigned *)field);
		return;
	case VT_PERCENT:
	case VT_RATE:
		fprintf(f, "%g", *(const double *)field);
		return;
	case VT_BOOL:
		fputs(*(const bool *)field ? "yes" : "no", f);
		return;
	case VT_ACTION:
		fputs(action_kind_to_string(*(const ActionKind *)field), f);
		return;
	case VT_STRING:
		fputs(strempty(*(char *const *)field), f);
		return;
	case VT_WORDS:
	case VT_ARGV:
		for (char *const *w = *(char **const *)field; w && *w; w++) {
			if (w != *(char **const *)field)
				fputc(' ', f);
			word_print(*w, f);
		}
		return;
	}
}

void config_dump(const Config *c, FILE *f)
{
	const char *section = NULL;
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		if (!section || !streq(section, keys[i].section)) {
			fprintf(f, "%s[%s]\n", section ? "\n" : "", keys[i].section);
			section = keys[i].section;
		}
		fprintf(f, "%s=", keys[i].key);
		value_print(c, &keys[i], f);
		fputc('\n', f);
	}
}

int sns_topic_region(const char *arn, char *region, size_t size)
{
	char partition[32], service[8], reg[32], account[16], name[300];
	int end = 0;
	if (!arn || strlen(arn) > 300 ||
	    sscanf(arn, "arn:%31[a-z-]:%7[a-z]:%31[a-z0-9-]:%15[0-9]:%299[A-Za-z0-9_.-]%n",
	           partition, service, reg, account, name, &end) != 5 ||
	    arn[end] != '\0' || !startswith(partition, "aws") || !streq(service, "sns") ||
	    strlen(account) != 12 || strlen(reg) >= size)
		return -EINVAL;
	strscpy(region, size, reg);
	return 0;
}
