/* Actions: what happens when the machine is idle. One small interface; dry-run is passed all
 * the way down, and each action stops short of its irreversible step and says what it would do. */
#pragma once

#include <stdbool.h>

#include "config.h"

struct Imds;

/* Which instance stop-instance stops, and where it gets the role's keys. */
typedef struct Ec2Target {
	struct Imds *imds;
	const char *instance_id; /* empty when not on EC2 */
	const char *region;
} Ec2Target;

typedef struct ActionRequest {
	bool dry_run;
	const Config *config;
	const char *why;      /* the decision's summary, for messages */
	const Ec2Target *ec2; /* stop-instance only */
} ActionRequest;

typedef struct ActionResult {
	char path[64];      /* how it was done: "logind", "systemd", "ec2", "none" */
	char message[1024]; /* a sentence for the journal, including every step tried */
} ActionResult;

typedef struct ActionOps {
	const char *name;
	/* Returns 0 when done (or, in dry-run, when it would be done), < 0 on failure. Always
	 * fills ret->message. */
	int (*run)(const ActionRequest *req, ActionResult *ret);
} ActionOps;

extern const ActionOps action_poweroff;
extern const ActionOps action_none;
/* One StopInstances attempt (src/aws/ec2-stop.c). -EAGAIN when another attempt may succeed (network,
 * throttling, server errors, credentials not there yet); other < 0 when it cannot. */
extern const ActionOps action_stop_instance;

/* Writes message to every terminal under dev_root/pts. Returns how many were written to. */
int wall_terminals(const char *dev_root, const char *message);
