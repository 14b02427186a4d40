/* Actions: what happens when the machine is idle. One asynchronous interface for none,
 * poweroff and stop-instance (src/actions): start(request) returns at once, each outcome is
 * reported as it comes, and done() ends it; cancel() stops it before its next step. Dry-run is
 * passed all the way down, and each action stops short of its irreversible step and says what
 * it would do. */
#pragma once

#include <stdbool.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "config.h"

struct AwsAsync;
struct AwsIdentity;

typedef struct ActionResult {
	char path[64];      /* how it was done: "logind", "systemd", "ec2", "none" */
	char message[1024]; /* a sentence for the journal, including every step tried */
} ActionResult;

typedef struct Action Action;

typedef struct ActionRequest {
	ActionKind kind; /* ACTION_NONE, ACTION_POWEROFF or ACTION_STOP_INSTANCE, never auto */
	bool dry_run;
	const Config *config; /* stays at its address while the action runs */
	const char *why;      /* the decision's summary, for messages */
	sd_event *event;
	sd_bus *bus;                        /* poweroff: the system bus on the loop, or NULL */
	struct AwsAsync *aws;               /* stop-instance */
	const struct AwsIdentity *identity; /* stop-instance: NULL when not on EC2 */

	/* Each outcome, the action's own and its fallback's, for the journal. */
	void (*report)(void *userdata, ActionKind kind, int r, const ActionResult *res);
	/* Asked before each step after the first (a retry, the fallback power-off): whether
	 * the machine is still idle. The owner answers with action_go_on(a), at once or later
	 * from the loop (once it has fresh facts), or ends the action with action_cancel() and
	 * says why. Until then the action does nothing; a may be gone when this returns. */
	void (*ask_go_on)(void *userdata, Action *a, const char *step);
	/* The action is over: done or failed. Never after cancel. */
	void (*done)(void *userdata);
	void *userdata;
} ActionRequest;

/* Starts the action; outcomes and done come later, from the event loop. Returns 0, or < 0
 * when it could not start (nothing is reported then; done is not called). */
int action_start(const ActionRequest *req, Action **ret);
/* Stops the action before its next step and frees it; report and done are not called any
 * more. NULL is fine. */
Action *action_cancel(Action *a);
/* The answer to ask_go_on: take the step asked about. */
void action_go_on(Action *a);

/* Writes message to every terminal under dev_root/pts. Returns how many were written to. */
int wall_terminals(const char *dev_root, const char *message);
