/* Actions: what happens when the machine is idle. One small interface; dry-run is passed all
 * the way down, and each action stops short of its irreversible step and says what it would do. */
#pragma once

#include <stdbool.h>

#include "config.h"

typedef struct ActionRequest {
	bool dry_run;
	const Config *config;
	const char *why; /* the decision's summary, for messages */
} ActionRequest;

typedef struct ActionResult {
	char path[64];	    /* how it was done: "logind", "systemd", "ec2", "none" */
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

/* Writes message to every terminal under dev_root/pts. Returns how many were written to. */
int wall_terminals(const char *dev_root, const char *message);
