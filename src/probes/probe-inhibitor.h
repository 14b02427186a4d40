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

/* The daemon's way: ListInhibitors sent asynchronously on its bus connection ahead of the
 * checks that read it, and the last answer kept. */
typedef struct InhibitorWatch {
	SystemBus *bus;
	sd_event_source *timer;
	usec_t ask_at[4];  /* CLOCK_BOOTTIME; USEC_INFINITY: free */
	sd_bus_slot *slot; /* the call under way */
	usec_t asked;      /* when it was sent */
	/* The last answer: a reply, or r < 0 with error (unset when there was no bus). */
	bool answered;
	bool connected;
	usec_t answered_at; /* logind read its locks about then */
	sd_bus_message *reply;
	int r;
	sd_bus_error error;
} InhibitorWatch;

/* Asks at once for the first check. */
int inhibitor_watch_init(InhibitorWatch *w, sd_event *e, SystemBus *bus);
void inhibitor_watch_done(InhibitorWatch *w);
/* Sends ListInhibitors now, unless a call is under way. */
void inhibitor_watch_ask(InhibitorWatch *w);
/* ... at when (CLOCK_BOOTTIME): a little before a check or a re-check that reads it. */
void inhibitor_watch_ask_at(InhibitorWatch *w, usec_t when);
/* inhibitor_probe() on the last answer. An answer that came more than max_age before now
 * (logind stuck or gone), or none yet, is an error (the check counts it as activity, as a
 * timeout always did). An answer more than a second old is renewed for the next look. */
int inhibitor_watch_probe(InhibitorWatch *w, usec_t now, usec_t max_age, bool *said_absent,
                          InhibitorFacts *ret, char *err, size_t errlen);
