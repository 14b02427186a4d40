/* logind inhibitor locks. */
#pragma once

#include <stdbool.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "sample.h"
#include "system-bus.h"

/* A logind that does not answer ListInhibitors in this time is an error for the check. */
#define LOGIND_TIMEOUT_USEC (5 * USEC_PER_SEC)

/* Asks logind (org.freedesktop.login1 ListInhibitors) on the system bus. No bus or no logind
 * on it is not an error: the facts say logind is absent, and say_absent is set on the first
 * such check only (*said_absent remembers it across checks). Any other failure returns
 * -errno with err naming it. */
int inhibitor_probe(bool *said_absent, InhibitorFacts *ret, char *err, size_t errlen);

/* A logind that answered the last call within this is asked at the check's own wake-up (one
 * wake-up for both, and the freshest answer); a slower one is asked ahead of the check. */
#define INHIBITOR_QUICK_USEC (25 * USEC_PER_MSEC)

typedef void (*InhibitorAnswered)(void *userdata);

typedef struct InhibitorWaiter {
	InhibitorAnswered done; /* NULL: a free slot */
	void *data;
	usec_t asked; /* the question it waits for was sent then */
	usec_t until; /* its deadline */
} InhibitorWaiter;

/* The daemon's way: ListInhibitors sent asynchronously on its bus connection, at the check's
 * wake-up while logind answers quickly, else ahead of the checks that read it; the last answer
 * kept. */
typedef struct InhibitorWatch {
	SystemBus *bus;
	sd_event_source *timer;
	usec_t ask_at[4];  /* CLOCK_BOOTTIME; USEC_INFINITY: free */
	sd_bus_slot *slot; /* the call under way */
	usec_t asked;      /* when it was sent */
	/* inhibitor_watch_ask_and_wait()'s callers (a check, and the warning's end, the end of
	 * PreActionCommand= or the action's next step: two at most, room for more), and the
	 * timer of their deadlines */
	sd_event_source *wait_timer;
	InhibitorWaiter waiters[4];
	/* The decision under way reads only an answer to a question asked at or after this
	 * (0: any answer younger than max_age will do, as for a look between checks). */
	usec_t need_asked_since;
	/* The last answer: a reply, or r < 0 with error (unset when there was no bus). */
	bool answered;
	bool connected;
	usec_t answered_at;  /* logind read its locks about then */
	usec_t answer_took;  /* from the question to the answer */
	usec_t answer_asked; /* when its question was sent */
	sd_bus_message *reply;
	int r;
	sd_bus_error error;
} InhibitorWatch;

/* Asks at once for the first check. */
int inhibitor_watch_init(InhibitorWatch *w, sd_event *e, SystemBus *bus);
void inhibitor_watch_done(InhibitorWatch *w);
/* Sends ListInhibitors at when (CLOCK_BOOTTIME), unless a call is then under way: a little
 * before a check or a re-check that reads it. */
void inhibitor_watch_ask_at(InhibitorWatch *w, usec_t when);
/* Whether logind answered the last call within INHIBITOR_QUICK_USEC and no call is under way
 * for longer (true before the first answer while the first call is young). A young call does
 * not make a slow logind quick: the probe's own questions are asked at the check's time. */
bool inhibitor_watch_quick(const InhibitorWatch *w, usec_t now);
/* Asks now (or as soon as the call under way is answered: it may have been sent long before)
 * and calls done(userdata) once: when the answer comes,
 * at once when there is no bus to ask, or wait after now at the latest (for a check: as long
 * as logind would have been asked ahead of it, so that a quick logind's hiccup makes the check
 * late rather than an error). Within done the probe reads only the answer to that question
 * (inhibitor_watch_need()): when it is later still, the last answer is from before this check,
 * and a lock taken since must not read as none, so the probe is an error. Returns when that
 * question was sent. Several callers may wait at once (a check, an action's next step). */
usec_t inhibitor_watch_ask_and_wait(InhibitorWatch *w, usec_t now, usec_t wait,
                                    InhibitorAnswered done, void *userdata);
/* The decisions until the next call read only an answer whose question was sent at or after
 * asked_since (CLOCK_BOOTTIME); any other is an error. 0 lifts it. For a decision that can
 * start or go on with an action: an answer from before the question asked for it says nothing
 * of a lock taken since. */
void inhibitor_watch_need(InhibitorWatch *w, usec_t asked_since);
/* Within a done of inhibitor_watch_ask_and_wait(): when the question it waited for was sent
 * (for inhibitor_watch_need() of a decision made there); 0 elsewhere. */
usec_t inhibitor_watch_waited_for(const InhibitorWatch *w);
/* How long before a decision a logind that took answer_took for its last answer is asked:
 * twice that, at least base, at most limit. */
usec_t inhibitor_watch_lead(const InhibitorWatch *w, usec_t base, usec_t limit);
/* inhibitor_probe() on the last answer. An answer that came more than max_age before now
 * (logind stuck or gone), or none yet, is an error (the check counts it as activity, as a
 * timeout always did). An answer more than a second old is renewed for the next look. */
int inhibitor_watch_probe(InhibitorWatch *w, usec_t now, usec_t max_age, bool *said_absent,
                          InhibitorFacts *ret, char *err, size_t errlen);
