/* The daemon: one sd-event loop that samples, decides, logs, acts and answers the socket. */
#pragma once

#include <stdbool.h>

#include <systemd/sd-event.h>

#include "action.h"
#include "aws-runtime.h"
#include "config.h"
#include "core.h"
#include "log.h"
#include "notify.h"
#include "pending.h"
#include "pre-action.h"
#include "probe.h"
#include "system-bus.h"
#include "varlink.h"

/* What the manager reads from the world besides its sockets and files: the boot-time clock and
 * the sample. NULL members are the real ones (now_boottime(), sampler_sample()); a unit test
 * gives its own to drive the manager through checks, warnings and actions without sleeping. */
typedef struct ManagerInputs {
	usec_t (*now)(void *userdata);      /* CLOCK_BOOTTIME */
	usec_t (*realtime)(void *userdata); /* CLOCK_REALTIME: the history's and messages' times */
	/* Fills *ret as sampler_sample() would; commit: a scheduled check (baselines move). */
	void (*sample)(void *userdata, const Config *config, usec_t now, bool commit, Sample *ret);
	void *userdata;
} ManagerInputs;

typedef struct ManagerOptions {
	const char *config_path;
	const char *dropin_dir;
	const char *runtime_dir;
	const char *state_dir; /* the verdict history, kept across reboots; NULL: runtime_dir */
	const char *dev_root;
	const char *cloud_init_dir; /* cloud-init's run directory; NULL: /run/cloud-init */
	const char *package_root;   /* prefix of dpkg's and apt's lock files; NULL: / */
	const char *aws_agent;      /* trnidled-aws's socket; NULL: AWS calls in this process */
	bool dry_run;
	ManagerInputs inputs;
} ManagerOptions;

typedef struct Manager {
	ManagerOptions opt;
	Config config;
	sd_event *event;
	sd_event_source *check_timer;
	sd_event_source *warn_timer; /* armed while a warning runs */
	/* What the end of PreActionCommand= was (the decision on it waits for logind's answer
	 * to a question asked at the end). */
	PendingEvent pre_action_event;
	VarlinkServer *varlink;
	int lock_fd;
	char boot_id[64];

	Sampler sampler;
	CoreState state;
	Decision last; /* last scheduled check */
	Sample last_sample;
	bool have_last;
	usec_t last_at;   /* CLOCK_BOOTTIME of the last check */
	Sample on_demand; /* the last sample taken for CheckNow or a re-check */
	usec_t on_demand_at;
	usec_t next_check_at;
	unsigned checks; /* scheduled checks since start */
	bool state_save_failed;
	char *state_saved; /* what RUNTIME_DIR/state holds, as written last; NULL: not known */
	LogRateLimit textfile_log;
	/* Why RUNTIME_DIR/state is there but cannot be read or understood; "" when it can. It
	 * may hold holds, so the machine stays up (a probe error) until it can be read or is
	 * removed, and it is not overwritten meanwhile. */
	char state_unreadable[160];

	SystemBus bus;             /* the system bus on the loop: logind, systemd */
	InhibitorWatch inhibitors; /* logind's last ListInhibitors answer, for the probe */
	AwsRuntime *aws;           /* EC2: identity, spot notices, metrics, the AWS client */
	Action *action;            /* the action under way (pending is PENDING_ACTING) */
	unsigned action_serial;    /* counts the actions started */
	/* The action's question before its next step, waiting for logind's answer: the serial
	 * of the action that asked, and the step. */
	unsigned step_serial;
	char step[64];
	PreAction *pre_action; /* the PreActionCommand= while it runs */
	PendingPhase pending;  /* where the idle action stands (pending.h) */
	usec_t warn_until;     /* while pending is PENDING_WARNING: when the warning runs out */
	/* When logind was asked ahead for the next check and for the warning's end (0: not). */
	usec_t check_asked_at, warn_asked_at;
	char action_why[512]; /* the decision that started the pending action */

	char last_user[96];      /* the session user seen most recently, for notifications */
	uint64_t last_user_at;   /* CLOCK_REALTIME µs of that check; 0: nobody seen yet */
	struct History *history; /* the verdict history (history.h) */
	bool history_readonly;   /* its file could not be read nor moved aside */
	bool history_save_failed;
} Manager;

/* Sets everything up: lock, state, socket, timers. Takes over *config (also on failure).
 * Returns 0 or a negative errno after logging why. */
int manager_new(const ManagerOptions *opt, Config *config, Manager **ret);
Manager *manager_free(Manager *m);
int manager_run(Manager *m);

/* The resolved action for the current configuration (never auto), and its name. */
ActionKind manager_armed_kind(const Manager *m);
const char *manager_armed_action(const Manager *m);

/* Re-reads the configuration; on error keeps the old one and returns the error messages in
 * *ret_errors (a strv) when given. */
int manager_reload(Manager *m, char ***ret_errors);

/* CLOCK_BOOTTIME, from the injected clock if there is one. */
usec_t manager_now(const Manager *m);
usec_t manager_realtime(const Manager *m);

/* One scheduled check (the check timer calls it): sample, decide, record, act. */
void manager_check(Manager *m);

/* WarnSec= ran out (the warning timer calls it): decide again, then act or cancel. */
void manager_warning_over(Manager *m);

/* A fresh sample decided as a scheduled check would be, without advancing the streak. A
 * verdict other than idle cancels a pending action. */
void manager_check_now(Manager *m, Sample *ret_sample, Decision *ret);

/* After a hold was taken: a pending action is cancelled at once, not at the next check. */
void manager_holds_changed(Manager *m);

/* ", warning running" and the like for the status text, "" when nothing is pending. */
const char *manager_pending_phrase(const Manager *m);

/* Saves the state when it differs from what the file holds (a check that changes nothing
 * writes nothing); a failure is a warning, never fatal, and the next call tries again. */
void manager_save_state(Manager *m);

/* The verdict history (manager-history.c): loaded at start, recorded after each scheduled
 * check (saved when the verdict changed), "off" when the daemon stops. */
int manager_history_start(Manager *m);
void manager_history_record(Manager *m, const Decision *d);
void manager_history_stop(Manager *m, const char *why);

/* Notifications (manager-notify.c): the last session user seen in a scheduled check's sample,
 * and an event published to [AWS] NotifyTopicArn= (never for Action=none). */
void manager_note_sessions(Manager *m, const Sample *s);
void manager_notify(Manager *m, NotifyEvent event, const Decision *d);
/* Between manager.c and manager-action.c. */
/* A decision as a scheduled check would make it now, holds, grace and spot included; the
 * streak and the baselines stay as they are, so the next scheduled check still averages over
 * its whole interval. With inhibitors_asked_since, a fresh sample whose inhibitor answer is
 * to a question sent at or after it (else a probe error); 0 for a look (check-now). */
void manager_decide_now(Manager *m, usec_t inhibitors_asked_since, Sample *ret_sample,
                        Decision *ret);
/* logind is asked for its inhibitors ahead of a check or re-check at when, by
 * min(IntervalSec=/2, 1 s) or twice its last answer's time, whichever is longer (at most
 * IntervalSec=/2): time enough for a logind under load, short enough that a lock taken since
 * is rare. A scheduled check asks at its own time instead while logind answers quickly.
 * Returns when it is asked (CLOCK_BOOTTIME). */
usec_t manager_ask_inhibitors_before(Manager *m, usec_t when);
/* That lead: how long before a decision logind is asked, or how long a decision that asks at
 * its own time may wait for the answer. */
usec_t manager_inhibitor_lead(const Manager *m);
/* For a decision due now that can start or go on with an action (a check, a warning's end):
 * decide(m) reads only logind's answer to a question asked for it. Asked now while logind
 * answers quickly, or when nothing was asked ahead (asked_ahead 0), and decide runs when the
 * answer comes (as late as the lead); else decide runs now on the question asked ahead at
 * asked_ahead. Inside decide, inhibitor_watch_waited_for() is that question's time. */
void manager_decide_on_inhibitors(Manager *m, usec_t now, usec_t asked_ahead,
                                  InhibitorAnswered decide);
/* Advances the pending action (pending.c decides) and carries out its step. */
PendingStep manager_pending_feed(Manager *m, PendingEvent event, const Decision *d);
/* The AWS runtime found a new spot interruption notice. */
void manager_on_spot_notice(void *userdata, const SpotFacts *n);

/* The Varlink method handler (control.c). */
void control_dispatch(VarlinkCall *call, void *userdata);
/* Root and members of [Control] AdminGroup= (control.c). */
bool control_peer_privileged(const VarlinkPeer *peer, void *userdata);
/* The longest hold uid may take: MaxHoldSec= for root and AdminGroup=, else UserMaxHoldSec=
 * (control.c; userdata is the Manager). */
usec_t control_hold_max(uid_t uid, void *userdata);
