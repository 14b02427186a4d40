/* The check loop. A CLOCK_BOOTTIME timer re-arms itself every IntervalSec (the boot clock keeps
 * counting through suspend and ignores wall-clock jumps, so grace and streak never move when
 * someone sets the date). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "action.h"
#include "build-config.h"
#include "log.h"
#include "manager.h"
#include "spot.h"
#include "state.h"
#include "timespan.h"

/* Timer slack: a check a second late is harmless, and slack lets the kernel batch wake-ups. */
#define CHECK_ACCURACY_USEC (USEC_PER_SEC / 4)

const char *manager_armed_action(const Manager *m)
{
	switch (m->config.action) {
	case ACTION_NONE:
		return "none";
	case ACTION_STOP_INSTANCE:
		return "stop-instance";
	case ACTION_AUTO:
		return aws_resolve_auto(aws_runtime_is_spot(m->aws));
	case ACTION_POWEROFF:
	default:
		return "poweroff";
	}
}

static const ActionOps *armed_ops(const Manager *m)
{
	const char *name = manager_armed_action(m);
	if (streq(name, "none"))
		return &action_none;
	return streq(name, "stop-instance") ? &action_stop_instance : &action_poweroff;
}

void manager_save_state(Manager *m)
{
	_cleanup_free_ char *text =
	        state_serialize(&m->state, m->have_last ? &m->last : NULL, m->boot_id);
	int r = text ? state_save(m->opt.runtime_dir, text) : -ENOMEM;
	if (r < 0 && !m->state_save_failed)
		log_warning("cannot save state to %s/state: %s; deciding on without it "
		            "(a restart would start the idle streak anew)",
		            m->opt.runtime_dir, strerror(-r));
	if (r >= 0 && m->state_save_failed)
		log_notice("state saved to %s/state again", m->opt.runtime_dir);
	m->state_save_failed = r < 0;
}

static void load_state(Manager *m)
{
	_cleanup_free_ char *text = NULL;
	char err[256];
	int r = state_load_text(m->opt.runtime_dir, &text);
	if (r == -ENOENT)
		return;
	if (r < 0) {
		log_warning("cannot read %s/state: %s; starting with a fresh state",
		            m->opt.runtime_dir, strerror(-r));
		return;
	}
	r = state_parse(text, m->boot_id, &m->state, &m->last, err, sizeof(err));
	if (r < 0) {
		log_warning("ignoring %s/state: %s; starting with a fresh state",
		            m->opt.runtime_dir, err);
		return;
	}
	m->have_last = false; /* the old verdict is history, not this run's last check */
	unsigned cut = state_cap_holds(&m->state, now_boottime(), control_hold_max, m);
	if (cut > 0)
		log_warning("%u restored hold(s) lasted longer than [Control] allows; they end at "
		            "the limit now",
		            cut);
	log_info("state restored from %s/state: idle %u/%u, %zu hold(s)", m->opt.runtime_dir,
	         m->state.idle_checks, m->config.idle_checks, m->state.n_holds);
}

static void notify_status(Manager *m, const Decision *d)
{
	char line[512];
	decision_summary(d, line, sizeof(line));
	(void)sd_notifyf(false, "STATUS=%s%s", m->opt.dry_run ? "[dry-run] " : "", line);
}

static void log_action_result(Manager *m, const ActionOps *ops, int r, const ActionResult *res)
{
	char f_action[64], f_path[96], f_dry[32];
	snprintf(f_action, sizeof(f_action), "TRNIDLED_ACTION=%s", ops->name);
	snprintf(f_path, sizeof(f_path), "TRNIDLED_ACTION_PATH=%s", res->path[0] ? res->path : "-");
	snprintf(f_dry, sizeof(f_dry), "TRNIDLED_DRY_RUN=%d", m->opt.dry_run ? 1 : 0);
	const char *fields[] = { f_action, f_path, f_dry, NULL };
	if (r >= 0)
		log_event(LOG_NOTICE, MESSAGE_ID_ACTION_TAKEN, fields, "action %s%s: %s", ops->name,
		          m->opt.dry_run ? " (dry-run)" : "", res->message);
	else
		log_event(LOG_ERR, MESSAGE_ID_ACTION_FAILED, fields, "action %s failed: %s",
		          ops->name, res->message);
}

static void on_aws_action_done(void *userdata, const ActionOps *ops, int r, const ActionResult *res)
{
	log_action_result(userdata, ops, r, res);
}

static void execute_action(Manager *m)
{
	const ActionOps *ops = armed_ops(m);
	if (ops == &action_stop_instance)
		return aws_runtime_stop_instance(m->aws, m->action_why);
	ActionResult res;
	ActionRequest req = { .dry_run = m->opt.dry_run,
		              .config = &m->config,
		              .why = m->action_why };
	int r = ops->run(&req, &res);
	log_action_result(m, ops, r, &res);
}

static void on_pre_action_done(void *userdata)
{
	Manager *m = userdata;
	m->pre_action = pre_action_free(m->pre_action);
	if (!m->action_after_pre)
		return;
	m->action_after_pre = false;
	/* A spot notice that came while the command ran wins: EC2 stops the machine anyway. */
	if (aws_runtime_spot_notice(m->aws)) {
		log_notice("not starting the idle action: a spot interruption is pending");
		return;
	}
	execute_action(m);
}

static int start_pre_action(Manager *m, const char *reason)
{
	if (!m->config.pre_action_command)
		return -ENOENT;
	if (m->pre_action) {
		log_info("pre-action command still running; not starting it again for %s", reason);
		return -EBUSY;
	}
	return pre_action_start(m->event, m->config.pre_action_command,
	                        m->config.pre_action_timeout, reason, manager_armed_action(m),
	                        m->opt.dry_run, on_pre_action_done, m, &m->pre_action);
}

static void on_spot_notice(void *userdata, const SpotNotice *n)
{
	Manager *m = userdata;
	if (m->warn_until > 0) {
		sd_event_source_set_enabled(m->warn_timer, SD_EVENT_OFF);
		m->warn_until = 0;
		log_notice("idle warning ended: a spot interruption is pending");
	}
	(void)start_pre_action(m, "spot-interruption");
}

static void run_action(Manager *m, const Decision *d)
{
	/* Start counting anew: a dry-run or failed action repeats only after another full
	 * streak, not on every check. */
	m->state.idle_checks = 0;
	if (m->action_after_pre || aws_runtime_stopping(m->aws)) {
		log_info("the previous action is still under way; not starting another");
		return;
	}
	decision_summary(d, m->action_why, sizeof(m->action_why));
	if (start_pre_action(m, "idle") >= 0) {
		m->action_after_pre = true;
		return;
	}
	execute_action(m);
}

/* How the terminal warnings name the armed action: a noun, or what the machine will do. */
static const char *action_phrase(const Manager *m, bool noun)
{
	const char *a = manager_armed_action(m);
	if (streq(a, "none"))
		return noun ? "idle action" : "reach its idle action";
	if (streq(a, "stop-instance"))
		return noun ? "instance stop" : "be stopped (EC2 StopInstances)";
	return noun ? "power-off" : "power off";
}

static void cancel_warning(Manager *m, const Decision *d)
{
	char why[512];
	decision_summary(d, why, sizeof(why));
	sd_event_source_set_enabled(m->warn_timer, SD_EVENT_OFF);
	m->warn_until = 0;
	const char *fields[] = { "TRNIDLED_ACTION_CANCELLED=1", NULL };
	log_event(LOG_NOTICE, MESSAGE_ID_ACTION_CANCELLED, fields,
	          "action %s cancelled: the machine became busy again (%s)",
	          manager_armed_action(m), why);
	char msg[1024];
	snprintf(msg, sizeof(msg),
	         "\r\n*** trnidled: the %s is cancelled, the machine is in use (%s). ***\r\n",
	         action_phrase(m, true), why);
	(void)wall_terminals(m->opt.dev_root, msg);
}

static void start_warning(Manager *m, const Decision *d)
{
	char left[64], why[512], msg[2048];
	timespan_format(left, sizeof(left), m->config.warn);
	decision_summary(d, why, sizeof(why));
	snprintf(msg, sizeof(msg),
	         "\r\n*** trnidled%s: this machine looks idle and will %s in %s. ***\r\n"
	         "*** Why: %s ***\r\n"
	         "*** To keep it up, run: trnidlectl hold 2h --reason \"...\" ***\r\n",
	         m->opt.dry_run ? " (dry-run, nothing will happen)" : "", action_phrase(m, false),
	         left, why);
	int n = wall_terminals(m->opt.dev_root, msg);
	char f_terms[64];
	snprintf(f_terms, sizeof(f_terms), "TRNIDLED_TERMINALS_WARNED=%d", n < 0 ? 0 : n);
	const char *fields[] = { f_terms, NULL };
	log_event(LOG_NOTICE, MESSAGE_ID_ACTION_WARNING, fields,
	          "action %s in %s unless the machine becomes busy; warned %d terminal(s)",
	          manager_armed_action(m), left, n < 0 ? 0 : n);
	m->warn_until = now_boottime() + m->config.warn;
	sd_event_source_set_time(m->warn_timer, m->warn_until);
	sd_event_source_set_enabled(m->warn_timer, SD_EVENT_ONESHOT);
}

/* One scheduled check (or the re-check at the end of a warning). */
static void do_check(Manager *m)
{
	usec_t now = now_boottime();
	Sample sample;
	Decision d;

	sampler_sample(&m->sampler, &m->config, now, true, &sample);
	if (sample.inhibitor.say_absent)
		log_info("inhibitor: %s; the signal is off until logind answers",
		         sample.inhibitor.absent);
	core_decide(&sample, &m->config, &m->state, now, DECIDE_CHECK, &m->state, &d);
	if (aws_runtime_spot_notice(m->aws)) {
		spot_block_decision(aws_runtime_spot_notice(m->aws), &d);
		m->state.idle_checks = 0;
	}
	m->last = d;
	m->last_sample = sample;
	m->have_last = true;
	m->last_at = now;
	m->checks++;
	log_check("check", &d);
	notify_status(m, &d);

	if (m->warn_until > 0) {
		if (d.verdict != VERDICT_IDLE)
			cancel_warning(m, &d);
	} else if (d.action_due) {
		if (m->config.warn == 0)
			run_action(m, &d);
		else
			start_warning(m, &d);
	}
	manager_save_state(m);
	aws_runtime_after_check(m->aws, &d, &sample);
}

static int on_check_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	Manager *m = userdata;
	/* Re-arm first, relative to now, so that a slow check never shifts into a burst. */
	m->next_check_at = now_boottime() + m->config.interval;
	(void)sd_event_source_set_time(s, m->next_check_at);
	(void)sd_event_source_set_enabled(s, SD_EVENT_ON);
	do_check(m);
	return 0;
}

/* A check that ran this recently is "now" for CheckNow and for the re-check at the end of a
 * warning: sampling again would average CPU over a few milliseconds, which is mostly the
 * daemon itself, and read as busy (it cancelled power-offs whenever WarnSec= equalled
 * IntervalSec=, as with the defaults). */
#define FRESH_CHECK_USEC USEC_PER_SEC

/* The re-check at the end of a warning looks like CheckNow: baselines and streak stay as they
 * are, so the next scheduled check still averages over its whole interval. */
static int on_warn_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	Manager *m = userdata;
	Sample sample;
	Decision d;
	manager_check_now(m, &sample, &d);
	log_check("recheck", &d);
	notify_status(m, &d);
	if (d.verdict != VERDICT_IDLE)
		cancel_warning(m, &d);
	else {
		m->warn_until = 0;
		run_action(m, &d);
	}
	manager_save_state(m);
	return 0;
}

void manager_check_now(Manager *m, Sample *ret_sample, Decision *ret)
{
	usec_t now = now_boottime();
	CoreState scratch;
	/* Facts this fresh are reused; the decision is made anew (a hold may have come since). */
	if (m->have_last && now - m->last_at < FRESH_CHECK_USEC)
		*ret_sample = m->last_sample;
	else if (m->on_demand_at > 0 && now - m->on_demand_at < FRESH_CHECK_USEC)
		*ret_sample = m->on_demand; /* a CheckNow flood samples once a second at most */
	else {
		sampler_sample(&m->sampler, &m->config, now, false, ret_sample);
		m->on_demand = *ret_sample;
		m->on_demand_at = now;
	}
	core_decide(ret_sample, &m->config, &m->state, now, DECIDE_CHECK, &scratch, ret);
	if (aws_runtime_spot_notice(m->aws))
		spot_block_decision(aws_runtime_spot_notice(m->aws), ret);
	/* CheckNow looks, it does not count: report the streak as it stands. */
	ret->idle_checks = m->state.idle_checks;
	ret->action_due = false;
}

int manager_reload(Manager *m, char ***ret_errors)
{
	Config c;
	ConfigDiag diag = { 0 };
	struct timespec mono;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	/* systemd pairs RELOADING=1 with CLOCK_MONOTONIC, whatever clock our checks use. */
	(void)sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%llu",
	                 (unsigned long long)mono.tv_sec * USEC_PER_SEC +
	                         (unsigned long long)mono.tv_nsec / 1000);
	int r = config_load(m->opt.config_path, m->opt.dropin_dir, &c, &diag);
	for (char **w = diag.warnings; w && *w; w++)
		log_warning("%s", *w);
	if (r != 0) {
		for (char **e = diag.errors; e && *e; e++)
			log_error("%s", *e);
		log_error("reload failed: keeping the configuration in force");
		if (ret_errors)
			*ret_errors = strv_copy(diag.errors);
		config_diag_clear(&diag);
		(void)sd_notify(false, "READY=1");
		return r < 0 ? r : -EINVAL;
	}
	config_diag_clear(&diag);
	bool interval_changed = c.interval != m->config.interval;
	config_free(&m->config);
	m->config = c;
	if (interval_changed) {
		m->next_check_at = now_boottime() + m->config.interval;
		(void)sd_event_source_set_time(m->check_timer, m->next_check_at);
	}
	aws_runtime_reload(m->aws);
	log_info("configuration reloaded");
	(void)sd_notify(false, "READY=1");
	return 0;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	(void)manager_reload(userdata, NULL);
	return 0;
}

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	Manager *m = userdata;
	log_info("received %s, exiting", strsignal((int)si->ssi_signo));
	(void)sd_notify(false, "STOPPING=1");
	return sd_event_exit(m->event, 0);
}

static int take_lock(Manager *m)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/trnidled.lock", m->opt.runtime_dir);
	m->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (m->lock_fd < 0) {
		log_error("cannot open lock file %s: %s", path, strerror(errno));
		return -errno;
	}
	if (flock(m->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		if (e == EWOULDBLOCK)
			log_error("another trnidled is already running with runtime directory %s "
			          "(it holds %s); not starting a second one",
			          m->opt.runtime_dir, path);
		else
			log_error("cannot lock %s: %s", path, strerror(e));
		return -EBUSY;
	}
	return 0;
}

static int listen_control(Manager *m)
{
	char path[4096];
	int fd = -1;
	int n = sd_listen_fds(true);
	if (n > 1) {
		log_error("expected at most one socket from the service manager, got %d", n);
		return -EINVAL;
	}
	if (n == 1)
		fd = SD_LISTEN_FDS_START;
	snprintf(path, sizeof(path), "%s/io.trnidle.sock", m->opt.runtime_dir);
	int r = varlink_server_new(m->event, path, fd, 0666, control_dispatch, m, &m->varlink);
	if (r < 0) {
		log_error("cannot listen on %s: %s", path, strerror(-r));
		return r;
	}
	varlink_server_set_privileged(m->varlink, control_peer_privileged);
	return 0;
}

static int setup_event_loop(Manager *m)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD); /* sd_event_add_child, for the pre-action command */
	sigprocmask(SIG_BLOCK, &mask, NULL);
	/* A client that goes away mid-reply must not kill the daemon. */
	signal(SIGPIPE, SIG_IGN);

	int r = sd_event_new(&m->event);
	if (r < 0)
		return r;
	(void)sd_event_set_watchdog(m->event, true);
	if ((r = sd_event_add_signal(m->event, NULL, SIGTERM, on_exit_signal, m)) < 0 ||
	    (r = sd_event_add_signal(m->event, NULL, SIGINT, on_exit_signal, m)) < 0 ||
	    (r = sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, m)) < 0)
		return r;
	m->next_check_at = now_boottime() + m->config.interval;
	r = sd_event_add_time(m->event, &m->check_timer, CLOCK_BOOTTIME, m->next_check_at,
	                      CHECK_ACCURACY_USEC, on_check_timer, m);
	if (r < 0)
		return r;
	(void)sd_event_source_set_description(m->check_timer, "check");
	r = sd_event_add_time(m->event, &m->warn_timer, CLOCK_BOOTTIME, USEC_INFINITY,
	                      CHECK_ACCURACY_USEC, on_warn_timer, m);
	if (r < 0)
		return r;
	return sd_event_source_set_enabled(m->warn_timer, SD_EVENT_OFF);
}

int manager_new(const ManagerOptions *opt, Config *config, Manager **ret)
{
	int r;

	Manager *m = calloc(1, sizeof(*m));
	if (!m) {
		config_free(config);
		return -ENOMEM;
	}
	m->opt = *opt;
	m->lock_fd = -1;
	m->config = *config;
	*config = (Config){ 0 };
	core_state_init(&m->state);

	if (mkdir(opt->runtime_dir, 0755) < 0 && errno != EEXIST) {
		log_error("cannot create runtime directory %s: %s", opt->runtime_dir,
		          strerror(errno));
		r = -errno;
		goto fail;
	}
	if ((r = take_lock(m)) < 0)
		goto fail;
	if (boot_id_read("/proc", m->boot_id, sizeof(m->boot_id)) < 0)
		strscpy(m->boot_id, sizeof(m->boot_id), "unknown");
	load_state(m);

	ProbeEnv env = { .proc_root = "/proc", .dev_root = opt->dev_root };
	sampler_init(&m->sampler, &env);
	sampler_prime(&m->sampler, &m->config, now_boottime());

	if ((r = setup_event_loop(m)) < 0) {
		log_error("cannot set up the event loop: %s", strerror(-r));
		goto fail;
	}
	if ((r = listen_control(m)) < 0)
		goto fail;
	AwsCallbacks cb = { .spot_notice = on_spot_notice,
		            .action_done = on_aws_action_done,
		            .userdata = m };
	if ((r = aws_runtime_new(m->event, &m->config, opt->dry_run, opt->aws_agent, &cb,
	                         &m->aws)) < 0) {
		log_error("cannot set up the EC2 timers: %s", strerror(-r));
		goto fail;
	}
	*ret = m;
	return 0;
fail:
	manager_free(m);
	return r;
}

Manager *manager_free(Manager *m)
{
	if (!m)
		return NULL;
	varlink_server_free(m->varlink);
	aws_runtime_free(m->aws);
	pre_action_free(m->pre_action);
	sd_event_source_disable_unref(m->check_timer);
	sd_event_source_disable_unref(m->warn_timer);
	sd_event_unref(m->event);
	if (m->lock_fd >= 0)
		close(m->lock_fd);
	config_free(&m->config);
	sampler_done(&m->sampler);
	free(m);
	return NULL;
}

int manager_run(Manager *m)
{
	char interval[64], grace[64];
	log_info("trnidled %s started%s: checking every %s, boot grace %s, action %s after %u idle "
	         "check(s)",
	         TRNIDLED_VERSION, m->opt.dry_run ? " in dry-run mode" : "",
	         timespan_format(interval, sizeof(interval), m->config.interval),
	         timespan_format(grace, sizeof(grace), m->config.boot_grace),
	         manager_armed_action(m), m->config.idle_checks);
	(void)sd_notifyf(false, "READY=1\nSTATUS=%sfirst check in %s",
	                 m->opt.dry_run ? "[dry-run] " : "", interval);
	int r = sd_event_loop(m->event);
	manager_save_state(m);
	return r;
}
