/* The idle action from the moment a streak is due until it is done or cancelled, as explicit
 * phases. Pure: the manager feeds it each event together with a decision it has just made from
 * a fresh sample (holds, boot grace and spot notices included), and carries out the step it
 * returns. So no action starts, and no retry or fallback goes on, on a decision older than the
 * moment it runs: a hold, a login or a job that came while the warning, PreActionCommand= or a
 * stop-instance retry was under way cancels it. */
#pragma once

#include <stdbool.h>

#include "core.h"

typedef enum PendingPhase {
	PENDING_NONE,       /* nothing pending: the idle streak counts */
	PENDING_WARNING,    /* terminals were warned; the action waits out WarnSec= */
	PENDING_PRE_ACTION, /* PreActionCommand= runs; the action waits for it */
	PENDING_ACTING,     /* the action runs (stop-instance retries, the fallback power-off) */
	_PENDING_PHASE_MAX,
} PendingPhase;

typedef enum PendingEvent {
	PENDING_EVENT_DECISION, /* a scheduled check's decision */
	/* A look between checks (check-now, a hold taken): it may stop what is pending, never
	 * start anything. */
	PENDING_EVENT_RECHECK,
	PENDING_EVENT_WARNING_OVER,    /* WarnSec= ran out */
	PENDING_EVENT_PRE_ACTION_DONE, /* the command ended, failed to start or timed out */
	PENDING_EVENT_ACTION_STEP,     /* the action asks to take its next step (retry, fallback) */
	PENDING_EVENT_ACTION_DONE,     /* the action ended, done or failed */
	PENDING_EVENT_SPOT_NOTICE,     /* EC2 announced a spot interruption */
	PENDING_EVENT_SPOT_PRE_ACTION_DONE, /* the command run for a spot notice ended */
	_PENDING_EVENT_MAX,
} PendingEvent;

typedef enum PendingStep {
	PENDING_STEP_NOTHING,
	PENDING_STEP_WARN,           /* write the warning to the terminals, arm WarnSec= */
	PENDING_STEP_RUN_PRE_ACTION, /* start PreActionCommand= */
	PENDING_STEP_ACT,            /* start the action */
	PENDING_STEP_GO_ON,          /* the running action may take its next step */
	PENDING_STEP_CANCEL, /* stop what is pending; say why in the journal and terminals */
	PENDING_STEP_REFUSE, /* an action that is not the pending one must not go on */
	PENDING_STEP_RUN_SPOT_PRE_ACTION,        /* start PreActionCommand= for a spot notice */
	PENDING_STEP_CANCEL_RUN_SPOT_PRE_ACTION, /* PENDING_STEP_CANCEL, then the above */
	_PENDING_STEP_MAX,
} PendingStep;

typedef struct PendingPolicy {
	usec_t warn;     /* WarnSec= */
	bool pre_action; /* PreActionCommand= is set */
} PendingPolicy;

const char *pending_phase_to_string(PendingPhase p);
const char *pending_event_to_string(PendingEvent e);
const char *pending_step_to_string(PendingStep s);

/* Whether event, in phase, needs a decision made from a fresh sample; when not, d may be NULL
 * (nothing waits for a command that ends; a spot notice while nothing is pending cancels
 * nothing, so there is no decision to record). */
bool pending_needs_decision(PendingPhase phase, PendingEvent event);

/* Advances *phase on event. d is the decision made for this event from a fresh sample, or
 * NULL where pending_needs_decision() says none is needed (a NULL decision where one is needed
 * counts as activity). *idle_checks, the streak, starts again when an action starts and when
 * it ends (a dry-run or a failed action repeats only after another whole streak) and when a
 * pending action is cancelled.
 *
 * A spot notice is activity: it cancels what is pending, and asks for PreActionCommand= (with
 * the notice as its reason) when there is one. That command never leads to the idle action:
 * when the idle action came to wait for PreActionCommand= while the notice's command still
 * ran, the command runs again for the idle action once the notice's has ended. */
PendingStep pending_advance(PendingPhase *phase, unsigned *idle_checks, PendingEvent event,
                            const Decision *d, const PendingPolicy *policy);
