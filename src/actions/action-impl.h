/* Inside src/actions: the Action object and what each kind implements. */
#pragma once

#include "action.h"
#include "aws-async.h"

typedef struct ActionOps {
	/* Starts a (its request filled); < 0 when it cannot (nothing reported). */
	int (*start)(Action *a);
	/* Stops whatever is under way; the object is freed after. */
	void (*cancel)(Action *a);
	/* Takes the step it asked the owner about (ask_go_on); NULL: it never asks. */
	void (*go_on)(Action *a);
} ActionOps;

struct Action {
	ActionRequest req;
	char why[512];
	const ActionOps *ops;
	sd_event_source *timer; /* none: the deferred end; stop-instance: the next attempt */
	ActionResult res;
	/* poweroff */
	sd_bus_slot *slot;         /* the bus call under way */
	bool tried_plain_poweroff; /* logind lacked PowerOffWithFlags: PowerOff asked */
	/* stop-instance */
	AwsIdentity target; /* empty when not on EC2 */
	AwsCall *call;      /* the attempt under way */
	Action *fallback;
	bool falling_back; /* the step asked about: the fallback, else a retry */
	unsigned attempts;
	usec_t deadline, backoff;
};

extern const ActionOps action_none_ops;
extern const ActionOps action_poweroff_ops;
extern const ActionOps action_stop_instance_ops;

/* Reports the outcome, then ends the action with done (the last thing it may do: the owner
 * may free it from there). */
void action_finish(Action *a, int r, const ActionResult *res);
