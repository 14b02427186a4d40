/* The pending idle action's phases (pending.c): each transition, then every sequence of up to
 * six events under every policy, against the rules that keep a machine in use up. */
#include "check-main.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pending.h"
#include "test-util.h"

static Decision decision(Verdict v, bool due)
{
	return (Decision){
		.verdict = v, .action_due = due, .idle_checks = due ? 2 : 1, .idle_checks_needed = 2
	};
}

typedef struct Case {
	const char *name;
	PendingPhase phase;
	PendingEvent event;
	Verdict verdict;
	bool due;
	bool warn, pre;
	PendingStep step;
	PendingPhase after;
	bool streak_reset;
	bool no_decision; /* pending_needs_decision() says none is needed: d is NULL */
} Case;

static const Case cases[] = {
	{ "due, warning first", PENDING_NONE, PENDING_EVENT_DECISION, VERDICT_IDLE, true, true,
	  false, PENDING_STEP_WARN, PENDING_WARNING, false, false },
	{ "due, no warning, command first", PENDING_NONE, PENDING_EVENT_DECISION, VERDICT_IDLE,
	  true, false, true, PENDING_STEP_RUN_PRE_ACTION, PENDING_PRE_ACTION, true, false },
	{ "due, nothing before the action", PENDING_NONE, PENDING_EVENT_DECISION, VERDICT_IDLE,
	  true, false, false, PENDING_STEP_ACT, PENDING_ACTING, true, false },
	{ "idle but not due", PENDING_NONE, PENDING_EVENT_DECISION, VERDICT_IDLE, false, true, true,
	  PENDING_STEP_NOTHING, PENDING_NONE, false, false },
	{ "active check while nothing pending", PENDING_NONE, PENDING_EVENT_DECISION,
	  VERDICT_ACTIVE, false, true, true, PENDING_STEP_NOTHING, PENDING_NONE, false, false },
	{ "check-now says due, nothing pending", PENDING_NONE, PENDING_EVENT_RECHECK, VERDICT_IDLE,
	  true, false, false, PENDING_STEP_NOTHING, PENDING_NONE, false, true },
	{ "check-now during the warning, still idle", PENDING_WARNING, PENDING_EVENT_RECHECK,
	  VERDICT_IDLE, true, true, false, PENDING_STEP_NOTHING, PENDING_WARNING, false, false },
	{ "a hold during the warning", PENDING_WARNING, PENDING_EVENT_RECHECK, VERDICT_HELD, false,
	  true, false, PENDING_STEP_CANCEL, PENDING_NONE, true, false },
	{ "check-now while acting, busy", PENDING_ACTING, PENDING_EVENT_RECHECK, VERDICT_ACTIVE,
	  false, false, false, PENDING_STEP_CANCEL, PENDING_NONE, true, false },
	{ "active during the warning", PENDING_WARNING, PENDING_EVENT_DECISION, VERDICT_ACTIVE,
	  false, true, true, PENDING_STEP_CANCEL, PENDING_NONE, true, false },
	{ "hold during the warning", PENDING_WARNING, PENDING_EVENT_DECISION, VERDICT_HELD, false,
	  true, true, PENDING_STEP_CANCEL, PENDING_NONE, true, false },
	{ "idle check during the warning", PENDING_WARNING, PENDING_EVENT_DECISION, VERDICT_IDLE,
	  true, true, true, PENDING_STEP_NOTHING, PENDING_WARNING, false, false },
	{ "warning over, still idle, command", PENDING_WARNING, PENDING_EVENT_WARNING_OVER,
	  VERDICT_IDLE, false, true, true, PENDING_STEP_RUN_PRE_ACTION, PENDING_PRE_ACTION, true,
	  false },
	{ "warning over, still idle, act", PENDING_WARNING, PENDING_EVENT_WARNING_OVER,
	  VERDICT_IDLE, false, true, false, PENDING_STEP_ACT, PENDING_ACTING, true, false },
	{ "warning over, held", PENDING_WARNING, PENDING_EVENT_WARNING_OVER, VERDICT_HELD, false,
	  true, false, PENDING_STEP_CANCEL, PENDING_NONE, true, false },
	{ "stale warning timer, busy", PENDING_ACTING, PENDING_EVENT_WARNING_OVER, VERDICT_ACTIVE,
	  false, true, false, PENDING_STEP_CANCEL, PENDING_NONE, true, false },
	{ "stale warning timer", PENDING_NONE, PENDING_EVENT_WARNING_OVER, VERDICT_IDLE, false,
	  true, false, PENDING_STEP_NOTHING, PENDING_NONE, false, false },
	{ "login while the command ran", PENDING_PRE_ACTION, PENDING_EVENT_DECISION, VERDICT_ACTIVE,
	  false, false, true, PENDING_STEP_CANCEL, PENDING_NONE, true, false },
	{ "command done, still idle", PENDING_PRE_ACTION, PENDING_EVENT_PRE_ACTION_DONE,
	  VERDICT_IDLE, false, false, true, PENDING_STEP_ACT, PENDING_ACTING, false, false },
	{ "command done, busy now", PENDING_PRE_ACTION, PENDING_EVENT_PRE_ACTION_DONE,
	  VERDICT_ACTIVE, false, false, true, PENDING_STEP_CANCEL, PENDING_NONE, true, false },
	{ "command done, in grace after a reboot?", PENDING_PRE_ACTION,
	  PENDING_EVENT_PRE_ACTION_DONE, VERDICT_GRACE, false, false, true, PENDING_STEP_CANCEL,
	  PENDING_NONE, true, false },
	{ "a spot notice's command ends", PENDING_NONE, PENDING_EVENT_PRE_ACTION_DONE, VERDICT_IDLE,
	  false, false, true, PENDING_STEP_NOTHING, PENDING_NONE, false, false },
	{ "retry, still idle", PENDING_ACTING, PENDING_EVENT_ACTION_STEP, VERDICT_IDLE, false,
	  false, false, PENDING_STEP_GO_ON, PENDING_ACTING, false, false },
	{ "retry, a job started", PENDING_ACTING, PENDING_EVENT_ACTION_STEP, VERDICT_ACTIVE, false,
	  false, false, PENDING_STEP_CANCEL, PENDING_NONE, true, false },
	{ "a step of an action nobody awaits", PENDING_WARNING, PENDING_EVENT_ACTION_STEP,
	  VERDICT_IDLE, false, true, false, PENDING_STEP_REFUSE, PENDING_WARNING, false, false },
	{ "active while acting", PENDING_ACTING, PENDING_EVENT_DECISION, VERDICT_ACTIVE, false,
	  false, false, PENDING_STEP_CANCEL, PENDING_NONE, true, false },
	{ "action done", PENDING_ACTING, PENDING_EVENT_ACTION_DONE, VERDICT_IDLE, false, false,
	  false, PENDING_STEP_NOTHING, PENDING_NONE, true, false },
	{ "spot notice, nothing pending, command", PENDING_NONE, PENDING_EVENT_SPOT_NOTICE,
	  VERDICT_ACTIVE, false, true, true, PENDING_STEP_RUN_SPOT_PRE_ACTION, PENDING_NONE, false,
	  true },
	{ "spot notice, nothing pending, no command", PENDING_NONE, PENDING_EVENT_SPOT_NOTICE,
	  VERDICT_ACTIVE, false, true, false, PENDING_STEP_NOTHING, PENDING_NONE, false, true },
	{ "spot notice during the warning, command", PENDING_WARNING, PENDING_EVENT_SPOT_NOTICE,
	  VERDICT_ACTIVE, false, true, true, PENDING_STEP_CANCEL_RUN_SPOT_PRE_ACTION, PENDING_NONE,
	  true, false },
	{ "spot notice during the warning, no command", PENDING_WARNING, PENDING_EVENT_SPOT_NOTICE,
	  VERDICT_ACTIVE, false, true, false, PENDING_STEP_CANCEL, PENDING_NONE, true, false },
	{ "spot notice while the idle command ran", PENDING_PRE_ACTION, PENDING_EVENT_SPOT_NOTICE,
	  VERDICT_ACTIVE, false, false, true, PENDING_STEP_CANCEL_RUN_SPOT_PRE_ACTION, PENDING_NONE,
	  true, false },
	{ "spot notice while acting", PENDING_ACTING, PENDING_EVENT_SPOT_NOTICE, VERDICT_ACTIVE,
	  false, false, false, PENDING_STEP_CANCEL, PENDING_NONE, true, false },
	{ "the notice is activity whatever the decision", PENDING_WARNING,
	  PENDING_EVENT_SPOT_NOTICE, VERDICT_IDLE, true, true, true,
	  PENDING_STEP_CANCEL_RUN_SPOT_PRE_ACTION, PENDING_NONE, true, false },
	{ "the notice's command ends, the action waited for it", PENDING_PRE_ACTION,
	  PENDING_EVENT_SPOT_PRE_ACTION_DONE, VERDICT_IDLE, false, false, true,
	  PENDING_STEP_RUN_PRE_ACTION, PENDING_PRE_ACTION, false, false },
	{ "the notice's command ends, the command was reloaded away", PENDING_PRE_ACTION,
	  PENDING_EVENT_SPOT_PRE_ACTION_DONE, VERDICT_IDLE, false, false, false, PENDING_STEP_ACT,
	  PENDING_ACTING, false, false },
	{ "the notice's command ends, busy now", PENDING_PRE_ACTION,
	  PENDING_EVENT_SPOT_PRE_ACTION_DONE, VERDICT_ACTIVE, false, false, true,
	  PENDING_STEP_CANCEL, PENDING_NONE, true, false },
	{ "the notice's command ends, nothing waits", PENDING_NONE,
	  PENDING_EVENT_SPOT_PRE_ACTION_DONE, VERDICT_IDLE, false, false, true,
	  PENDING_STEP_NOTHING, PENDING_NONE, false, true },
	{ "the notice's command ends during the warning", PENDING_WARNING,
	  PENDING_EVENT_SPOT_PRE_ACTION_DONE, VERDICT_IDLE, false, true, true, PENDING_STEP_NOTHING,
	  PENDING_WARNING, false, true },
	{ "an old command ends during the warning", PENDING_WARNING, PENDING_EVENT_PRE_ACTION_DONE,
	  VERDICT_IDLE, false, true, true, PENDING_STEP_NOTHING, PENDING_WARNING, false, true },
	{ "an old command ends while acting", PENDING_ACTING, PENDING_EVENT_PRE_ACTION_DONE,
	  VERDICT_IDLE, false, false, true, PENDING_STEP_NOTHING, PENDING_ACTING, false, true },
	{ "no decision where one is needed counts as activity", PENDING_PRE_ACTION,
	  PENDING_EVENT_PRE_ACTION_DONE, VERDICT_IDLE, false, false, true, PENDING_STEP_CANCEL,
	  PENDING_NONE, true, true },
};

START_TEST(test_transition)
{
	const Case *c = &cases[_i];
	PendingPhase phase = c->phase;
	unsigned streak = 7;
	Decision d = decision(c->verdict, c->due);
	PendingPolicy p = { .warn = c->warn ? USEC_PER_MINUTE : 0, .pre_action = c->pre };
	PendingStep step =
	        pending_advance(&phase, &streak, c->event, c->no_decision ? NULL : &d, &p);
	ck_assert_msg(step == c->step, "%s: step %s, want %s", c->name,
	              pending_step_to_string(step), pending_step_to_string(c->step));
	ck_assert_msg(phase == c->after, "%s: phase %s, want %s", c->name,
	              pending_phase_to_string(phase), pending_phase_to_string(c->after));
	ck_assert_msg(streak == (c->streak_reset ? 0u : 7u), "%s: streak %u", c->name, streak);
}
END_TEST

START_TEST(test_needs_decision)
{
	/* A command's end needs one only when the action waits for it. */
	ck_assert(pending_needs_decision(PENDING_PRE_ACTION, PENDING_EVENT_PRE_ACTION_DONE));
	ck_assert(pending_needs_decision(PENDING_PRE_ACTION, PENDING_EVENT_SPOT_PRE_ACTION_DONE));
	ck_assert(!pending_needs_decision(PENDING_NONE, PENDING_EVENT_PRE_ACTION_DONE));
	ck_assert(!pending_needs_decision(PENDING_WARNING, PENDING_EVENT_SPOT_PRE_ACTION_DONE));
	/* A notice needs one only to say why it cancels. */
	ck_assert(!pending_needs_decision(PENDING_NONE, PENDING_EVENT_SPOT_NOTICE));
	ck_assert(pending_needs_decision(PENDING_WARNING, PENDING_EVENT_SPOT_NOTICE));
	ck_assert(pending_needs_decision(PENDING_NONE, PENDING_EVENT_DECISION));
	/* A look between checks, only to stop what is pending. */
	ck_assert(!pending_needs_decision(PENDING_NONE, PENDING_EVENT_RECHECK));
	ck_assert(pending_needs_decision(PENDING_WARNING, PENDING_EVENT_RECHECK));
	ck_assert(pending_needs_decision(PENDING_ACTING, PENDING_EVENT_ACTION_STEP));
	ck_assert(!pending_needs_decision(PENDING_ACTING, PENDING_EVENT_ACTION_DONE));
}
END_TEST

/* The events a run can see, each with the fresh decision that comes with it (none where
 * pending_needs_decision() says none is needed, as the manager does). */
typedef struct Input {
	PendingEvent event;
	Verdict verdict;
	bool due;
} Input;

static const Input inputs[] = {
	{ PENDING_EVENT_DECISION, VERDICT_IDLE, true },
	{ PENDING_EVENT_DECISION, VERDICT_IDLE, false },
	{ PENDING_EVENT_DECISION, VERDICT_ACTIVE, false },
	{ PENDING_EVENT_DECISION, VERDICT_HELD, false },
	{ PENDING_EVENT_DECISION, VERDICT_GRACE, false },
	{ PENDING_EVENT_RECHECK, VERDICT_IDLE, true },
	{ PENDING_EVENT_WARNING_OVER, VERDICT_IDLE, false },
	{ PENDING_EVENT_WARNING_OVER, VERDICT_HELD, false },
	{ PENDING_EVENT_PRE_ACTION_DONE, VERDICT_IDLE, false },
	{ PENDING_EVENT_PRE_ACTION_DONE, VERDICT_ACTIVE, false },
	{ PENDING_EVENT_ACTION_STEP, VERDICT_IDLE, false },
	{ PENDING_EVENT_ACTION_STEP, VERDICT_HELD, false },
	{ PENDING_EVENT_ACTION_DONE, VERDICT_IDLE, false },
	{ PENDING_EVENT_SPOT_NOTICE, VERDICT_ACTIVE, false },
	{ PENDING_EVENT_SPOT_PRE_ACTION_DONE, VERDICT_IDLE, false },
	{ PENDING_EVENT_SPOT_PRE_ACTION_DONE, VERDICT_ACTIVE, false },
};

#define DEPTH 6

typedef struct Run {
	PendingPhase phase;
	unsigned streak;
	bool acting; /* an action was started and has not ended, been cancelled or refused */
} Run;

static unsigned long sequences;

/* Check's assertions record every call; millions of them would take minutes under ASan. */
#define EXPECT(cond, ...)                                                                          \
	do {                                                                                       \
		if (!(cond))                                                                       \
			ck_abort_msg(__VA_ARGS__);                                                 \
	} while (0)

static bool is_spot_event(PendingEvent e)
{
	return e == PENDING_EVENT_SPOT_NOTICE || e == PENDING_EVENT_SPOT_PRE_ACTION_DONE;
}

/* The step a spot notice must give in phase under policy p. */
static bool spot_step_ok(PendingStep step, PendingPhase phase, const PendingPolicy *p)
{
	if (phase == PENDING_NONE)
		return step ==
		       (p->pre_action ? PENDING_STEP_RUN_SPOT_PRE_ACTION : PENDING_STEP_NOTHING);
	return step ==
	       (p->pre_action ? PENDING_STEP_CANCEL_RUN_SPOT_PRE_ACTION : PENDING_STEP_CANCEL);
}

static void explore(Run run, int depth, const PendingPolicy *p, int *trail)
{
	if (depth == DEPTH)
		return;
	for (size_t i = 0; i < ELEMENTSOF(inputs); i++) {
		Run r = run;
		PendingEvent event = inputs[i].event;
		Decision d = decision(inputs[i].verdict, inputs[i].due);
		const Decision *given = pending_needs_decision(r.phase, event) ? &d : NULL;
		trail[depth] = (int)i;
		PendingStep step = pending_advance(&r.phase, &r.streak, event, given, p);
		bool starts = step == PENDING_STEP_WARN || step == PENDING_STEP_RUN_PRE_ACTION ||
		              step == PENDING_STEP_ACT || step == PENDING_STEP_GO_ON;
		bool cancels = step == PENDING_STEP_CANCEL ||
		               step == PENDING_STEP_CANCEL_RUN_SPOT_PRE_ACTION;
		/* Nothing moves towards the action unless the machine is idle at that moment. */
		EXPECT(!starts || (given && d.verdict == VERDICT_IDLE), "step %s on a %s decision",
		       pending_step_to_string(step), verdict_to_string(d.verdict));
		/* A spot notice cancels what is pending and asks for its command when there is
		 * one, nothing else. */
		if (event == PENDING_EVENT_SPOT_NOTICE)
			EXPECT(spot_step_ok(step, run.phase, p), "step %s on a spot notice in %s",
			       pending_step_to_string(step), pending_phase_to_string(run.phase));
		/* A look between checks never starts anything. */
		EXPECT(!starts || event != PENDING_EVENT_RECHECK, "step %s on a recheck",
		       pending_step_to_string(step));
		/* The notice's command never leads to the idle action: with a command, the action
		 * starts only when the one run for it has ended. */
		EXPECT(step != PENDING_STEP_ACT || !is_spot_event(event), "step act on %s",
		       pending_event_to_string(event));
		EXPECT(step != PENDING_STEP_ACT || !p->pre_action ||
		               event == PENDING_EVENT_PRE_ACTION_DONE,
		       "step act on %s with a command", pending_event_to_string(event));
		/* Never two actions at once. */
		EXPECT(!(step == PENDING_STEP_ACT && run.acting), "%s", "a second action started");
		if (step == PENDING_STEP_ACT)
			r.acting = true;
		if (cancels || step == PENDING_STEP_REFUSE || event == PENDING_EVENT_ACTION_DONE)
			r.acting = r.acting && !cancels && event != PENDING_EVENT_ACTION_DONE;
		/* An action goes on only while it is the pending one. */
		EXPECT(step != PENDING_STEP_GO_ON || r.phase == PENDING_ACTING, "%s",
		       "go-on outside the acting phase");
		/* A cancellation leaves nothing pending and a streak that starts anew. */
		if (cancels)
			EXPECT(r.phase == PENDING_NONE && r.streak == 0, "cancel left phase %s",
			       pending_phase_to_string(r.phase));
		/* Whatever is not idle, and a notice, leaves nothing pending. */
		if ((given && d.verdict != VERDICT_IDLE) || event == PENDING_EVENT_SPOT_NOTICE)
			EXPECT(r.phase == PENDING_NONE, "phase %s after a %s decision",
			       pending_phase_to_string(r.phase), verdict_to_string(d.verdict));
		/* An event without a decision moves nothing but the action's end. */
		if (!given && event != PENDING_EVENT_SPOT_NOTICE)
			EXPECT(r.phase == run.phase || event == PENDING_EVENT_ACTION_DONE,
			       "phase %s -> %s on %s without a decision",
			       pending_phase_to_string(run.phase), pending_phase_to_string(r.phase),
			       pending_event_to_string(event));
		sequences++;
		explore(r, depth + 1, p, trail);
	}
}

START_TEST(test_every_sequence)
{
	int trail[DEPTH];
	sequences = 0;
	for (int warn = 0; warn < 2; warn++)
		for (int pre = 0; pre < 2; pre++) {
			PendingPolicy p = { .warn = warn ? USEC_PER_MINUTE : 0, .pre_action = pre };
			explore((Run){ .phase = PENDING_NONE, .streak = 2 }, 0, &p, trail);
		}
	unsigned long n = ELEMENTSOF(inputs), want = 0, level = 1;
	for (int k = 0; k < DEPTH; k++)
		want += (level *= n);
	ck_assert_uint_eq(sequences, 4 * want);
}
END_TEST

/* The same rules one level up: the events a daemon sees, each applied to (CoreState, pending
 * phase) through the core (core_decide, core_hold_add/release) and pending_advance() exactly
 * as the manager wires them, by one small pure driver. The world behind the events is a
 * quiet or busy machine, holds and a spot notice; every sequence of up to six events from
 * every start is checked against what must never happen. */
typedef enum WorldEvent {
	EV_IDLE_CHECK,
	EV_ACTIVE_CHECK,
	EV_HOLD,
	EV_RELEASE,
	EV_HOLD_EXPIRY,
	EV_SPOT_NOTICE,
	EV_SPOT_WITHDRAWN,
	EV_WARNING_TIMER,
	EV_PRE_ACTION_DONE,
	EV_ACTION_DONE,
	EV_ACTION_FAILED,
	EV_RELOAD,
	_EV_MAX,
} WorldEvent;

static const char *const event_names[_EV_MAX] = {
	"idle-check",      "active-check", "hold",          "release",
	"hold-expiry",     "spot-notice",  "spot-gone",     "warning-timer",
	"pre-action-done", "action-done",  "action-failed", "reload",
};

#define WORLD_INTERVAL (60 * USEC_PER_SEC)
#define WORLD_GRACE    (100 * USEC_PER_SEC)
#define WORLD_HOLD     (600 * USEC_PER_SEC)

/* Which PreActionCommand= runs, if one does: the manager starts one at a time. */
typedef enum WorldCommand {
	CMD_NONE,
	CMD_IDLE, /* run for the idle action (reason idle) */
	CMD_SPOT, /* run for a spot notice (reason spot-interruption) */
} WorldCommand;

typedef struct World {
	CoreState core;
	PendingPhase phase;
	WorldCommand command;
	usec_t now;
	bool busy, spot;
	bool reloaded; /* which of the two configurations is in force */
	bool acting;   /* an action was started and has not ended or been cancelled */
	/* The holds as the events made them: what the core must still have. */
	uint64_t hold_ids[DEPTH];
	usec_t hold_until[DEPTH];
	size_t n_holds;
} World;

/* Before and after a reload: a warning and a command, or neither and a shorter streak. */
static Config world_configs[2];

static Sample world_sample(const World *w)
{
	Sample s = { .cpu = { .valid = true, .busy_percent = w->busy ? 90 : 1 },
		     .memory = { .valid = true, .total_kib = 100, .available_kib = 90 } };
	s.spot.pending = w->spot;
	return s;
}

static PendingPolicy world_policy(const Config *c)
{
	return (PendingPolicy){ .warn = c->warn, .pre_action = c->pre_action_command != NULL };
}

/* A fresh decision that looks and does not count (CheckNow, a re-check before a step). */
static void world_peek(World *w, const Config *c, Decision *d)
{
	Sample s = world_sample(w);
	core_decide(&s, c, &w->core, w->now, DECIDE_PEEK, &w->core, d);
}

static bool world_hold_running(const World *w)
{
	for (size_t i = 0; i < w->n_holds; i++)
		if (w->hold_until[i] > w->now)
			return true;
	return false;
}

static void world_forget_hold(World *w, size_t i)
{
	memmove(&w->hold_ids[i], &w->hold_ids[i + 1], (w->n_holds - i - 1) * sizeof(uint64_t));
	memmove(&w->hold_until[i], &w->hold_until[i + 1], (w->n_holds - i - 1) * sizeof(usec_t));
	w->n_holds--;
}

/* Feeds event with a fresh decision where pending_needs_decision() asks for one, as the
 * manager does for a spot notice and a command's end. */
static PendingStep world_feed(World *w, const Config *c, PendingEvent event)
{
	PendingPolicy policy = world_policy(c);
	Decision d;
	bool decide = pending_needs_decision(w->phase, event);
	if (decide)
		world_peek(w, c, &d);
	return pending_advance(&w->phase, &w->core.idle_checks, event, decide ? &d : NULL, &policy);
}

/* Applies one event as the manager does; returns the pending step it led to. */
static PendingStep world_apply(World *w, WorldEvent e)
{
	const Config *c = &world_configs[w->reloaded];
	PendingPolicy policy = world_policy(c);
	Decision d;
	Sample s;
	uint64_t id;

	switch (e) {
	case EV_IDLE_CHECK:
	case EV_ACTIVE_CHECK:
		w->busy = e == EV_ACTIVE_CHECK;
		w->now += WORLD_INTERVAL;
		s = world_sample(w);
		core_decide(&s, c, &w->core, w->now, DECIDE_CHECK, &w->core, &d);
		return pending_advance(&w->phase, &w->core.idle_checks, PENDING_EVENT_DECISION, &d,
		                       &policy);
	case EV_HOLD:
		EXPECT(core_hold_add(&w->core, 1000, "alice", w->now, WORLD_HOLD, WORLD_HOLD, "x",
		                     &id) == 0,
		       "%s", "hold refused");
		w->hold_ids[w->n_holds] = id;
		w->hold_until[w->n_holds++] = w->now + WORLD_HOLD;
		return world_feed(w, c, PENDING_EVENT_RECHECK); /* manager_holds_changed() */
	case EV_RELEASE:
		if (w->n_holds > 0) {
			/* One that ran out may be gone already (a check dropped it). */
			int r = core_hold_release(&w->core, w->hold_ids[0], 1000);
			EXPECT(r == 0 || (r == -ENOENT && w->hold_until[0] <= w->now),
			       "release of a running hold refused: %d", r);
			world_forget_hold(w, 0);
		}
		return PENDING_STEP_NOTHING;
	case EV_HOLD_EXPIRY:
		if (w->n_holds > 0)
			w->now = MAX(w->now, w->hold_until[0]);
		while (w->n_holds > 0 && w->hold_until[0] <= w->now)
			world_forget_hold(w, 0);
		return PENDING_STEP_NOTHING;
	case EV_SPOT_NOTICE:
		w->spot = true;
		return world_feed(w, c, PENDING_EVENT_SPOT_NOTICE);
	case EV_SPOT_WITHDRAWN:
		w->spot = false;
		return PENDING_STEP_NOTHING;
	case EV_WARNING_TIMER:
		w->now += USEC_PER_SEC;
		world_peek(w, c, &d);
		return pending_advance(&w->phase, &w->core.idle_checks, PENDING_EVENT_WARNING_OVER,
		                       &d, &policy);
	case EV_PRE_ACTION_DONE: /* the command that runs ends; told apart by what it ran for */
		if (w->command == CMD_NONE)
			return PENDING_STEP_NOTHING;
		bool spot = w->command == CMD_SPOT;
		w->command = CMD_NONE;
		w->now += USEC_PER_SEC;
		return world_feed(w, c,
		                  spot ? PENDING_EVENT_SPOT_PRE_ACTION_DONE
		                       : PENDING_EVENT_PRE_ACTION_DONE);
	case EV_ACTION_DONE:
	case EV_ACTION_FAILED:
		return pending_advance(&w->phase, &w->core.idle_checks, PENDING_EVENT_ACTION_DONE,
		                       NULL, &policy);
	case EV_RELOAD:
		w->reloaded = !w->reloaded;
		return PENDING_STEP_NOTHING;
	default:
		return PENDING_STEP_NOTHING;
	}
}

static char world_trail_text[512];

static const char *world_trail(const int *trail, int n)
{
	world_trail_text[0] = '\0';
	for (int i = 0; i < n; i++)
		strappendf(world_trail_text, sizeof(world_trail_text), "%s%s", i ? ", " : "",
		           event_names[trail[i]]);
	return world_trail_text;
}

static bool step_cancels(PendingStep step)
{
	return step == PENDING_STEP_CANCEL || step == PENDING_STEP_CANCEL_RUN_SPOT_PRE_ACTION;
}

/* Carries out the step's side the manager keeps: the command it starts (unless one runs, as
 * start_pre_action() does), the action it starts or cancels. */
static void world_carry_out(World *w, WorldEvent e, PendingStep step)
{
	if (step == PENDING_STEP_RUN_PRE_ACTION && w->command == CMD_NONE)
		w->command = CMD_IDLE;
	if ((step == PENDING_STEP_RUN_SPOT_PRE_ACTION ||
	     step == PENDING_STEP_CANCEL_RUN_SPOT_PRE_ACTION) &&
	    w->command == CMD_NONE)
		w->command = CMD_SPOT;
	if (step == PENDING_STEP_ACT)
		w->acting = true;
	if (step_cancels(step) || e == EV_ACTION_DONE || e == EV_ACTION_FAILED)
		w->acting = false;
}

static void world_check(const World *before, const World *w, WorldEvent e, PendingStep step,
                        const int *trail, int n)
{
	bool starts = step == PENDING_STEP_WARN || step == PENDING_STEP_RUN_PRE_ACTION ||
	              step == PENDING_STEP_ACT || step == PENDING_STEP_GO_ON;
	PendingPolicy policy = world_policy(&world_configs[w->reloaded]);
	const char *seq = world_trail(trail, n);
	/* Nothing moves towards the action while a hold, activity or a spot notice stands, or
	 * in the boot grace. */
	EXPECT(!starts || (!w->busy && !w->spot && !world_hold_running(w) && w->now >= WORLD_GRACE),
	       "[%s]: step %s while busy %d, spot %d, held %d", seq, pending_step_to_string(step),
	       w->busy, w->spot, world_hold_running(w));
	/* ... nor may anything stay pending then. */
	EXPECT(w->phase == PENDING_NONE || (!w->busy && !w->spot && !world_hold_running(w)),
	       "[%s]: phase %s while busy %d, spot %d, held %d", seq,
	       pending_phase_to_string(w->phase), w->busy, w->spot, world_hold_running(w));
	/* Never two actions at once. */
	EXPECT(!(step == PENDING_STEP_ACT && before->acting), "[%s]: a second action started", seq);
	/* A notice cancels what is pending and asks for its command when there is one. */
	if (e == EV_SPOT_NOTICE)
		EXPECT(spot_step_ok(step, before->phase, &policy),
		       "[%s]: step %s on a notice in %s", seq, pending_step_to_string(step),
		       pending_phase_to_string(before->phase));
	/* The notice's command never leads to the idle action: with a command, the action
	 * starts only at the end of the one run for it. */
	if (step == PENDING_STEP_ACT && policy.pre_action)
		EXPECT(e == EV_PRE_ACTION_DONE && before->command == CMD_IDLE,
		       "[%s]: the action started on %s, command %d ending", seq, event_names[e],
		       before->command);
	/* A cancellation leaves nothing pending and a streak that starts anew. */
	if (step_cancels(step))
		EXPECT(w->phase == PENDING_NONE && w->core.idle_checks == 0,
		       "[%s]: cancel left phase %s, streak %u", seq,
		       pending_phase_to_string(w->phase), w->core.idle_checks);
	/* The streak counts only idle checks, and only outside a pending action. */
	if (e != EV_IDLE_CHECK)
		EXPECT(w->core.idle_checks <= before->core.idle_checks,
		       "[%s]: streak %u -> %u without an idle check", seq, before->core.idle_checks,
		       w->core.idle_checks);
	/* No hold is lost but by its release or its end, and none appears. */
	size_t running = 0;
	for (size_t i = 0; i < w->n_holds; i++) {
		if (w->hold_until[i] <= w->now)
			continue;
		running++;
		bool found = false;
		for (size_t j = 0; j < w->core.n_holds; j++)
			found = found || (w->core.holds[j].id == w->hold_ids[i] &&
			                  w->core.holds[j].until == w->hold_until[i]);
		EXPECT(found, "[%s]: hold #%llu lost", seq, (unsigned long long)w->hold_ids[i]);
	}
	size_t core_running = 0;
	for (size_t j = 0; j < w->core.n_holds; j++)
		core_running += hold_running(&w->core.holds[j], w->now);
	EXPECT(core_running == running, "[%s]: %zu holds in the core, %zu taken", seq, core_running,
	       running);
}

/* States already explored with at least so many events left: the rules above depend on the
 * state only, so a state seen again need not be explored again. The key is the state with
 * times made relative to now (and now itself only while it matters: before the grace ends). */
typedef struct WorldKey {
	unsigned streak;
	uint8_t phase, command, busy, spot, reloaded, acting, n_holds, left;
	usec_t before_grace;
	usec_t hold_left[DEPTH];
} WorldKey;

#define SEEN_SLOTS (1u << 18)
static WorldKey *seen;
static unsigned long world_states;

static bool world_seen(const World *w, int left)
{
	WorldKey k;
	memset(&k, 0, sizeof(k));
	k.streak = w->core.idle_checks;
	k.phase = (uint8_t)w->phase;
	k.command = (uint8_t)w->command;
	k.busy = w->busy;
	k.spot = w->spot;
	k.reloaded = w->reloaded;
	k.acting = w->acting;
	k.n_holds = (uint8_t)w->n_holds;
	k.left = (uint8_t)left;
	k.before_grace = w->now < WORLD_GRACE ? WORLD_GRACE - w->now : 0;
	for (size_t i = 0; i < w->n_holds; i++)
		k.hold_left[i] = w->hold_until[i] > w->now ? w->hold_until[i] - w->now : 0;
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < sizeof(k); i++)
		h = (h ^ ((const uint8_t *)&k)[i]) * 1099511628211ULL;
	for (size_t i = h & (SEEN_SLOTS - 1);; i = (i + 1) & (SEEN_SLOTS - 1)) {
		if (seen[i].left == 0) {
			seen[i] = k;
			world_states++;
			EXPECT(world_states < SEEN_SLOTS / 2, "%s", "seen table too small");
			return false;
		}
		if (memcmp(&seen[i], &k, sizeof(k)) == 0)
			return true;
	}
}

static void world_explore(const World *w, int depth, int *trail)
{
	if (depth == DEPTH || world_seen(w, DEPTH - depth))
		return;
	for (int e = 0; e < _EV_MAX; e++) {
		World next = *w;
		trail[depth] = e;
		PendingStep step = world_apply(&next, (WorldEvent)e);
		world_carry_out(&next, (WorldEvent)e, step);
		world_check(w, &next, (WorldEvent)e, step, trail, depth + 1);
		world_explore(&next, depth + 1, trail);
	}
}

START_TEST(test_every_sequence_through_the_core)
{
	static char *pre[] = { "/bin/true", NULL };
	int trail[DEPTH];
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(config_init_defaults(&world_configs[i]), 0);
		world_configs[i].boot_grace = WORLD_GRACE;
		world_configs[i].interval = WORLD_INTERVAL;
		world_configs[i].cpu_percent = 10;
	}
	world_configs[0].idle_checks = 2;
	world_configs[0].warn = 30 * USEC_PER_SEC;
	world_configs[0].pre_action_command = pre;
	world_configs[1].idle_checks = 1;
	world_configs[1].warn = 0;
	seen = calloc(SEEN_SLOTS, sizeof(*seen));
	ck_assert_ptr_nonnull(seen);
	/* From the start of a boot, and from a streak already due after the grace (a restart
	 * that restored it), under either configuration. */
	for (int start = 0; start < 4; start++) {
		World w = { .phase = PENDING_NONE, .reloaded = start & 1 };
		core_state_init(&w.core);
		if (start & 2) {
			w.now = WORLD_GRACE + WORLD_INTERVAL;
			w.core.idle_checks = 2;
		}
		world_explore(&w, 0, trail);
	}
	ck_assert_uint_gt(world_states, 1000);
	world_configs[0].pre_action_command = NULL; /* static, not the config's to free */
	for (int i = 0; i < 2; i++)
		config_free(&world_configs[i]);
	free(seen);
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(pending_phase_to_string(PENDING_PRE_ACTION), "pre-action");
	ck_assert_str_eq(pending_event_to_string(PENDING_EVENT_ACTION_STEP), "action-step");
	ck_assert_str_eq(pending_step_to_string(PENDING_STEP_CANCEL), "cancel");
	ck_assert_str_eq(pending_phase_to_string((PendingPhase)99), "?");
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("pending");
	TCase *tc = tcase_create("pending");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_transition, 0, (int)ELEMENTSOF(cases));
	tcase_add_test(tc, test_needs_decision);
	tcase_add_test(tc, test_every_sequence);
	tcase_add_test(tc, test_every_sequence_through_the_core);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	return s;
}
