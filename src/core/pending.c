#include "pending.h"

static const char *const phase_names[_PENDING_PHASE_MAX] = {
	[PENDING_NONE] = "none",
	[PENDING_WARNING] = "warning",
	[PENDING_PRE_ACTION] = "pre-action",
	[PENDING_ACTING] = "acting",
};

static const char *const event_names[_PENDING_EVENT_MAX] = {
	[PENDING_EVENT_DECISION] = "decision",
	[PENDING_EVENT_RECHECK] = "recheck",
	[PENDING_EVENT_WARNING_OVER] = "warning-over",
	[PENDING_EVENT_PRE_ACTION_DONE] = "pre-action-done",
	[PENDING_EVENT_ACTION_STEP] = "action-step",
	[PENDING_EVENT_ACTION_DONE] = "action-done",
	[PENDING_EVENT_SPOT_NOTICE] = "spot-notice",
	[PENDING_EVENT_SPOT_PRE_ACTION_DONE] = "spot-pre-action-done",
};

static const char *const step_names[_PENDING_STEP_MAX] = {
	[PENDING_STEP_NOTHING] = "nothing",
	[PENDING_STEP_WARN] = "warn",
	[PENDING_STEP_RUN_PRE_ACTION] = "run-pre-action",
	[PENDING_STEP_ACT] = "act",
	[PENDING_STEP_GO_ON] = "go-on",
	[PENDING_STEP_CANCEL] = "cancel",
	[PENDING_STEP_REFUSE] = "refuse",
	[PENDING_STEP_RUN_SPOT_PRE_ACTION] = "run-spot-pre-action",
	[PENDING_STEP_CANCEL_RUN_SPOT_PRE_ACTION] = "cancel-run-spot-pre-action",
};

const char *pending_phase_to_string(PendingPhase p)
{
	return p >= 0 && p < _PENDING_PHASE_MAX ? phase_names[p] : "?";
}

const char *pending_event_to_string(PendingEvent e)
{
	return e >= 0 && e < _PENDING_EVENT_MAX ? event_names[e] : "?";
}

const char *pending_step_to_string(PendingStep s)
{
	return s >= 0 && s < _PENDING_STEP_MAX ? step_names[s] : "?";
}

static bool still_idle(const Decision *d)
{
	return d && d->verdict == VERDICT_IDLE;
}

static PendingStep go(PendingPhase *phase, PendingPhase to, PendingStep step)
{
	*phase = to;
	return step;
}

/* The warning is over (or there is none): the command first, if there is one. */
static PendingStep start_acting(PendingPhase *phase, unsigned *idle_checks,
                                const PendingPolicy *policy)
{
	*idle_checks = 0;
	if (policy->pre_action)
		return go(phase, PENDING_PRE_ACTION, PENDING_STEP_RUN_PRE_ACTION);
	return go(phase, PENDING_ACTING, PENDING_STEP_ACT);
}

static PendingStep cancel(PendingPhase *phase, unsigned *idle_checks)
{
	*idle_checks = 0;
	return go(phase, PENDING_NONE, PENDING_STEP_CANCEL);
}

static bool command_ended(PendingEvent event)
{
	return event == PENDING_EVENT_PRE_ACTION_DONE ||
	       event == PENDING_EVENT_SPOT_PRE_ACTION_DONE;
}

bool pending_needs_decision(PendingPhase phase, PendingEvent event)
{
	if (event == PENDING_EVENT_ACTION_DONE)
		return false;
	if (command_ended(event))
		return phase == PENDING_PRE_ACTION;
	if (event == PENDING_EVENT_SPOT_NOTICE || event == PENDING_EVENT_RECHECK)
		return phase != PENDING_NONE;
	return true;
}

/* The notice itself is activity, whatever the decision says. */
static PendingStep spot_notice(PendingPhase *phase, unsigned *idle_checks,
                               const PendingPolicy *policy)
{
	if (*phase == PENDING_NONE)
		return policy->pre_action ? PENDING_STEP_RUN_SPOT_PRE_ACTION : PENDING_STEP_NOTHING;
	PendingStep step = cancel(phase, idle_checks);
	return policy->pre_action ? PENDING_STEP_CANCEL_RUN_SPOT_PRE_ACTION : step;
}

PendingStep pending_advance(PendingPhase *phase, unsigned *idle_checks, PendingEvent event,
                            const Decision *d, const PendingPolicy *policy)
{
	if (event == PENDING_EVENT_ACTION_DONE) {
		/* Checks went on counting while it ran: a dry-run or failed action repeats only
		 * after another whole streak, not at the next check. */
		if (*phase == PENDING_ACTING) {
			*phase = PENDING_NONE;
			*idle_checks = 0;
		}
		return PENDING_STEP_NOTHING;
	}
	if (event == PENDING_EVENT_SPOT_NOTICE)
		return spot_notice(phase, idle_checks, policy);
	/* Only a scheduled check's streak starts an action; a look between checks (its
	 * decision counts nothing) can only stop one. */
	if (event == PENDING_EVENT_RECHECK && *phase == PENDING_NONE)
		return PENDING_STEP_NOTHING;
	/* Otherwise a command left from a cancelled round, or one for a spot notice while
	 * nothing waited for it: it carries no decision. */
	if (command_ended(event) && *phase != PENDING_PRE_ACTION)
		return PENDING_STEP_NOTHING;
	/* Whatever the event, a decision that is not idle ends what is pending. */
	if (*phase != PENDING_NONE && !still_idle(d))
		return cancel(phase, idle_checks);

	switch (event) {
	case PENDING_EVENT_DECISION:
		if (*phase != PENDING_NONE || !still_idle(d) || !d->action_due)
			return PENDING_STEP_NOTHING;
		if (policy->warn > 0)
			return go(phase, PENDING_WARNING, PENDING_STEP_WARN);
		return start_acting(phase, idle_checks, policy);
	case PENDING_EVENT_WARNING_OVER:
		/* Otherwise a timer that outlived its warning. */
		if (*phase != PENDING_WARNING)
			return PENDING_STEP_NOTHING;
		return start_acting(phase, idle_checks, policy);
	case PENDING_EVENT_PRE_ACTION_DONE:
		return go(phase, PENDING_ACTING, PENDING_STEP_ACT);
	case PENDING_EVENT_SPOT_PRE_ACTION_DONE:
		/* The idle action came while the notice's command still ran, and waited for it:
		 * that command did not run for the idle action, so it runs now, for it (unless
		 * a reload took PreActionCommand= away meanwhile). */
		if (policy->pre_action)
			return PENDING_STEP_RUN_PRE_ACTION;
		return go(phase, PENDING_ACTING, PENDING_STEP_ACT);
	case PENDING_EVENT_ACTION_STEP:
		return *phase == PENDING_ACTING ? PENDING_STEP_GO_ON : PENDING_STEP_REFUSE;
	default:
		return PENDING_STEP_NOTHING;
	}
}
