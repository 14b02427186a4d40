/* inhibitor: logind's inhibitor locks (systemd-inhibit --what=idle …), asked over the system
 * bus. DBUS_SYSTEM_BUS_ADDRESS points sd-bus elsewhere (the tests' private bus). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "probe-inhibitor.h"

/* A check must not hang on a stuck logind: far below IntervalSec's minimum use. */
#define LOGIND_TIMEOUT_USEC (5 * USEC_PER_SEC)

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

int inhibitor_probe(bool *said_absent, InhibitorFacts *ret, char *err, size_t errlen)
{
	*ret = (InhibitorFacts){ 0 };
	sd_bus *bus = NULL;
	sd_bus_message *reply = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r = sd_bus_open_system(&bus);
	if (r >= 0)
		r = sd_bus_set_method_call_timeout(bus, LOGIND_TIMEOUT_USEC);
	if (r < 0) {
		if (logind_absent_error(r, NULL)) {
			char why[128];
			snprintf(why, sizeof(why), "no system bus (%s)", strerror(-r));
			absent(ret, said_absent, why);
			r = 0;
		} else
			snprintf(err, errlen, "connecting to the system bus: %s", strerror(-r));
		goto out;
	}
	r = sd_bus_call_method(bus, "org.freedesktop.login1", "/org/freedesktop/login1",
	                       "org.freedesktop.login1.Manager", "ListInhibitors", &e, &reply, "");
	if (r < 0) {
		/* A system bus without logind: the unit runs where logind does not (a
		 * container). The first connect can also fail here, when the socket exists but
		 * nobody listens. */
		if (logind_absent_error(r, &e) ||
		    (!sd_bus_error_is_set(&e) && r == -ECONNREFUSED)) {
			char why[128];
			snprintf(why, sizeof(why), "logind is not on the system bus (%s)",
			         sd_bus_error_is_set(&e) ? e.name : strerror(-r));
			absent(ret, said_absent, why);
			r = 0;
		} else
			snprintf(err, errlen, "logind ListInhibitors: %s",
			         sd_bus_error_is_set(&e) && e.message ? e.message : strerror(-r));
		goto out;
	}
	r = inhibitors_parse(reply, ret);
	if (r < 0) {
		snprintf(err, errlen, "logind ListInhibitors: unexpected reply: %s", strerror(-r));
		goto out;
	}
	ret->valid = true;
	ret->available = true;
	/* logind came back: say so again should it go away. */
	*said_absent = false;
out:
	sd_bus_error_free(&e);
	sd_bus_message_unref(reply);
	sd_bus_flush_close_unref(bus);
	return r;
}
