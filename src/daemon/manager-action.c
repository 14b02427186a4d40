/* The manager's side of the idle action: it carries out each step the pending action
 * (src/core/pending.c) returns: the terminal warning and its timer, PreActionCommand=, the
 * action itself through the action interface (include/action.h), and the cancellation with
 * its record and message, deciding again on a fresh sample before each later step. */
#include <errno.h>
#include <stdio.h>

#include "action.h"
#include "check-log.h"
#include "log.h"
#include "manager.h"
#include "timespan.h"

ActionKind manager_armed_kind(const Manager *m)
{
	if (m->config.action == ACTION_AUTO)
		return aws_resolve_auto(aws_runtime_is_spot(m->aws));
	return m->config.action;
}

const char *manager_armed_action(const Manager *m)
{
	return action_kind_to_string(manager_armed_kind(m));
}

static void log_action_result(Manager *m, ActionKind kind, int r, const ActionResult *res)
{
	const char *name = action_kind_to_string(kind);
	char f_action[64], f_path[96], f_dry[32];
	snprintf(f_action, sizeof(f_action), "TRNIDLED_ACTION=%s", name);
	snprintf(f_path, sizeof(f_path), "TRNIDLED_ACTION_PATH=%s", res->path[0] ? res->path : "-");
	snprintf(f_dry, sizeof(f_dry), "TRNIDLED_DRY_RUN=%d", m->opt.dry_run ? 1 : 0);
	const char *fields[] = { f_action, f_path, f_dry, NULL };
	if (r >= 0)
		log_event(LOG_NOTICE, MESSAGE_ID_ACTION_TAKEN, fields, "action %s%s: %s", name,
		          m->opt.dry_run ? " (dry-run)" : "", res->message);
	else
		log_event(LOG_ERR, MESSAGE_ID_ACTION_FAILED, fields, "action %s failed: %s", name,
		          res->message);
}

static const char *const pending_phrases[_PENDING_PHASE_MAX] = {
	[PENDING_NONE] = "",
	[PENDING_WARNING] = ", warning running",
	[PENDING_PRE_ACTION] = ", PreActionCommand= running before it",
	[PENDING_ACTING] = ", action under way",
};

const char *manager_pending_phrase(const Manager *m)
{
	return pending_phrases[m->pending];
}

/* How the terminal warnings name the armed action: a noun, or what the machine will do. */
static const char *action_phrase(const Manager *m, bool noun)
{
	switch (manager_armed_kind(m)) {
	case ACTION_NONE:
		return noun ? "idle action" : "reach its idle action";
	case ACTION_STOP_INSTANCE:
		return noun ? "instance stop" : "be stopped (EC2 StopInstances)";
	default:
		return noun ? "power-off" : "power off";
	}
}

static const char *const phase_while[_PENDING_PHASE_MAX] = {
	[PENDING_NONE] = "before it started",
	[PENDING_WARNING] = "during the warning",
	[PENDING_PRE_ACTION] = "while PreActionCommand= ran",
	[PENDING_ACTING] = "before its next step",
};

static void cancel_pending(Manager *m, PendingPhase was, const Decision *d)
{
	char why[512], f_phase[64];
	decision_summary(d, why, sizeof(why));
	sd_event_source_set_enabled(m->warn_timer, SD_EVENT_OFF);
	m->warn_until = 0;
	if (was == PENDING_ACTING)
		m->action = action_cancel(m->action);
	snprintf(f_phase, sizeof(f_phase), "TRNIDLED_PENDING_PHASE=%s",
	         pending_phase_to_string(was));
	const char *fields[] = { "TRNIDLED_ACTION_CANCELLED=1", f_phase, NULL };
	log_event(LOG_NOTICE, MESSAGE_ID_ACTION_CANCELLED, fields,
	          "action %s cancelled %s: the machine is in use again (%s); the idle streak "
	          "starts anew",
	          manager_armed_action(m), phase_while[was], why);
	char msg[1024];
	snprintf(msg, sizeof(msg),
	         "\r\n*** trnidled: the %s is cancelled, the machine is in use (%s). ***\r\n",
	         action_phrase(m, true), why);
	(void)wall_terminals(m->opt.dev_root, msg);
	manager_notify(m, NOTIFY_CANCELLED, d);
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
	m->warn_until = manager_now(m) + m->config.warn;
	m->warn_asked_at = manager_ask_inhibitors_before(m, m->warn_until);
	sd_event_source_set_time(m->warn_timer, m->warn_until);
	sd_event_source_set_enabled(m->warn_timer, SD_EVENT_ONESHOT);
	manager_notify(m, NOTIFY_WARNING, d);
}

static void pre_action_ended_decide(void *userdata)
{
	Manager *m = userdata;
	Sample sample;
	Decision d;
	if (!pending_needs_decision(m->pending, m->pre_action_event))
		return; /* cancelled while logind was asked */
	manager_decide_now(m, inhibitor_watch_waited_for(&m->inhibitors), &sample, &d);
	log_check("recheck", &d);
	(void)manager_pending_feed(m, m->pre_action_event, &d);
	manager_save_state(m);
}

/* The command ended: what waits for it (pending.c knows) goes on after a fresh decision. The
 * command may have run for up to an hour, and logind's last answer may be from a check a
 * minute ago: the decision waits for its answer to a question asked now (a lock taken since
 * must count), as long as a check would have asked ahead. */
static void pre_action_ended(Manager *m, PendingEvent event)
{
	m->pre_action = pre_action_free(m->pre_action);
	if (!pending_needs_decision(m->pending, event))
		return;
	m->pre_action_event = event;
	(void)inhibitor_watch_ask_and_wait(&m->inhibitors, manager_now(m),
	                                   manager_inhibitor_lead(m), pre_action_ended_decide, m);
}

static void on_pre_action_done(void *userdata)
{
	pre_action_ended(userdata, PENDING_EVENT_PRE_ACTION_DONE);
}

static void on_spot_pre_action_done(void *userdata)
{
	pre_action_ended(userdata, PENDING_EVENT_SPOT_PRE_ACTION_DONE);
}

/* Whether the action waits for PreActionCommand= (its end feeds the pending action) or goes
 * ahead at once (the command could not start). */
typedef enum PreActionStart {
	PRE_ACTION_RUNNING,
	PRE_ACTION_NOT_STARTED,
} PreActionStart;

/* The command's end is told apart by its reason: only the idle one lets the action go on. */
static PreActionStart start_pre_action(Manager *m, const char *reason, pre_action_done_t done)
{
	if (m->pre_action) {
		log_info("pre-action command still running; not starting it again for %s%s", reason,
		         streq(reason, "idle") ? "; the action waits for it to end" : "");
		return PRE_ACTION_RUNNING;
	}
	if (pre_action_start(m->event, m->config.pre_action_command, m->config.pre_action_timeout,
	                     reason, manager_armed_action(m), m->opt.dry_run, done, m,
	                     &m->pre_action) < 0)
		return PRE_ACTION_NOT_STARTED;
	return PRE_ACTION_RUNNING;
}

static void on_action_report(void *userdata, ActionKind kind, int r, const ActionResult *res)
{
	log_action_result(userdata, kind, r, res);
}

/* Before each later step of the action (a retry, the fallback), time has passed since the
 * decision that started it: decide again on a fresh sample, whose logind answer is to a
 * question asked now. The answer read from the last check could miss a lock taken since
 * (the last check may be a minute old), and the step would power off under it. */
static void on_step_answered(void *userdata)
{
	Manager *m = userdata;
	Sample sample;
	Decision d;
	if (!m->action || m->step_serial != m->action_serial)
		return; /* the action was cancelled meanwhile */
	/* (called from inside inhibitor_watch_ask_and_wait() where there is no bus) */
	manager_decide_now(m, inhibitor_watch_waited_for(&m->inhibitors), &sample, &d);
	log_check("recheck", &d);
	if (manager_pending_feed(m, PENDING_EVENT_ACTION_STEP, &d) == PENDING_STEP_GO_ON)
		return action_go_on(m->action);
	m->action = action_cancel(m->action);
	log_notice("%s not taken: the action is no longer pending", m->step);
}

static void on_action_ask_go_on(void *userdata, Action *a, const char *step)
{
	Manager *m = userdata;
	m->step_serial = m->action_serial;
	strscpy(m->step, sizeof(m->step), step);
	(void)inhibitor_watch_ask_and_wait(&m->inhibitors, manager_now(m),
	                                   manager_inhibitor_lead(m), on_step_answered, m);
}

static void on_action_done(void *userdata)
{
	Manager *m = userdata;
	m->action = action_cancel(m->action);
	(void)manager_pending_feed(m, PENDING_EVENT_ACTION_DONE, NULL);
}

static void start_action(Manager *m)
{
	int r = 0;
	ActionRequest req = { .kind = manager_armed_kind(m),
		              .dry_run = m->opt.dry_run,
		              .config = &m->config,
		              .why = m->action_why,
		              .event = m->event,
		              .bus = system_bus_get(&m->bus, &r),
		              .aws = aws_runtime_client(m->aws),
		              .identity = aws_runtime_identity(m->aws),
		              .report = on_action_report,
		              .ask_go_on = on_action_ask_go_on,
		              .done = on_action_done,
		              .userdata = m };
	m->action = action_cancel(m->action);
	m->action_serial++;
	r = action_start(&req, &m->action);
	if (r < 0) {
		ActionResult res = { .path = "none" };
		snprintf(res.message, sizeof(res.message), "cannot start: %s", strerror(-r));
		log_action_result(m, req.kind, r, &res);
		(void)manager_pending_feed(m, PENDING_EVENT_ACTION_DONE, NULL);
	}
}

PendingStep manager_pending_feed(Manager *m, PendingEvent event, const Decision *d)
{
	PendingPhase was = m->pending;
	PendingPolicy policy = { .warn = m->config.warn,
		                 .pre_action = m->config.pre_action_command != NULL };
	PendingStep step = pending_advance(&m->pending, &m->state.idle_checks, event, d, &policy);

	switch (step) {
	case PENDING_STEP_WARN:
		start_warning(m, d);
		break;
	case PENDING_STEP_RUN_PRE_ACTION:
		decision_summary(d, m->action_why, sizeof(m->action_why));
		if (start_pre_action(m, "idle", on_pre_action_done) == PRE_ACTION_NOT_STARTED)
			return manager_pending_feed(m, PENDING_EVENT_PRE_ACTION_DONE, d);
		break;
	case PENDING_STEP_CANCEL_RUN_SPOT_PRE_ACTION:
	case PENDING_STEP_RUN_SPOT_PRE_ACTION:
		if (step == PENDING_STEP_CANCEL_RUN_SPOT_PRE_ACTION)
			cancel_pending(m, was, d);
		(void)start_pre_action(m, "spot-interruption", on_spot_pre_action_done);
		break;
	case PENDING_STEP_ACT:
		if (was != PENDING_PRE_ACTION)
			decision_summary(d, m->action_why, sizeof(m->action_why));
		sd_event_source_set_enabled(m->warn_timer, SD_EVENT_OFF);
		m->warn_until = 0;
		if (d)
			manager_notify(m, NOTIFY_STOPPING, d);
		start_action(m);
		break;
	case PENDING_STEP_CANCEL:
		cancel_pending(m, was, d);
		break;
	case PENDING_STEP_REFUSE:
		m->action = action_cancel(m->action);
		break;
	default:
		break;
	}
	return step;
}

void manager_on_spot_notice(void *userdata, const SpotFacts *n)
{
	Manager *m = userdata;
	Sample sample;
	Decision d;
	bool decide = pending_needs_decision(m->pending, PENDING_EVENT_SPOT_NOTICE);
	if (decide) {
		manager_decide_now(m, 0, &sample, &d); /* active: the notice is in the sample now */
		log_check("recheck", &d);
	}
	(void)manager_pending_feed(m, PENDING_EVENT_SPOT_NOTICE, decide ? &d : NULL);
}
