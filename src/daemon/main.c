/* trnidled: stops an expensive cloud machine when nobody and nothing uses it. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <time.h>

#include <json-c/json.h>

#include "build-config.h"
#include "aws-runtime.h"
#include "core.h"
#include "log.h"
#include "manager.h"
#include "probe.h"
#include "timespan.h"
#include "verdict-json.h"

#define EXIT_CONFIG 2 /* bad configuration or usage */

typedef struct Args {
	ManagerOptions mopt;
	bool foreground;
	bool check_config;
	bool once;
	bool json;
	usec_t window;
} Args;

static void help(void)
{
	printf("Usage: trnidled [OPTIONS]\n"
	       "Stops this machine when nobody and nothing uses it.\n\n"
	       "  -c, --config PATH       configuration file (default %s; drop-ins in PATH.d/)\n"
	       "  -r, --runtime-dir DIR   state, lock and control socket (default %s)\n"
	       "      --state-dir DIR     the verdict history (default %s; with --runtime-dir,\n"
	       "                          that directory)\n"
	       "  -f, --foreground        log one line per event on stderr, not to the journal\n"
	       "  -n, --dry-run           decide and log, but never stop the machine\n"
	       "      --check-config      validate the configuration, print it and exit\n"
	       "      --once              take one sample, print the verdict and exit\n"
	       "      --json              with --once: print the verdict as JSON\n"
	       "      --window DURATION   with --once: CPU averaging window (default 1s)\n"
	       "      --dev-dir DIR       where terminals are found for warnings (default /dev)\n"
	       "      --cloud-init-dir DIR  cloud-init's run directory (default /run/cloud-init)\n"
	       "      --package-root DIR  where dpkg's and apt's lock files are found (default /)\n"
	       "      --aws-agent PATH    make the AWS calls through trnidled-aws at socket PATH\n"
	       "  -V, --version           print the version and exit\n"
	       "  -h, --help              print this help and exit\n\n"
	       "See trnidled(8) and trnidled.conf(5).\n",
	       TRNIDLED_CONF_PATH, TRNIDLED_RUNTIME_DIR, TRNIDLED_STATE_DIR);
}

/* Returns 0 to go on, 1 to exit successfully, -1 on a usage error. */
static int parse_args(int argc, char **argv, Args *a, char *dropin_buf, size_t dropin_len)
{
	enum {
		OPT_CHECK_CONFIG = 256,
		OPT_ONCE,
		OPT_JSON,
		OPT_WINDOW,
		OPT_DEV_DIR,
		OPT_CLOUD_INIT_DIR,
		OPT_PACKAGE_ROOT,
		OPT_AWS_AGENT,
		OPT_STATE_DIR
	};
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "runtime-dir", required_argument, NULL, 'r' },
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "foreground", no_argument, NULL, 'f' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "check-config", no_argument, NULL, OPT_CHECK_CONFIG },
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "window", required_argument, NULL, OPT_WINDOW },
		{ "dev-dir", required_argument, NULL, OPT_DEV_DIR },
		{ "cloud-init-dir", required_argument, NULL, OPT_CLOUD_INIT_DIR },
		{ "package-root", required_argument, NULL, OPT_PACKAGE_ROOT },
		{ "aws-agent", required_argument, NULL, OPT_AWS_AGENT },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	bool custom_config = false;
	int c;

	*a = (Args){ .mopt = { .config_path = TRNIDLED_CONF_PATH,
		               .dropin_dir = TRNIDLED_CONF_DIR,
		               .runtime_dir = TRNIDLED_RUNTIME_DIR,
		               .state_dir = NULL,
		               .dev_root = "/dev" },
		     .window = USEC_PER_SEC };
	while ((c = getopt_long(argc, argv, "c:r:fnVh", options, NULL)) >= 0) {
		switch (c) {
		case 'c':
			a->mopt.config_path = optarg;
			custom_config = true;
			break;
		case 'r':
			a->mopt.runtime_dir = optarg;
			break;
		case OPT_STATE_DIR:
			a->mopt.state_dir = optarg;
			break;
		case 'f':
			a->foreground = true;
			break;
		case 'n':
			a->mopt.dry_run = true;
			break;
		case OPT_CHECK_CONFIG:
			a->check_config = true;
			break;
		case OPT_ONCE:
			a->once = true;
			break;
		case OPT_JSON:
			a->json = true;
			break;
		case OPT_WINDOW:
			if (timespan_parse(optarg, &a->window) < 0 || a->window == 0 ||
			    a->window > 60 * USEC_PER_SEC) {
				fprintf(stderr,
				        "trnidled: --window: '%s' is not a time span between "
				        "1ms and 60s\n",
				        optarg);
				return -1;
			}
			break;
		case OPT_DEV_DIR:
			a->mopt.dev_root = optarg;
			break;
		case OPT_CLOUD_INIT_DIR:
			a->mopt.cloud_init_dir = optarg;
			break;
		case OPT_PACKAGE_ROOT:
			a->mopt.package_root = optarg;
			break;
		case OPT_AWS_AGENT:
			if (optarg[0] != '/') {
				fprintf(stderr,
				        "trnidled: --aws-agent: '%s' is not an absolute "
				        "path\n",
				        optarg);
				return -1;
			}
			a->mopt.aws_agent = optarg;
			break;
		case 'V':
			printf("trnidled %s\n", TRNIDLED_VERSION);
			return 1;
		case 'h':
			help();
			return 1;
		default:
			fprintf(stderr, "Try 'trnidled --help'.\n");
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "trnidled: unexpected argument '%s'\nTry 'trnidled --help'.\n",
		        argv[optind]);
		return -1;
	}
	if (a->json && !a->once) {
		fprintf(stderr, "trnidled: --json goes with --once\n");
		return -1;
	}
	/* A custom file brings its own drop-in directory: PATH.d */
	if (custom_config) {
		snprintf(dropin_buf, dropin_len, "%s.d", a->mopt.config_path);
		a->mopt.dropin_dir = dropin_buf;
	}
	/* A run with its own runtime directory (tests, a developer's) keeps everything there
	 * rather than in the system's /var/lib/trnidled. */
	if (!a->mopt.state_dir)
		a->mopt.state_dir = streq(a->mopt.runtime_dir, TRNIDLED_RUNTIME_DIR)
		                            ? TRNIDLED_STATE_DIR
		                            : a->mopt.runtime_dir;
	return 0;
}

static int load_config_or_report(const Args *a, Config *c)
{
	ConfigDiag diag = { 0 };
	int r = config_load(a->mopt.config_path, a->mopt.dropin_dir, c, &diag);
	for (char **w = diag.warnings; w && *w; w++)
		fprintf(stderr, "trnidled: warning: %s\n", *w);
	for (char **e = diag.errors; e && *e; e++)
		fprintf(stderr, "trnidled: error: %s\n", *e);
	config_diag_clear(&diag);
	if (r > 0)
		fprintf(stderr, "trnidled: the configuration has %d error(s)\n", r);
	return r;
}

static int run_once(const Args *a)
{
	Config c;
	int r = load_config_or_report(a, &c);
	if (r != 0)
		return EXIT_CONFIG;

	Sampler s;
	Sample sample;
	Decision d;
	CoreState st;
	ProbeEnv env = { .proc_root = "/proc",
		         .dev_root = a->mopt.dev_root,
		         .cloud_init_dir = a->mopt.cloud_init_dir,
		         .package_root = a->mopt.package_root };
	struct timespec ts = { .tv_sec = (time_t)(a->window / USEC_PER_SEC),
		               .tv_nsec = (long)(a->window % USEC_PER_SEC) * 1000 };

	core_state_init(&st);
	sampler_init(&s, &env);
	sampler_prime(&s, &c, now_boottime());
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	sampler_sample(&s, &c, now_boottime(), true, &sample);
	core_decide(&sample, &c, &st, now_boottime(), DECIDE_ONCE, &st, &d);
	const char *action = aws_resolve_action_once(&c);
	if (sample.inhibitor.say_absent)
		fprintf(stderr, "trnidled: inhibitor: %s; the signal is off\n",
		        sample.inhibitor.absent);
	if (a->json) {
		json_object *o = verdict_to_json(&d, &sample);
		json_object_object_add(o, "action", json_object_new_string(action));
		printf("%s\n",
		       json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
		                                                 JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		_cleanup_free_ char *text = verdict_to_text(&d);
		fputs(strempty(text), stdout);
		printf("action: %s\n", action);
	}
	sampler_done(&s);
	config_free(&c);
	return 0;
}

static int run_check_config(const Args *a)
{
	Config c;
	if (load_config_or_report(a, &c) != 0)
		return EXIT_CONFIG;
	printf("# effective configuration of trnidled %s (%s, %s/*.conf)\n", TRNIDLED_VERSION,
	       a->mopt.config_path, a->mopt.dropin_dir);
	config_dump(&c, stdout);
	fprintf(stderr, "trnidled: configuration OK\n");
	config_free(&c);
	return 0;
}

int main(int argc, char **argv)
{
	Args a;
	char dropin[4096];
	/* The process table of a big machine (5,000 processes: 400 KiB, two at a time) is made
	 * anew every check. glibc raises its mmap threshold to the size of a block it frees, so
	 * from the second check on the tables came from the heap, which keeps its high-water mark
	 * resident. A fixed threshold keeps them in mappings of their own, returned when freed. */
	(void)mallopt(M_MMAP_THRESHOLD, 64 * 1024);
	int r = parse_args(argc, argv, &a, dropin, sizeof(dropin));
	if (r != 0)
		return r > 0 ? 0 : EXIT_CONFIG;
	if (a.check_config)
		return run_check_config(&a);
	if (a.once)
		return run_once(&a);

	/* Config errors go to stderr in every mode; under systemd that is the journal too. */
	Config c;
	if (load_config_or_report(&a, &c) != 0) {
		fprintf(stderr,
		        "trnidled: refusing to start (check with 'trnidled --check-config')\n");
		return EXIT_CONFIG;
	}
	log_set_target(a.foreground ? LOG_TARGET_STDERR : LOG_TARGET_JOURNAL);
	Manager *m = NULL;
	r = manager_new(&a.mopt, &c, &m);
	if (r < 0)
		return 1;
	r = manager_run(m);
	manager_free(m);
	return r < 0 ? 1 : 0;
}
