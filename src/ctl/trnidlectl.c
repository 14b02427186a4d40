/* trnidlectl: asks the daemon over its Varlink socket and prints the answer. It holds no
 * logic: the daemon builds every answer, including the text printed here. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include <json-c/json.h>

#include "build-config.h"
#include "macro.h"
#include "timespan.h"
#include "varlink-client.h"

#define EXIT_DAEMON_ERROR 1
#define EXIT_USAGE        2
#define EXIT_NO_DAEMON    3
#define REPLY_MAX         (4 * 1024 * 1024)
#define TIMEOUT_MSEC      30000

static void help(void)
{
	printf("Usage: trnidlectl [OPTIONS] COMMAND\n"
	       "Talks to trnidled, the idle-shutdown daemon.\n\n"
	       "Commands:\n"
	       "  status                    the last verdict, the armed action and the holds\n"
	       "  check-now                 sample now and show the verdict and its reasons\n"
	       "  hold DURATION [--reason TEXT]\n"
	       "                            keep the machine up for DURATION (e.g. 2h, 90min)\n"
	       "  release [ID]              end hold ID, or all of your holds\n"
	       "  history [--since WHEN]    the verdicts of the last 7 days as a timeline; WHEN\n"
	       "                            is a time span back from now (2d, 6h) or a local\n"
	       "                            date (2026-12-01, \"2026-12-01 14:30\")\n"
	       "  reload                    re-read the configuration (root)\n\n"
	       "Options:\n"
	       "  --json                    print the daemon's JSON answer\n"
	       "  --socket PATH             control socket (default %s/io.trnidle.sock)\n"
	       "  -h, --help                print this help\n"
	       "  -V, --version             print the version\n\n"
	       "Exit status: 0 ok, 1 the daemon answered an error, 2 usage, 3 cannot connect.\n",
	       TRNIDLED_RUNTIME_DIR);
}

static const char *verdict_colour(json_object *params)
{
	json_object *v = NULL, *last;
	if (!json_object_object_get_ex(params, "verdict", &v) &&
	    json_object_object_get_ex(params, "last_check", &last) && last)
		(void)json_object_object_get_ex(last, "verdict", &v);
	const char *s = v ? json_object_get_string(v) : "";
	if (streq(s, "active"))
		return "\033[1;32m";
	if (streq(s, "idle"))
		return "\033[1;33m";
	if (streq(s, "held") || streq(s, "grace"))
		return "\033[1;36m";
	return "\033[1m";
}

static void print_text(json_object *params, bool colour)
{
	json_object *t;
	if (!json_object_object_get_ex(params, "text", &t))
		return;
	const char *text = json_object_get_string(t);
	if (!colour) {
		fputs(text, stdout);
		return;
	}
	size_t first = strcspn(text, "\n");
	printf("%s%.*s\033[0m%s", verdict_colour(params), (int)first, text, text + first);
}

/* The daemon cleans the text it takes in; this is the second line of defence (an older daemon,
 * a foreign server on the socket): no string it sends reaches the terminal as a control
 * sequence or as invalid UTF-8. */
static void sanitize_strings(json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_string: {
		const char *s = json_object_get_string(o);
		size_t size = strlen(s) * 3 + 1; /* each bad byte may become U+FFFD, 3 bytes */
		_cleanup_free_ char *clean = malloc(size);
		if (clean && !streq(text_sanitize_lines(clean, size, s), s))
			(void)json_object_set_string(o, clean);
		return;
	}
	case json_type_object: {
		json_object_object_foreach(o, key, value)
		{
			(void)key;
			sanitize_strings(value);
		}
		return;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			sanitize_strings(json_object_array_get_idx(o, i));
		return;
	default:
		return;
	}
}

static void print_error(const char *error, json_object *params)
{
	json_object *v;
	char name[256];
	fprintf(stderr, "trnidlectl: %s", text_sanitize(name, sizeof(name), error));
	if (params && json_object_object_get_ex(params, "message", &v))
		fprintf(stderr, ": %s", json_object_get_string(v));
	else if (params && json_object_object_get_ex(params, "reason", &v))
		fprintf(stderr, ": %s", json_object_get_string(v));
	else if (params && json_object_object_get_ex(params, "parameter", &v))
		fprintf(stderr, ": invalid value for '%s'", json_object_get_string(v));
	fputc('\n', stderr);
	if (params && json_object_object_get_ex(params, "errors", &v))
		for (size_t i = 0; i < json_object_array_length(v); i++)
			fprintf(stderr, "  %s\n",
			        json_object_get_string(json_object_array_get_idx(v, i)));
}

static int call(const char *socket_path, const char *method, json_object *params, bool json)
{
	int fd = varlink_connect(socket_path);
	if (fd < 0) {
		fprintf(stderr,
		        "trnidlectl: cannot connect to %s: %s\n"
		        "Is the daemon running? Check with: systemctl status trnidled\n",
		        socket_path, strerror(-fd));
		json_object_put(params);
		return EXIT_NO_DAEMON;
	}
	VarlinkReply reply;
	int r = varlink_call_fd(fd, method, params, TIMEOUT_MSEC, REPLY_MAX, &reply);
	close(fd);
	if (r == -EBADMSG) {
		fprintf(stderr, "trnidlectl: the daemon's answer is not JSON\n");
		return EXIT_DAEMON_ERROR;
	}
	if (r < 0) {
		fprintf(stderr, "trnidlectl: no answer from %s: %s\n", socket_path, strerror(-r));
		return EXIT_NO_DAEMON;
	}
	json_object *p = reply.parameters;
	sanitize_strings(p);
	if (reply.error) {
		if (json)
			printf("%s\n",
			       json_object_to_json_string_ext(reply.msg, JSON_C_TO_STRING_PRETTY));
		print_error(reply.error, p);
		varlink_reply_done(&reply);
		return EXIT_DAEMON_ERROR;
	}
	if (json)
		printf("%s\n",
		       json_object_to_json_string_ext(p, JSON_C_TO_STRING_PRETTY |
		                                                 JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		print_text(p, isatty(STDOUT_FILENO) && !getenv("NO_COLOR"));
	varlink_reply_done(&reply);
	return 0;
}

/* --since: a span back from now ("2d"), or a local date with an optional time. Returns seconds
 * since 1970, or -1. */
static long long parse_since(const char *s)
{
	static const char *const formats[] = { "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M",
		                               "%Y-%m-%dT%H:%M", "%Y-%m-%d" };
	usec_t span;
	time_t now = time(NULL);
	if (timespan_parse(s, &span) == 0)
		return span / USEC_PER_SEC > (usec_t)now ? 0 : now - (time_t)(span / USEC_PER_SEC);
	for (size_t i = 0; i < ELEMENTSOF(formats); i++) {
		struct tm tm = { .tm_isdst = -1 };
		const char *end = strptime(s, formats[i], &tm);
		if (end && *end == '\0') {
			time_t t = mktime(&tm);
			return t < 0 ? -1 : (long long)t;
		}
	}
	return -1;
}

static int usage_error(const char *msg)
{
	fprintf(stderr, "trnidlectl: %s\nTry 'trnidlectl --help'.\n", msg);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	static const struct option options[] = { { "json", no_argument, NULL, 'j' },
		                                 { "socket", required_argument, NULL, 's' },
		                                 { "reason", required_argument, NULL, 'r' },
		                                 { "since", required_argument, NULL, 'S' },
		                                 { "help", no_argument, NULL, 'h' },
		                                 { "version", no_argument, NULL, 'V' },
		                                 {} };
	const char *socket_path = TRNIDLED_RUNTIME_DIR "/io.trnidle.sock", *reason = NULL,
	           *since = NULL;
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "hV", options, NULL)) >= 0) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 's':
			socket_path = optarg;
			break;
		case 'r':
			reason = optarg;
			break;
		case 'S':
			since = optarg;
			break;
		case 'h':
			help();
			return 0;
		case 'V':
			printf("trnidlectl %s\n", TRNIDLED_VERSION);
			return 0;
		default:
			return usage_error("unknown option");
		}
	}
	if (optind >= argc)
		return usage_error("missing command");
	const char *verb = argv[optind++];
	int nargs = argc - optind;
	json_object *p = json_object_new_object();
	const char *method;

	if (reason && !streq(verb, "hold")) {
		json_object_put(p);
		return usage_error("--reason goes with hold");
	}
	if (since && !streq(verb, "history")) {
		json_object_put(p);
		return usage_error("--since goes with history");
	}
	if (streq(verb, "status") && nargs == 0)
		method = "io.trnidle.Status";
	else if (streq(verb, "check-now") && nargs == 0)
		method = "io.trnidle.CheckNow";
	else if (streq(verb, "reload") && nargs == 0)
		method = "io.trnidle.Reload";
	else if (streq(verb, "history") && nargs == 0) {
		method = "io.trnidle.History";
		long long t = since ? parse_since(since) : 0;
		if (t < 0) {
			json_object_put(p);
			return usage_error("--since takes a time span (2d, 6h) or a date "
			                   "(2026-12-01, \"2026-12-01 14:30\")");
		}
		if (since)
			json_object_object_add(p, "since", json_object_new_int64(t));
	} else if (streq(verb, "hold") && nargs == 1) {
		method = "io.trnidle.Hold";
		json_object_object_add(p, "duration", json_object_new_string(argv[optind]));
		if (reason)
			json_object_object_add(p, "reason", json_object_new_string(reason));
	} else if (streq(verb, "release") && nargs <= 1) {
		method = "io.trnidle.Release";
		if (nargs == 1) {
			char *end;
			errno = 0;
			long long id = strtoll(argv[optind], &end, 10);
			if (errno || *end || end == argv[optind] || id < 1) {
				json_object_put(p);
				return usage_error("release takes a hold number (see trnidlectl "
				                   "status)");
			}
			json_object_object_add(p, "id", json_object_new_int64(id));
		}
	} else {
		json_object_put(p);
		if (!streq(verb, "status") && !streq(verb, "check-now") && !streq(verb, "reload") &&
		    !streq(verb, "hold") && !streq(verb, "release") && !streq(verb, "history"))
			return usage_error("unknown command");
		return usage_error("wrong number of arguments");
	}
	return call(socket_path, method, p, json);
}
