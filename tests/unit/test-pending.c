/* The pending idle action's phases (pending.c): each transition, then every sequence of up to
 * six events under every policy, against the rules that keep a machine in use up. */
#include "check-main.h"

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
} Case;

static const Case cases[] = {
	{ "due, warning first", PENDING_NONE, PENDING_EVENT_DECISION, VERDICT_IDLE, true, true,
	  false, PENDING_STEP_WARN, PENDING_WARNING, false },
	{ "due, no warning, command first", PENDING_NONE, PENDING_EVENT_DECISION, VERDICT_IDLE,
	  true, false, true, PENDING_STEP_RUN_PRE_ACTION, PENDING_PRE_ACTION, true },
	{ "due, nothing before the action", PENDING_NONE, PENDING_EVENT_DECISION, VERDICT_IDLE,
	  true, false, false, PENDING_STEP_ACT, PENDING_ACTING, true },
	{ "idle but not due", PENDING_NONE, PENDING_EVENT_DECISION, VERDICT_IDLE, false, true, true,
	  PENDING_STEP_NOTHING, PENDING_NONE, false },
	{ "active check while nothing pending", PENDING_NONE, PENDING_EVENT_DECISION,
	  VERDICT_ACTIVE, false, true, true, PENDING_STEP_NOTHING, PENDING_NONE, false },
	{ "active during the warning", PENDING_WARNING, PENDING_EVENT_DECISION, VERDICT_ACTIVE,
	  false, true, true, PENDING_STEP_CANCEL, PENDING_NONE, true },
	{ "hold during the warning", PENDING_WARNING, PENDING_EVENT_DECISION, VERDICT_HELD, false,
	  true, true, PENDING_STEP_CANCEL, PENDING_NONE, true },
	{ "idle check during the warning", PENDING_WARNING, PENDING_EVENT_DECISION, VERDICT_IDLE,
	  true, true, true, PENDING_STEP_NOTHING, PENDING_WARNING, false },
	{ "warning over, still idle, command", PENDING_WARNING, PENDING_EVENT_WARNING_OVER,
	  VERDICT_IDLE, false, true, true, PENDING_STEP_RUN_PRE_ACTION, PENDING_PRE_ACTION, true },
	{ "warning over, still idle, act", PENDING_WARNING, PENDING_EVENT_WARNING_OVER,
	  VERDICT_IDLE, false, true, false, PENDING_STEP_ACT, PENDING_ACTING, true },
	{ "warning over, held", PENDING_WARNING, PENDING_EVENT_WARNING_OVER, VERDICT_HELD, false,
	  true, false, PENDING_STEP_CANCEL, PENDING_NONE, true },
	{ "stale warning timer, busy", PENDING_ACTING, PENDING_EVENT_WARNING_OVER, VERDICT_ACTIVE,
	  false, true, false, PENDING_STEP_CANCEL, PENDING_NONE, true },
	{ "stale warning timer", PENDING_NONE, PENDING_EVENT_WARNING_OVER, VERDICT_IDLE, false,
	  true, false, PENDING_STEP_NOTHING, PENDING_NONE, false },
	{ "login while the command ran", PENDING_PRE_ACTION, PENDING_EVENT_DECISION, VERDICT_ACTIVE,
	  false, false, true, PENDING_STEP_CANCEL, PENDING_NONE, true },
	{ "command done, still idle", PENDING_PRE_ACTION, PENDING_EVENT_PRE_ACTION_DONE,
	  VERDICT_IDLE, false, false, true, PENDING_STEP_ACT, PENDING_ACTING, false },
	{ "command done, busy now", PENDING_PRE_ACTION, PENDING_EVENT_PRE_ACTION_DONE,
	  VERDICT_ACTIVE, false, false, true, PENDING_STEP_CANCEL, PENDING_NONE, true },
	{ "command done, in grace after a reboot?", PENDING_PRE_ACTION,
	  PENDING_EVENT_PRE_ACTION_DONE, VERDICT_GRACE, false, false, true, PENDING_STEP_CANCEL,
	  PENDING_NONE, true },
	{ "a spot notice's command ends", PENDING_NONE, PENDING_EVENT_PRE_ACTION_DONE, VERDICT_IDLE,
	  false, false, true, PENDING_STEP_NOTHING, PENDING_NONE, false },
	{ "retry, still idle", PENDING_ACTING, PENDING_EVENT_ACTION_STEP, VERDICT_IDLE, false,
	  false, false, PENDING_STEP_GO_ON, PENDING_ACTING, false },
	{ "retry, a job started", PENDING_ACTING, PENDING_EVENT_ACTION_STEP, VERDICT_ACTIVE, false,
	  false, false, PENDING_STEP_CANCEL, PENDING_NONE, true },
	{ "a step of an action nobody awaits", PENDING_WARNING, PENDING_EVENT_ACTION_STEP,
	  VERDICT_IDLE, false, true, false, PENDING_STEP_REFUSE, PENDING_WARNING, false },
	{ "active while acting", PENDING_ACTING, PENDING_EVENT_DECISION, VERDICT_ACTIVE, false,
	  false, false, PENDING_STEP_CANCEL, PENDING_NONE, true },
	{ "action done", PENDING_ACTING, PENDING_EVENT_ACTION_DONE, VERDICT_IDLE, false, false,
	  false, PENDING_STEP_NOTHING, PENDING_NONE, true },
};

START_TEST(test_transition)
{
	const Case *c = &cases[_i];
	PendingPhase phase = c->phase;
	unsigned streak = 7;
	Decision d = decision(c->verdict, c->due);
	PendingPolicy p = { .warn = c->warn ? USEC_PER_MINUTE : 0, .pre_action = c->pre };
	PendingStep step = pending_advance(&phase, &streak, c->event, &d, &p);
	ck_assert_msg(step == c->step, "%s: step %s, want %s", c->name,
	              pending_step_to_string(step), pending_step_to_string(c->step));
	ck_assert_msg(phase == c->after, "%s: phase %s, want %s", c->name,
	              pending_phase_to_string(phase), pending_phase_to_string(c->after));
	ck_assert_msg(streak == (c->streak_reset ? 0u : 7u), "%s: streak %u", c->name, streak);
}
END_TEST

/* The events a run can see, each with the fresh decision that comes with it. */
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
	{ PENDING_EVENT_WARNING_OVER, VERDICT_IDLE, false },
	{ PENDING_EVENT_WARNING_OVER, VERDICT_HELD, false },
	{ PENDING_EVENT_PRE_ACTION_DONE, VERDICT_IDLE, false },
	{ PENDING_EVENT_PRE_ACTION_DONE, VERDICT_ACTIVE, false },
	{ PENDING_EVENT_ACTION_STEP, VERDICT_IDLE, false },
	{ PENDING_EVENT_ACTION_STEP, VERDICT_HELD, false },
	{ PENDING_EVENT_ACTION_DONE, VERDICT_IDLE, false },
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

static void explore(Run run, int depth, const PendingPolicy *p, int *trail)
{
	if (depth == DEPTH)
		return;
	for (size_t i = 0; i < ELEMENTSOF(inputs); i++) {
		Run r = run;
		Decision d = decision(inputs[i].verdict, inputs[i].due);
		trail[depth] = (int)i;
		PendingStep step = pending_advance(&r.phase, &r.streak, inputs[i].event, &d, p);
		bool starts = step == PENDING_STEP_WARN || step == PENDING_STEP_RUN_PRE_ACTION ||
		              step == PENDING_STEP_ACT || step == PENDING_STEP_GO_ON;
		/* Nothing moves towards the action unless the machine is idle at that moment. */
		EXPECT(!starts || d.verdict == VERDICT_IDLE, "step %s on a %s decision",
		       pending_step_to_string(step), verdict_to_string(d.verdict));
		/* Never two actions at once. */
		EXPECT(!(step == PENDING_STEP_ACT && run.acting), "%s", "a second action started");
		if (step == PENDING_STEP_ACT)
			r.acting = true;
		if (step == PENDING_STEP_CANCEL || step == PENDING_STEP_REFUSE ||
		    inputs[i].event == PENDING_EVENT_ACTION_DONE)
			r.acting = r.acting && step != PENDING_STEP_CANCEL &&
			           inputs[i].event != PENDING_EVENT_ACTION_DONE;
		/* An action goes on only while it is the pending one. */
		EXPECT(step != PENDING_STEP_GO_ON || r.phase == PENDING_ACTING, "%s",
		       "go-on outside the acting phase");
		/* A cancellation leaves nothing pending and a streak that starts anew. */
		if (step == PENDING_STEP_CANCEL)
			EXPECT(r.phase == PENDING_NONE && r.streak == 0, "cancel left phase %s",
			       pending_phase_to_string(r.phase));
		/* Whatever is not idle leaves nothing pending. */
		if (inputs[i].event != PENDING_EVENT_ACTION_DONE && d.verdict != VERDICT_IDLE)
			EXPECT(r.phase == PENDING_NONE, "phase %s after a %s decision",
			       pending_phase_to_string(r.phase), verdict_to_string(d.verdict));
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
	tcase_add_test(tc, test_every_sequence);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	return s;
}
