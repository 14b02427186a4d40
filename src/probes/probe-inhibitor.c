/* inhibitor: logind's inhibitor locks (systemd-inhibit --what=idle …), asked over the system
 * bus: in the daemon asynchronously on its one bus connection (InhibitorWatch), elsewhere
 * (--once, tests) with a blocking call on a connection of its own. DBUS_SYSTEM_BUS_ADDRESS
 * points sd-bus elsewhere (the tests' private bus). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "probe-inhibitor.h"
#include "timespan.h"

#define LOGIND_DEST    "org.freedesktop.login1"
#define LOGIND_PATH    "/org/freedesktop/login1"
#define LOGIND_MANAGER "org.freedesktop.login1.Manager"
/* An answer older than this is renewed after it is used. */
#define FRESH_USEC USEC_PER_SEC

/* Errors that mean "there is no logind here", not "logind failed". */
static bool logind_absent_error(int r, const sd_bus_error *e)
{
	if (r == -ENOENT || r == -ECONNREFUSED)
		return e == NULL || !sd_bus_error_is_set(e);
	return e && (sd_bus_error_has_name(e, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
	             sd_bus_error_has_name(e, SD_BUS_ERROR_NAME_HAS_NO_OWNER));
}

static void entry_add(InhibitorFacts *f, const char *what, const char *who, const char *why,
                      const char *mode, uint32_t uid, uint32_t pid)
{
	if (f->n >= INHIBITORS_MAX) {
		f->n_dropped++;
		if (streq(mode, "block"))
			f->n_dropped_block++;
		return;
	}
	InhibitorEntry *e = &f->list[f->n++];
	text_sanitize(e->what, sizeof(e->what), what);
	text_sanitize(e->who, sizeof(e->who), who);
	text_sanitize(e->why, sizeof(e->why), why);
	strscpy(e->mode, sizeof(e->mode), mode);
	e->uid = uid;
	e->pid = pid;
}

static int inhibitors_parse(sd_bus_message *reply, InhibitorFacts *f)
{
	int r = sd_bus_message_enter_container(reply, 'a', "(ssssuu)");
	if (r < 0)
		return r;
	for (;;) {
		const char *what, *who, *why, *mode;
		uint32_t uid, pid;
		r = sd_bus_message_read(reply, "(ssssuu)", &what, &who, &why, &mode, &uid, &pid);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		entry_add(f, what, who, why, mode, uid, pid);
	}
	return sd_bus_message_exit_container(reply);
}

static void absent(InhibitorFacts *f, bool *said, const char *why)
{
	f->valid = true;
	f->available = false;
	strscpy(f->absent, sizeof(f->absent), why);
	f->say_absent = !*said;
	*said = true;
}

/* Makes facts (or an error) out of how ListInhibitors went: without connected there was no
 * bus to ask (r says why); else r < 0 when the call failed (e says how), or reply. */
static int answer(bool connected, int r, const sd_bus_error *e, sd_bus_message *reply,
                  bool *said_absent, InhibitorFacts *ret, char *err, size_t errlen)
{
	char why[128];
	*ret = (InhibitorFacts){ 0 };
	if (!connected) {
		if (!logind_absent_error(r, NULL)) {
			snprintf(err, errlen, "connecting to the system bus: %s", strerror(-r));
			return r;
		}
		snprintf(why, sizeof(why), "no system bus (%s)", strerror(-r));
		absent(ret, said_absent, why);
		return 0;
	}
	if (r < 0) {
		bool set = sd_bus_error_is_set(e);
		/* A system bus without logind: the unit runs where logind does not (a
		 * container). The first connect can also fail here, when the socket exists but
		 * nobody listens. */
		if (!logind_absent_error(r, e) && (set || r != -ECONNREFUSED)) {
			snprintf(err, errlen, "logind ListInhibitors: %s",
			         set && e->message ? e->message : strerror(-r));
			return r;
		}
		snprintf(why, sizeof(why), "logind is not on the system bus (%s)",
		         set ? e->name : strerror(-r));
		absent(ret, said_absent, why);
		return 0;
	}
	r = sd_bus_message_rewind(reply, true);
	if (r >= 0)
		r = inhibitors_parse(reply, ret);
	if (r < 0) {
		snprintf(err, errlen, "logind ListInhibitors: unexpected reply: %s", strerror(-r));
		return r;
	}
	ret->valid = true;
	ret->available = true;
	/* logind came back: say so again should it go away. */
	*said_absent = false;
	return 0;
}

int inhibitor_probe(bool *said_absent, InhibitorFacts *ret, char *err, size_t errlen)
{
	sd_bus *bus = NULL;
	sd_bus_message *reply = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r = sd_bus_open_system(&bus);
	bool connected = r >= 0;
	if (r >= 0)
		r = sd_bus_set_method_call_timeout(bus, LOGIND_TIMEOUT_USEC);
	if (r >= 0)
		r = sd_bus_call_method(bus, LOGIND_DEST, LOGIND_PATH, LOGIND_MANAGER,
		                       "ListInhibitors", &e, &reply, "");
	r = answer(connected, r, &e, reply, said_absent, ret, err, errlen);
	sd_bus_error_free(&e);
	sd_bus_message_unref(reply);
	sd_bus_flush_close_unref(bus);
	return r;
}

/* ---- on the daemon's loop ---------------------------------------------------------------- */

static void forget_answer(InhibitorWatch *w)
{
	w->reply = sd_bus_message_unref(w->reply);
	sd_bus_error_free(&w->error);
	w->r = 0;
}

static void ask(InhibitorWatch *w);

/* Arms the wait timer for the earliest deadline of the waiters left. */
static void arm_wait(InhibitorWatch *w)
{
	usec_t next = USEC_INFINITY;
	for (size_t i = 0; i < ELEMENTSOF(w->waiters); i++)
		if (w->waiters[i].done)
			next = MIN(next, w->waiters[i].until);
	(void)sd_event_source_set_time(w->wait_timer, next);
	(void)sd_event_source_set_enabled(w->wait_timer,
	                                  next == USEC_INFINITY ? SD_EVENT_OFF : SD_EVENT_ONESHOT);
}

/* A caller of inhibitor_watch_ask_and_wait(), once. Its slot is free before done runs, which
 * may wait again. */
static void wake_waiter(InhibitorWatch *w, InhibitorWaiter *waiter)
{
	InhibitorWaiter me = *waiter;
	*waiter = (InhibitorWaiter){ 0 };
	arm_wait(w);
	w->need_asked_since = me.asked;
	me.done(me.data);
	w->need_asked_since = 0;
}

/* Every waiter this answer is for: its question was sent at or after the waiter began to wait
 * (not those that began from a done called here). One that began while an older question was
 * under way waits for the next, asked now. */
static void wake_waiters(InhibitorWatch *w)
{
	bool for_me[ELEMENTSOF(w->waiters)];
	for (size_t i = 0; i < ELEMENTSOF(w->waiters); i++)
		for_me[i] = w->waiters[i].done && w->waiters[i].asked <= w->answer_asked;
	for (size_t i = 0; i < ELEMENTSOF(w->waiters); i++)
		if (for_me[i] && w->waiters[i].done)
			wake_waiter(w, &w->waiters[i]);
	for (size_t i = 0; i < ELEMENTSOF(w->waiters); i++)
		if (w->waiters[i].done && w->waiters[i].asked > w->answer_asked) {
			ask(w);
			break;
		}
}

static int on_answer(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	InhibitorWatch *w = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(reply);
	w->slot = sd_bus_slot_unref(w->slot);
	forget_answer(w);
	w->answered = true;
	w->connected = true;
	w->answered_at = now_boottime();
	w->answer_took = w->answered_at - MIN(w->answered_at, w->asked);
	w->answer_asked = w->asked;
	if (e) {
		w->r = -sd_bus_error_get_errno(e);
		if (w->r >= 0)
			w->r = -EIO;
		(void)sd_bus_error_copy(&w->error, e);
	} else
		w->reply = sd_bus_message_ref(reply);
	wake_waiters(w);
	return 0;
}

/* Sends ListInhibitors now, unless a call is under way. */
static void ask(InhibitorWatch *w)
{
	int r;
	if (w->slot)
		return; /* asked again, if a waiter needs it, once it is answered */
	w->asked = now_boottime();
	sd_bus *bus = system_bus_get(w->bus, &r);
	sd_bus_message *m = NULL;
	if (bus)
		r = sd_bus_message_new_method_call(bus, &m, LOGIND_DEST, LOGIND_PATH,
		                                   LOGIND_MANAGER, "ListInhibitors");
	if (m)
		r = sd_bus_call_async(bus, &w->slot, m, on_answer, w, LOGIND_TIMEOUT_USEC);
	sd_bus_message_unref(m);
	if (r >= 0)
		return;
	/* No bus to ask: that is the answer, at once. */
	forget_answer(w);
	w->answered = true;
	w->connected = bus != NULL;
	w->answered_at = w->asked;
	w->answer_took = 0;
	w->answer_asked = w->asked;
	w->r = r;
	wake_waiters(w);
}

static void arm(InhibitorWatch *w)
{
	usec_t next = USEC_INFINITY;
	for (size_t i = 0; i < ELEMENTSOF(w->ask_at); i++)
		next = MIN(next, w->ask_at[i]);
	(void)sd_event_source_set_time(w->timer, next);
	(void)sd_event_source_set_enabled(w->timer,
	                                  next == USEC_INFINITY ? SD_EVENT_OFF : SD_EVENT_ONESHOT);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	InhibitorWatch *w = userdata;
	usec_t now = now_boottime();
	for (size_t i = 0; i < ELEMENTSOF(w->ask_at); i++)
		if (w->ask_at[i] <= now)
			w->ask_at[i] = USEC_INFINITY;
	ask(w);
	arm(w);
	return 0;
}

void inhibitor_watch_ask_at(InhibitorWatch *w, usec_t when)
{
	size_t latest = 0;
	for (size_t i = 0; i < ELEMENTSOF(w->ask_at); i++) {
		if (w->ask_at[i] == when)
			return;
		if (w->ask_at[i] > w->ask_at[latest])
			latest = i;
	}
	/* Full: the latest wish makes room (an earlier answer serves it too, a little older). */
	w->ask_at[latest] = MIN(w->ask_at[latest], when);
	arm(w);
}

void inhibitor_watch_need(InhibitorWatch *w, usec_t asked_since)
{
	w->need_asked_since = asked_since;
}

usec_t inhibitor_watch_waited_for(const InhibitorWatch *w)
{
	return w->need_asked_since;
}

usec_t inhibitor_watch_lead(const InhibitorWatch *w, usec_t base, usec_t limit)
{
	usec_t lead = MAX(base, w->answered ? 2 * w->answer_took : 0);
	return MIN(lead, limit);
}

bool inhibitor_watch_quick(const InhibitorWatch *w, usec_t now)
{
	if (w->slot && now - MIN(now, w->asked) > INHIBITOR_QUICK_USEC)
		return false;
	return !w->answered || w->answer_took <= INHIBITOR_QUICK_USEC;
}

static int on_wait_over(sd_event_source *s, uint64_t usec, void *userdata)
{
	InhibitorWatch *w = userdata;
	usec_t now = now_boottime();
	for (size_t i = 0; i < ELEMENTSOF(w->waiters); i++)
		if (w->waiters[i].done && w->waiters[i].until <= now)
			wake_waiter(w, &w->waiters[i]);
	return 0;
}

usec_t inhibitor_watch_ask_and_wait(InhibitorWatch *w, usec_t now, usec_t wait,
                                    InhibitorAnswered done, void *userdata)
{
	/* Only the answer to a question sent from now on will do: one under way may have been
	 * sent long ago (to a slow logind), and read the locks before one taken since. */
	usec_t asked = now_boottime();
	InhibitorWaiter *waiter = NULL;
	for (size_t i = 0; i < ELEMENTSOF(w->waiters) && !waiter; i++)
		if (!w->waiters[i].done)
			waiter = &w->waiters[i];
	if (!waiter) {
		/* Not expected (a check and one step of the action wait at most); should it happen, the
		 * caller is told at once, and reads no answer to this question: an error. */
		w->need_asked_since = asked + 1;
		done(userdata);
		w->need_asked_since = 0;
		return asked;
	}
	*waiter = (InhibitorWaiter){
		.done = done, .data = userdata, .asked = asked, .until = now + wait
	};
	arm_wait(w);
	/* Sent now, or after the one under way is answered; no bus: answered, and done called,
	 * before it returns. */
	ask(w);
	return asked;
}

int inhibitor_watch_init(InhibitorWatch *w, sd_event *e, SystemBus *bus)
{
	*w = (InhibitorWatch){ .bus = bus, .error = SD_BUS_ERROR_NULL };
	for (size_t i = 0; i < ELEMENTSOF(w->ask_at); i++)
		w->ask_at[i] = USEC_INFINITY;
	int r = sd_event_add_time(e, &w->timer, CLOCK_BOOTTIME, USEC_INFINITY, 0, on_timer, w);
	if (r < 0)
		return r;
	(void)sd_event_source_set_enabled(w->timer, SD_EVENT_OFF);
	/* Its accuracy: the check it ends waits on it. */
	r = sd_event_add_time(e, &w->wait_timer, CLOCK_BOOTTIME, USEC_INFINITY, USEC_PER_MSEC,
	                      on_wait_over, w);
	if (r < 0)
		return r;
	(void)sd_event_source_set_enabled(w->wait_timer, SD_EVENT_OFF);
	ask(w); /* for the first check */
	return 0;
}

void inhibitor_watch_done(InhibitorWatch *w)
{
	w->timer = sd_event_source_disable_unref(w->timer);
	w->wait_timer = sd_event_source_disable_unref(w->wait_timer);
	memset(w->waiters, 0, sizeof(w->waiters));
	w->slot = sd_bus_slot_unref(w->slot);
	forget_answer(w);
}

int inhibitor_watch_probe(InhibitorWatch *w, usec_t now, usec_t max_age, bool *said_absent,
                          InhibitorFacts *ret, char *err, size_t errlen)
{
	char age[32];
	*ret = (InhibitorFacts){ 0 };
	if (!w->answered) {
		snprintf(err, errlen, "logind ListInhibitors: no answer yet");
		return -ETIMEDOUT;
	}
	if (w->need_asked_since > 0 && w->answer_asked < w->need_asked_since) {
		snprintf(err, errlen,
		         "logind ListInhibitors: no answer yet to a question asked for this check "
		         "(the last answer is to one asked %s before it)",
		         timespan_format(age, sizeof(age), now - MIN(now, w->answer_asked)));
		return -ETIMEDOUT;
	}
	usec_t old = now > w->answered_at ? now - w->answered_at : 0;
	/* A scheduled check finds an answer asked just before it; any other look asks anew
	 * for the next one. */
	if (old > FRESH_USEC)
		ask(w);
	if (old > max_age) {
		snprintf(err, errlen, "logind ListInhibitors: no answer for %s",
		         timespan_format(age, sizeof(age), old));
		return -ETIMEDOUT;
	}
	return answer(w->connected, w->r, &w->error, w->reply, said_absent, ret, err, errlen);
}
