/* trnidled-aws: the unprivileged half of trnidled, the OpenBSD ntpd way. It makes the calls to
 * instance metadata, EC2 and CloudWatch for the root daemon, which then never opens a network
 * socket nor parses what comes from the network. It answers Varlink interface io.trnidle.aws
 * on a socket that systemd passes in (or --socket PATH) and holds no decision logic: each
 * method runs the in-process AwsClient and returns its result. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "aws-client.h"
#include "aws-wire.h"
#include "build-config.h"
#include "config.h"
#include "log.h"
#include "varlink.h"

#define EXIT_CONFIG 2

typedef struct Agent {
	const char *config_path;
	const char *dropin_dir;
	Config config;
	AwsClient *client;
	sd_event *event;
	VarlinkServer *server;
} Agent;

static void help(void)
{
	printf("Usage: trnidled-aws [OPTIONS]\n"
	       "Makes trnidled's calls to AWS (instance metadata, EC2, CloudWatch) as an\n"
	       "unprivileged process, answering Varlink interface io.trnidle.aws.\n\n"
	       "  -c, --config PATH    configuration file (default %s; drop-ins in PATH.d/)\n"
	       "      --socket PATH    listen on PATH (default: the socket systemd passes)\n"
	       "  -f, --foreground     log on stderr, not to the journal\n"
	       "  -V, --version        print the version and exit\n"
	       "  -h, --help           print this help and exit\n\n"
	       "See trnidled-aws(8).\n",
	       TRNIDLED_CONF_PATH);
}

/* Errors and warnings to the log; returns the number of errors (or < 0). */
static int load_config(Agent *a, Config *ret)
{
	ConfigDiag diag = { 0 };
	int r = config_load(a->config_path, a->dropin_dir, ret, &diag);
	for (char **w = diag.warnings; w && *w; w++)
		log_warning("%s", *w);
	for (char **e = diag.errors; e && *e; e++)
		log_error("%s", *e);
	config_diag_clear(&diag);
	return r;
}

static void reply_failure(VarlinkCall *call, int r, const char *message)
{
	varlink_error(call, AWS_ERROR_FAILED, aws_wire_failure(r, message, NULL));
}

static void reply_invalid(VarlinkCall *call, const char *message)
{
	json_object *p = json_object_new_object();
	json_object_object_add(p, "parameter", json_object_new_string("parameters"));
	json_object_object_add(p, "message", json_object_new_string(message));
	varlink_error(call, "org.varlink.service.InvalidParameter", p);
}

static void do_identify(Agent *a, VarlinkCall *call)
{
	AwsIdentity id;
	char err[768];
	int r = a->client->ops->identify(a->client, &id, err, sizeof(err));
	if (r < 0)
		return reply_failure(call, r, err);
	varlink_reply(call, aws_wire_identity(&id));
}

static void do_spot(Agent *a, VarlinkCall *call)
{
	SpotFacts n;
	char err[768];
	int r = a->client->ops->spot_action(a->client, &n, err, sizeof(err));
	if (r < 0)
		return reply_failure(call, r, err);
	varlink_reply(call, aws_wire_notice(&n));
}

static void do_rebalance(Agent *a, VarlinkCall *call)
{
	char when[32], err[768];
	int r = a->client->ops->rebalance(a->client, when, sizeof(when), err, sizeof(err));
	if (r < 0)
		return reply_failure(call, r, err);
	varlink_reply(call, aws_wire_rebalance(when));
}

static void do_stop(Agent *a, VarlinkCall *call)
{
	AwsIdentity id;
	ActionResult res;
	bool dry_run;
	char err[512];
	if (aws_wire_read_stop_request(call->parameters, &id, &dry_run, err, sizeof(err)) < 0)
		return reply_invalid(call, err);
	int r = a->client->ops->stop_instance(a->client, &id, dry_run, &res);
	/* The one call that changes anything: on the record here too, not only in the daemon. */
	log_notice("StopInstances%s on %s for pid %d: %s", dry_run ? " (dry-run)" : "",
	           id.instance_id, (int)call->pid, res.message);
	if (r < 0)
		return varlink_error(
		        call, AWS_ERROR_FAILED,
		        aws_wire_failure(r, res.message, aws_wire_action_result(&res)));
	varlink_reply(call, aws_wire_action_result(&res));
}

static void do_metrics(Agent *a, VarlinkCall *call)
{
	AwsIdentity id;
	CloudWatchMetric m[AWS_METRICS_MAX];
	size_t n;
	char err[768];
	if (aws_wire_read_metrics(call->parameters, &id, m, ELEMENTSOF(m), &n, err, sizeof(err)) <
	    0)
		return reply_invalid(call, err);
	int r = a->client->ops->put_metrics(a->client, &id, m, n, err, sizeof(err));
	if (r < 0)
		return reply_failure(call, r, err);
	varlink_reply(call, NULL);
}

static void do_publish(Agent *a, VarlinkCall *call)
{
	const char *subject, *message;
	char err[768];
	if (aws_wire_read_publish(call->parameters, &subject, &message, err, sizeof(err)) < 0)
		return reply_invalid(call, err);
	int r = a->client->ops->publish(a->client, subject, message, err, sizeof(err));
	if (r < 0)
		return reply_failure(call, r, err);
	varlink_reply(call, NULL);
}

static int reload(Agent *a)
{
	Config fresh;
	int r = load_config(a, &fresh);
	if (r != 0) {
		log_error("configuration not reloaded: it has errors; keeping the previous one");
		return -EINVAL;
	}
	config_free(&a->config);
	a->config = fresh;
	char err[256];
	(void)a->client->ops->reload(a->client, err, sizeof(err));
	log_info("configuration reloaded");
	return 0;
}

static void do_reload(Agent *a, VarlinkCall *call)
{
	if (reload(a) < 0)
		return reply_failure(call, -EINVAL, "the configuration has errors (see the log)");
	varlink_reply(call, NULL);
}

static void deny(VarlinkCall *call, const char *what)
{
	char msg[256];
	snprintf(msg, sizeof(msg), "%s is only for root (trnidled); uid %u may not", what,
	         (unsigned)call->uid);
	log_warning("refused %s to uid %u (pid %d)", call->method, (unsigned)call->uid,
	            (int)call->pid);
	json_object *p = json_object_new_object();
	json_object_object_add(p, "message", json_object_new_string(msg));
	varlink_error(call, AWS_ERROR_PERMISSION, p);
}

static void dispatch(VarlinkCall *call, void *userdata)
{
	Agent *a = userdata;
	/* The socket is root's (mode 0600, also with --socket), but a socket unit's SocketMode=
	 * may have been changed: the caller's uid is what counts. Stopping the instance is for
	 * root alone. */
	bool trusted = call->uid == 0 || call->uid == getuid();
	if (streq(call->method, AWS_METHOD_STOP)) {
		if (call->uid != 0)
			return deny(call, "StopInstance");
		return do_stop(a, call);
	}
	if (!trusted && startswith(call->method, AWS_INTERFACE "."))
		return deny(call, call->method + strlen(AWS_INTERFACE "."));
	if (streq(call->method, AWS_METHOD_IDENTIFY))
		return do_identify(a, call);
	if (streq(call->method, AWS_METHOD_SPOT))
		return do_spot(a, call);
	if (streq(call->method, AWS_METHOD_REBALANCE))
		return do_rebalance(a, call);
	if (streq(call->method, AWS_METHOD_METRICS))
		return do_metrics(a, call);
	if (streq(call->method, AWS_METHOD_RELOAD))
		return do_reload(a, call);
	if (streq(call->method, AWS_METHOD_PUBLISH))
		return do_publish(a, call);
	json_object *p = json_object_new_object();
	json_object_object_add(p, "method", json_object_new_string(call->method));
	varlink_error(call, "org.varlink.service.MethodNotFound", p);
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	(void)reload(userdata);
	return 0;
}

static int run(Agent *a, const char *socket_path)
{
	int fd = -1, r;
	if (!socket_path) {
		int n = sd_listen_fds(true);
		if (n != 1) {
			log_error("expected one socket from systemd (trnidled-aws.socket), got %d; "
			          "or give --socket PATH",
			          n < 0 ? 0 : n);
			return -EBADF;
		}
		fd = SD_LISTEN_FDS_START;
	}
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	if ((r = sd_event_default(&a->event)) < 0 ||
	    (r = sd_event_add_signal(a->event, NULL, SIGTERM, NULL, NULL)) < 0 ||
	    (r = sd_event_add_signal(a->event, NULL, SIGINT, NULL, NULL)) < 0 ||
	    (r = sd_event_add_signal(a->event, NULL, SIGHUP, on_sighup, a)) < 0) {
		log_error("cannot set up the event loop: %s", strerror(-r));
		return r;
	}
	/* Root's alone however it is started (trnidled-aws.socket has SocketMode=0600 too). */
	r = varlink_server_new(a->event, socket_path, fd, 0600, dispatch, a, &a->server);
	if (r < 0) {
		log_error("cannot listen on %s: %s",
		          socket_path ? socket_path : "the passed socket", strerror(-r));
		return r;
	}
	log_info("trnidled-aws %s ready: answering io.trnidle.aws for trnidled (instance "
	         "metadata at %s)",
	         TRNIDLED_VERSION, a->config.imds_endpoint);
	(void)sd_notify(false, "READY=1\nSTATUS=answering io.trnidle.aws");
	return sd_event_loop(a->event);
}

int main(int argc, char **argv)
{
	static const struct option options[] = { { "config", required_argument, NULL, 'c' },
		                                 { "socket", required_argument, NULL, 's' },
		                                 { "foreground", no_argument, NULL, 'f' },
		                                 { "version", no_argument, NULL, 'V' },
		                                 { "help", no_argument, NULL, 'h' },
		                                 {} };
	Agent a = { .config_path = TRNIDLED_CONF_PATH, .dropin_dir = TRNIDLED_CONF_DIR };
	const char *socket_path = NULL;
	char dropin[4096];
	bool foreground = false;
	int c;

	while ((c = getopt_long(argc, argv, "c:fVh", options, NULL)) >= 0) {
		switch (c) {
		case 'c':
			a.config_path = optarg;
			snprintf(dropin, sizeof(dropin), "%s.d", optarg);
			a.dropin_dir = dropin;
			break;
		case 's':
			socket_path = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'V':
			printf("trnidled-aws %s\n", TRNIDLED_VERSION);
			return 0;
		case 'h':
			help();
			return 0;
		default:
			fprintf(stderr, "Try 'trnidled-aws --help'.\n");
			return EXIT_CONFIG;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "trnidled-aws: unexpected argument '%s'\n", argv[optind]);
		return EXIT_CONFIG;
	}
	log_set_target(foreground ? LOG_TARGET_STDERR : LOG_TARGET_JOURNAL);
	int r = load_config(&a, &a.config);
	if (r != 0) {
		log_error("refusing to start: the configuration has errors (check with 'trnidled "
		          "--check-config')");
		return EXIT_CONFIG;
	}
	a.client = aws_client_new_local(&a.config);
	r = a.client ? run(&a, socket_path) : -ENOMEM;
	varlink_server_free(a.server);
	sd_event_unref(a.event);
	aws_client_free(a.client);
	config_free(&a.config);
	return r < 0 ? 1 : 0;
}
