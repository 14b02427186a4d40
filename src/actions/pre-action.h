/* [Action] PreActionCommand=: an argv (no shell) run before any action, idle stop or spot
 * interruption, with PreActionTimeoutSec=. Runs asynchronously in the event loop (posix_spawn,
 * a child source, a pipe for its output), so the daemon keeps answering meanwhile; its exit
 * status and output go to the journal, and a failure never blocks the action. */
#pragma once

#include <stdbool.h>

#include <systemd/sd-event.h>

#include "macro.h"

typedef struct PreAction PreAction;

/* Called once the command has finished, failed to start, or was killed at the timeout. */
typedef void (*pre_action_done_t)(void *userdata);

/* Starts argv. reason ("idle", "spot-interruption") and action go to the command as
 * TRNIDLED_REASON= and TRNIDLED_ACTION=, dry_run as TRNIDLED_DRY_RUN=0|1. Returns 0 when it
 * runs (done comes later), < 0 after logging why it could not start (done is not called).
 * SIGCHLD must be blocked. */
int pre_action_start(sd_event *e, char *const *argv, usec_t timeout, const char *reason,
                     const char *action, bool dry_run, pre_action_done_t done, void *userdata,
                     PreAction **ret);
/* Forgets a running command (the daemon exits); it is not killed. */
PreAction *pre_action_free(PreAction *p);
