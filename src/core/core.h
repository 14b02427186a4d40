/* The decision core: pure. Sample + configuration + state + boot-time clock in, verdict +
 * reasons + new state out. No I/O, no clock reads, no logging: unit tests drive it directly. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "sample.h"

typedef enum Verdict {
	VERDICT_ACTIVE,
	VERDICT_IDLE,
	VERDICT_GRACE,
	VERDICT_HELD,
	_VERDICT_MAX,
} Verdict;

const char *verdict_to_string(Verdict v);

#define HOLD_REASON_MAX 128

typedef struct Hold {
	uint64_t id;
	uid_t uid;
	char owner[32]; /* user name of uid, resolved by the daemon */
	usec_t until;   /* CLOCK_BOOTTIME */
	char reason[HOLD_REASON_MAX];
} Hold;

/* The core's memory of a connection without a terminal (SSH, SSM port forwarding): when it
 * last carried more than keepalives. */
typedef struct ConnectionUse {
	pid_t pid;
	usec_t started; /* with pid, names the process */
	usec_t used;    /* CLOCK_BOOTTIME of the last check that saw it used, or its start */
	uint64_t bytes; /* what it carried in that check's window (0: only its start is known) */
	usec_t window;
} ConnectionUse;

#define CONNECTIONS_TRACKED_MAX (SSH_CONNECTIONS_MAX + SSM_SESSIONS_MAX)

typedef struct CoreState {
	unsigned idle_checks; /* consecutive idle checks so far */
	Hold holds[HOLDS_MAX];
	size_t n_holds;
	uint64_t next_hold_id;
	ConnectionUse connections[CONNECTIONS_TRACKED_MAX];
	size_t n_connections;
	usec_t connections_since; /* first scheduled check: what came before is unknown */
} CoreState;

#define REASONS_MAX       48
#define NOT_COUNTING_MAX  16
#define REASON_DETAIL_MAX 256

typedef struct Reason {
	Signal signal;
	char detail[REASON_DETAIL_MAX];
} Reason;

typedef struct Decision {
	Verdict verdict;
	Reason reasons[REASONS_MAX];
	size_t n_reasons;
	size_t n_reasons_dropped;
	unsigned idle_checks;        /* the streak after this check */
	unsigned idle_checks_needed; /* IdleChecks= */
	bool action_due;             /* idle_checks reached idle_checks_needed */
	/* Sessions seen that do not count (a connection carrying only keepalives), so that
	 * "why did it stop while I was connected" has an answer. */
	Reason not_counting[NOT_COUNTING_MAX];
	size_t n_not_counting;
} Decision;

typedef enum DecideMode {
	DECIDE_CHECK, /* a scheduled check: grace, holds and the streak apply */
	DECIDE_ONCE,  /* --once: only the sample's facts; ignores grace, holds and the streak */
	DECIDE_PEEK,  /* CheckNow and the re-checks before each step of a pending action: decides
	               * as a scheduled check would (grace, holds, spot), but looks and does not
	               * count: the state stays as it is (streak, connection memory, holds), the
	               * decision reports the streak as it stands and is never due */
} DecideMode;

void core_state_init(CoreState *s);

/* Decides one check. now is CLOCK_BOOTTIME. *ret_state gets the new state (expired holds
 * dropped, streak advanced or reset; for DECIDE_PEEK, state unchanged); it may alias state. */
void core_decide(const Sample *sample, const Config *config, const CoreState *state, usec_t now,
                 DecideMode mode, CoreState *ret_state, Decision *ret);

/* Adds a hold to *s. duration must be > 0 and <= max; returns the new hold's id in *ret_id,
 * -E2BIG when the table is full, -ERANGE for a bad duration. */
int core_hold_add(CoreState *s, uid_t uid, const char *owner, usec_t now, usec_t duration,
                  usec_t max, const char *reason, uint64_t *ret_id);

/* Whether uid may take a hold of duration now, and why not. The policy is the caller's:
 * its longest hold, how many holds it may have (0: no limit) and how much of the hold table
 * it may fill (the table is tiered so that root's hold always fits). Only holds still
 * running at now count. */
typedef struct HoldPolicy {
	usec_t max;
	unsigned per_user;
	size_t table;
} HoldPolicy;

typedef enum HoldAdmission {
	HOLD_ADMITTED,
	HOLD_BAD_DURATION, /* 0, or longer than the policy's max */
	HOLD_TOO_MANY_OWN, /* the caller has per_user holds running */
	HOLD_TABLE_FULL,   /* the running holds fill the caller's part of the table */
} HoldAdmission;

HoldAdmission core_hold_admit(const CoreState *s, uid_t uid, usec_t now, usec_t duration,
                              const HoldPolicy *policy, size_t *ret_own, size_t *ret_all);

/* Whether h still keeps the machine up at now. */
static inline bool hold_running(const Hold *h, usec_t now)
{
	return h->until > now;
}

/* Removes hold id. Returns 0, -ENOENT when there is no such hold, -EPERM when uid is neither
 * its owner nor root. */
int core_hold_release(CoreState *s, uint64_t id, uid_t uid);

/* One line for sd_notify STATUS= and logs: "active: cpu 37% > 10%; idle 0/2". */
void decision_summary(const Decision *d, char *buf, size_t size);

/* Whether a check counts as "in use" for the metrics (everything but idle). */
bool decision_active(const Decision *d);
