/* The check loop. A CLOCK_BOOTTIME timer re-arms itself every IntervalSec (the boot clock keeps
 * counting through suspend and ignores wall-clock jumps, so grace and streak never move when
 * someone sets the date). Also the state file, reloads and the set-up of the loop (over 400
 * lines for that); the pending action's steps are in manager-action.c. */
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
#include "check-log.h"
#include "log.h"
#include "manager.h"
#include "state.h"
#include "system-bus.h"
#include "textfile.h"
#include "timespan.h"

/* Timer slack. sd-event's default of 250 ms made every check up to that late, and re-arming from
 * the late moment let the delay add up (IntervalSec=1s gave a check every 1.25 s). */
#define CHECK_ACCURACY_USEC (USEC_PER_MSEC * 5)

usec_t manager_inhibitor_lead(const Manager *m)
{
	usec_t limit = m->config.interval / 2;
	return inhibitor_watch_lead(&m->inhibitors, MIN(limit, USEC_PER_SEC), limit);
}

usec_t manager_ask_inhibitors_before(Manager *m, usec_t when)
{
	usec_t lead = manager_inhibitor_lead(m);
	usec_t at = when > lead ? when - lead : 0;
	inhibitor_watch_ask_at(&m->inhibitors, at);
	return at;
}

usec_t manager_now(const Manager *m)
{
	const ManagerInputs *in = &m->opt.inputs;
	return in->now ? in->now(in->userdata) : now_boottime();
}

usec_t manager_realtime(const Manager *m)
{
	const ManagerInputs *in = &m->opt.inputs;
	return in->realtime ? in->realtime(in->userdata) : now_realtime();
}

static void sample_take(Manager *m, usec_t now, bool commit, Sample *ret)
{
	const ManagerInputs *in = &m->opt.inputs;
	if (in->sample)
		in->sample(in->userdata, &m->config, now, commit, ret);
	else
		sampler_sample(&m->sampler, &m->config, now, commit, ret);
}

/* Whether RUNTIME_DIR/state is still there (one fstatat on the locked directory). */
static bool state_file_present(const Manager *m)
{
	struct stat st;
	return m->lock_fd < 0 || fstatat(m->lock_fd, "state", &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* The file holds what a restart needs (streak, holds), not the last verdict, whose reasons
 * change with every busy check: so it is written only when that changes, or
 * when someone removed it (a restart would lose the holds). */
void manager_save_state(Manager *m)
{
	if (m->state_unreadable[0])
		return; /* what it holds is not known yet: never write over it */
	_cleanup_free_ char *text = state_serialize(&m->state, NULL, m->boot_id);
	if (text && m->state_saved && streq(text, m->state_saved) && state_file_present(m))
		return;
	int r = text ? state_save(m->opt.runtime_dir, text) : -ENOMEM;
	if (r >= 0) {
		free(m->state_saved);
		m->state_saved = text;
		text = NULL;
	}
	if (r < 0 && !m->state_save_failed)
		log_warning("cannot save state to %s/state: %s; deciding on without it "
		            "(a restart would start the idle streak anew)",
		            m->opt.runtime_dir, strerror(-r));
	if (r >= 0 && m->state_save_failed)
		log_notice("state saved to %s/state again", m->opt.runtime_dir);
	m->state_save_failed = r < 0;
}

/* Reads the state file into *ret. Returns 0, -ENOENT when there is none or it is from another
 * boot (logged: holds end with the boot), or -EBADMSG with the reason in why. */
static int read_state(Manager *m, CoreState *ret, Decision *ret_last, char *why, size_t len)
{
	_cleanup_free_ char *text = NULL;
	int r = state_load_text(m->opt.runtime_dir, &text, why, len);
	if (r == -ENOENT)
		return r;
	if (r >= 0)
		r = state_parse(text, m->boot_id, ret, ret_last, why, len);
	if (r == -ESTALE) {
		log_warning("ignoring %s/state: %s; holds and the idle streak end with the boot",
		            m->opt.runtime_dir, why);
		return -ENOENT;
	}
	return r < 0 ? -EBADMSG : 0;
}

static void load_state(Manager *m)
{
	char why[sizeof(m->state_unreadable)] = "";
	int r = read_state(m, &m->state, &m->last, why, sizeof(why));
	if (r == -ENOENT)
		return;
	if (r < 0) {
		strscpy(m->state_unreadable, sizeof(m->state_unreadable), why);
		log_error("cannot use %s/state: %s; it may hold holds, so the machine stays up "
		          "(probe-error) until it can be read or is removed; not writing over it",
		          m->opt.runtime_dir, why);
		return;
	}
	m->have_last = false; /* the old verdict is history, not this run's last check */
	unsigned cut = state_cap_holds(&m->state, manager_now(m), control_hold_max, m);
	if (cut > 0)
		log_warning("%u restored hold(s) lasted longer than [Control] allows; they end at "
		            "the limit now",
		            cut);
	log_info("state restored from %s/state: idle %u/%u, %zu hold(s)", m->opt.runtime_dir,
	         m->state.idle_checks, m->config.idle_checks, m->state.n_holds);
}

/* While the state file cannot be used, each check tries again; once it can (or is gone), its
 * holds join the ones taken meanwhile and saving resumes. */
static void retry_state(Manager *m)
{
	CoreState from;
	Decision ignored;
	char why[sizeof(m->state_unreadable)];
	if (!m->state_unreadable[0])
		return;
	int r = read_state(m, &from, &ignored, why, sizeof(why));
	if (r == -EBADMSG) {
		strscpy(m->state_unreadable, sizeof(m->state_unreadable), why);
		return;
	}
	m->state_unreadable[0] = '\0';
	if (r == -ENOENT) {
		log_notice("%s/state is gone; going on with the state in memory",
		           m->opt.runtime_dir);
		return;
	}
	size_t lost = state_merge_holds(&m->state, &from);
	log_notice("%s/state can be read again: %zu hold(s) restored%s", m->opt.runtime_dir,
	           from.n_holds - lost, lost ? ", some did not fit in the hold table" : "");
}

static void add_state_error(const Manager *m, Sample *s)
{
	if (m->state_unreadable[0])
		sample_add_error(s, "state", "%s/state: %s (holds in it unknown: fix or remove it)",
		                 m->opt.runtime_dir, m->state_unreadable);
}

static void notify_status(Manager *m, const Decision *d)
{
	char line[512];
	decision_summary(d, line, sizeof(line));
	(void)sd_notifyf(false, "STATUS=%s%s", m->opt.dry_run ? "[dry-run] " : "", line);
}

/* The Prometheus textfile, for node_exporter: a disk that is full fails it, never the check. */
static void textfile_after_check(Manager *m, const Decision *d, const Sample *s)
{
	const char *path = m->config.textfile_path;
	if (!path)
		return;
	int r = metrics_write_textfile(path, d, s, s->spot.pending);
	if (r < 0) {
		char err[4200];
		snprintf(err, sizeof(err), "%s: %s", path, strerror(-r));
		log_failure_rate_limited(&m->textfile_log, manager_now(m),
		                         "writing the metrics textfile", err);
	} else
		log_success_rate_limited(&m->textfile_log, "writing the metrics textfile");
}

/* The sample's spot facts: the notice the AWS side holds, if any. */
static void sample_add_spot(const Manager *m, Sample *s)
{
	const SpotFacts *n = aws_runtime_spot_notice(m->aws);
	s->spot = n ? *n : (SpotFacts){ .pending = false };
}

/* A check that ran this recently is "now" for CheckNow and for the re-checks before each step
 * of the action: sampling again would average CPU over a few milliseconds, which is mostly the
 * daemon itself, and read as busy (it cancelled power-offs whenever WarnSec= equalled
 * IntervalSec=, as with the defaults). */
#define FRESH_CHECK_USEC USEC_PER_SEC

void manager_decide_now(Manager *m, usec_t inhibitors_asked_since, Sample *ret_sample,
                        Decision *ret)
{
	usec_t now = manager_now(m);
	if (!inhibitors_asked_since && m->have_last && now - m->last_at < FRESH_CHECK_USEC)
		*ret_sample = m->last_sample;
	else if (!inhibitors_asked_since && m->on_demand_at > 0 &&
	         now - m->on_demand_at < FRESH_CHECK_USEC)
		*ret_sample = m->on_demand; /* a CheckNow flood samples once a second at most */
	else {
		inhibitor_watch_need(&m->inhibitors, inhibitors_asked_since);
		sample_take(m, now, false, ret_sample);
		inhibitor_watch_need(&m->inhibitors, 0);
		add_state_error(m, ret_sample);
		m->on_demand = *ret_sample;
		m->on_demand_at = now;
	}
	sample_add_spot(m, ret_sample);
	core_decide(ret_sample, &m->config, &m->state, now, DECIDE_PEEK, &m->state, ret);
}

/* One scheduled check (the check timer's, or a test's with injected inputs). */
void manager_check(Manager *m)
{
	usec_t now = manager_now(m);
	Sample sample;
	Decision d;

	retry_state(m);
	sample_take(m, now, true, &sample);
	sample_add_spot(m, &sample);
	add_state_error(m, &sample);
	manager_note_sessions(m, &sample);
	if (sample.inhibitor.say_absent)
		log_info("inhibitor: %s; the signal is off until logind answers",
		         sample.inhibitor.absent);
	core_decide(&sample, &m->config, &m->state, now, DECIDE_CHECK, &m->state, &d);
	m->last = d;
	m->last_sample = sample;
	m->have_last = true;
	m->last_at = now;
	m->checks++;
	manager_history_record(m, &d);
	log_check("check", &d);
	notify_status(m, &d);
	(void)manager_pending_feed(m, PENDING_EVENT_DECISION, &d);
	manager_save_state(m);
	textfile_after_check(m, &d, &sample);
	aws_runtime_after_check(m->aws, &d);
}

/* A logind that answers quickly is asked by the check itself (one wake-up for both); a slow
 * one ahead of it, so that the check is not late. */
static void ask_inhibitors_for_next_check(Manager *m)
{
	m->check_asked_at = 0;
	if (!inhibitor_watch_quick(&m->inhibitors, manager_now(m)))
		m->check_asked_at = manager_ask_inhibitors_before(m, m->next_check_at);
}

static void scheduled_check(void *userdata)
{
	Manager *m = userdata;
	manager_check(m);
	ask_inhibitors_for_next_check(m);
}

static int on_check_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	Manager *m = userdata;
	usec_t now = manager_now(m);
	/* Re-arm first, on the schedule; a check that came later than a whole interval (a
	 * suspend, a stopped process) starts it anew rather than catching up in a burst. */
	m->next_check_at = usec + m->config.interval;
	if (m->next_check_at <= now)
		m->next_check_at = now + m->config.interval;
	(void)sd_event_source_set_time(s, m->next_check_at);
	(void)sd_event_source_set_enabled(s, SD_EVENT_ON);
	manager_decide_on_inhibitors(m, now, m->check_asked_at, scheduled_check);
	return 0;
}

void manager_decide_on_inhibitors(Manager *m, usec_t now, usec_t asked_ahead,
                                  InhibitorAnswered decide)
{
	/* Asked now (logind quick, or turned slow with nothing asked ahead, or at boot), the
	 * decision waits for the answer as long as it would have been asked ahead: a quick
	 * logind late once (a hiccup) makes it late, not a probe error, which would count as
	 * activity and restart the idle streak. */
	if (inhibitor_watch_quick(&m->inhibitors, now) || !asked_ahead) {
		(void)inhibitor_watch_ask_and_wait(&m->inhibitors, now, manager_inhibitor_lead(m),
		                                   decide, m);
		return;
	}
	inhibitor_watch_need(&m->inhibitors, asked_ahead);
	decide(m);
	inhibitor_watch_need(&m->inhibitors, 0);
}

static void warning_over_decide(void *userdata)
{
	Manager *m = userdata;
	Sample sample;
	Decision d;
	if (m->pending != PENDING_WARNING)
		return; /* cancelled while logind was asked */
	manager_decide_now(m, inhibitor_watch_waited_for(&m->inhibitors), &sample, &d);
	log_check("recheck", &d);
	notify_status(m, &d);
	m->warn_until = 0;
	(void)manager_pending_feed(m, PENDING_EVENT_WARNING_OVER, &d);
	manager_save_state(m);
}

void manager_warning_over(Manager *m)
{
	/* A user who sees the warning may take a lock in its last second: asked at its end
	 * while logind answers quickly, else ahead when it started. */
	manager_decide_on_inhibitors(m, manager_now(m), m->warn_asked_at, warning_over_decide);
}

static int on_warn_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	manager_warning_over(userdata);
	return 0;
}

void manager_check_now(Manager *m, Sample *ret_sample, Decision *ret)
{
	manager_decide_now(m, 0, ret_sample, ret);
	if (manager_pending_feed(m, PENDING_EVENT_RECHECK, ret) == PENDING_STEP_CANCEL)
		manager_save_state(m);
}

void manager_holds_changed(Manager *m)
{
	Sample sample;
	Decision d;
	if (!pending_needs_decision(m->pending, PENDING_EVENT_RECHECK))
		return; /* nothing to stop: no sample taken */
	manager_check_now(m, &sample, &d);
	log_check("recheck", &d);
}

static int diag_gone(ConfigDiag *d, const char *path)
{
	char msg[4200];
	snprintf(msg, sizeof(msg),
	         "%s: No such file or directory; it was there when the configuration in force "
	         "was read (restore it, or restart trnidled to run without it)",
	         path);
	return strv_push(&d->errors, msg);
}

/* The next check stays due at the last one + the interval (the new one, after a change):
 * re-arming from the time of the reload let a reload every second put the checks off for
 * ever. */
static void reschedule_after_reload(Manager *m, usec_t old_interval)
{
	usec_t last = m->next_check_at - old_interval, now = manager_now(m);
	m->next_check_at = MAX(last + m->config.interval, now);
	(void)sd_event_source_set_time(m->check_timer, m->next_check_at);
	ask_inhibitors_for_next_check(m);
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
	/* A main file renamed away by mistake must not bring back the built-in defaults
	 * (Action=none would become poweroff); removing it on purpose takes a restart. */
	if (r == 0 && m->config.main_file_found && !c.main_file_found) {
		config_free(&c);
		(void)diag_gone(&diag, m->opt.config_path);
		r = 1;
	}
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
	usec_t old_interval = m->config.interval;
	config_free(&m->config);
	m->config = c;
	if (m->config.interval != old_interval)
		reschedule_after_reload(m, old_interval);
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

/* Locks the runtime directory itself: a lock file could be deleted from under the lock, and
 * then a second daemon started on the same directory and the two overwrote each other's
 * state. The directory cannot go while it holds our socket and state. */
static int take_lock(Manager *m)
{
	m->lock_fd = open(m->opt.runtime_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m->lock_fd < 0) {
		int e = errno;
		log_error("cannot open runtime directory %s: %s", m->opt.runtime_dir, strerror(e));
		return -e;
	}
	/* flock() needs only an open descriptor: whoever may open (read) the directory may lock
	 * it and keep the daemon from starting. Mode 0711 still lets everyone reach the socket. */
	struct stat st;
	if (fstat(m->lock_fd, &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)))
		log_warning("runtime directory %s is readable by other users (mode %04o): any of "
		            "them could lock it and keep trnidled from starting; make it 0711",
		            m->opt.runtime_dir, (unsigned)(st.st_mode & 07777));
	if (flock(m->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		if (e == EWOULDBLOCK)
			log_error("another trnidled is already running with runtime directory %s "
			          "(it holds a lock on it); not starting a second one",
			          m->opt.runtime_dir);
		else
			log_error("cannot lock %s: %s", m->opt.runtime_dir, strerror(e));
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
	m->next_check_at = manager_now(m) + m->config.interval;
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
	if (!m->opt.state_dir) /* a caller that names only one directory keeps all in it */
		m->opt.state_dir = m->opt.runtime_dir;
	m->lock_fd = -1;
	m->config = *config;
	*config = (Config){ 0 };
	core_state_init(&m->state);

	if (mkdir(opt->runtime_dir, 0711) < 0 && errno != EEXIST) {
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
	if ((r = manager_history_start(m)) < 0)
		goto fail;

	ProbeEnv env = { .proc_root = "/proc",
		         .dev_root = opt->dev_root,
		         .cloud_init_dir = opt->cloud_init_dir,
		         .package_root = opt->package_root };
	sampler_init(&m->sampler, &env);
	if (!opt->inputs.sample)
		sampler_prime(&m->sampler, &m->config, manager_now(m));

	if ((r = setup_event_loop(m)) < 0) {
		log_error("cannot set up the event loop: %s", strerror(-r));
		goto fail;
	}
	m->bus.event = m->event;
	if ((r = inhibitor_watch_init(&m->inhibitors, m->event, &m->bus)) < 0) {
		log_error("cannot set up the event loop: %s", strerror(-r));
		goto fail;
	}
	m->sampler.env.inhibitors = &m->inhibitors;
	ask_inhibitors_for_next_check(m);
	if ((r = listen_control(m)) < 0)
		goto fail;
	AwsCallbacks cb = { .spot_notice = manager_on_spot_notice, .userdata = m };
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
	action_cancel(m->action);
	aws_runtime_free(m->aws);
	inhibitor_watch_done(&m->inhibitors);
	system_bus_done(&m->bus);
	pre_action_free(m->pre_action);
	sd_event_source_disable_unref(m->check_timer);
	sd_event_source_disable_unref(m->warn_timer);
	sd_event_unref(m->event);
	if (m->lock_fd >= 0)
		close(m->lock_fd);
	config_free(&m->config);
	sampler_done(&m->sampler);
	free(m->history);
	free(m->state_saved);
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
	manager_history_stop(m, "trnidled stopped");
	return r;
}
