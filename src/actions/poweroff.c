/* The poweroff action, asynchronous on the daemon's system bus connection. Power-off goes
 * through logind, which honours block inhibitors (with SD_LOGIND_ROOT_CHECK_INHIBITORS even
 * for root); only when logind cannot be reached at all does it fall back to starting
 * poweroff.target, as `systemctl poweroff` does. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "action-impl.h"

/* logind's flag for PowerOffWithFlags: check inhibitors even when the caller is root. */
#define SD_LOGIND_ROOT_CHECK_INHIBITORS (UINT64_C(1) << 0)
#define BUS_TIMEOUT_USEC                (10 * USEC_PER_SEC)

#define LOGIND_DEST    "org.freedesktop.login1"
#define LOGIND_PATH    "/org/freedesktop/login1"
#define LOGIND_MANAGER "org.freedesktop.login1.Manager"

static bool bus_error_is_unreachable(const sd_bus_error *e, int r)
{
	if (sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER,
	                           SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_TIMEOUT,
	                           SD_BUS_ERROR_DISCONNECTED, SD_BUS_ERROR_NO_SERVER))
		return true;
	return !sd_bus_error_is_set(e) && (r == -ECONNREFUSED || r == -ENOENT || r == -ETIMEDOUT ||
	                                   r == -ENOTCONN || r == -ECONNRESET);
}

static const char *errtext(const sd_bus_error *e, int r)
{
	return sd_bus_error_is_set(e) ? e->message ? e->message : e->name : strerror(-r);
}

/* Sends one method call; its reply goes to cb. */
static int call_async(Action *a, sd_bus_message_handler_t cb, const char *dest, const char *path,
                      const char *iface, const char *member, const char *types, ...)
{
	sd_bus_message *m = NULL;
	va_list ap;
	int r = sd_bus_message_new_method_call(a->req.bus, &m, dest, path, iface, member);
	if (r >= 0) {
		va_start(ap, types);
		r = sd_bus_message_appendv(m, types, ap);
		va_end(ap);
	}
	if (r >= 0)
		r = sd_bus_call_async(a->req.bus, &a->slot, m, cb, a, BUS_TIMEOUT_USEC);
	sd_bus_message_unref(m);
	return r;
}

static void end(Action *a, int r)
{
	if (a->req.dry_run && r < 0) {
		/* A dry run reports what a real run would meet; it has nothing to fail. */
		strappendf(a->res.message, sizeof(a->res.message),
		           "; dry-run: a real power-off would fail here and keep the machine up");
		strscpy(a->res.path, sizeof(a->res.path), "unreachable");
		r = 0;
	}
	ActionResult res = a->res;
	action_finish(a, r, &res);
}

static int on_systemd(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	Action *a = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(reply);
	int r = e ? -sd_bus_error_get_errno(e) : 0;
	a->slot = sd_bus_slot_unref(a->slot);
	if (r >= 0) {
		strscpy(a->res.path, sizeof(a->res.path), "systemd");
		strappendf(a->res.message, sizeof(a->res.message),
		           a->req.dry_run ? "; dry-run: would start poweroff.target through systemd"
		                          : "; systemd started poweroff.target");
	} else
		strappendf(a->res.message, sizeof(a->res.message), "; systemd: %s", errtext(e, r));
	end(a, r);
	return 0;
}

static int ask_systemd(Action *a)
{
	if (a->req.dry_run)
		return call_async(a, on_systemd, "org.freedesktop.systemd1",
		                  "/org/freedesktop/systemd1", "org.freedesktop.DBus.Properties",
		                  "Get", "ss", "org.freedesktop.systemd1.Manager", "Version");
	return call_async(a, on_systemd, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
	                  "org.freedesktop.systemd1.Manager", "StartUnit", "ss", "poweroff.target",
	                  "replace-irreversibly");
}

static int on_logind(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	Action *a = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(reply);
	int r = e ? -sd_bus_error_get_errno(e) : 0;
	a->slot = sd_bus_slot_unref(a->slot);
	if (r < 0 && !a->req.dry_run && !a->tried_plain_poweroff &&
	    sd_bus_error_has_name(e, SD_BUS_ERROR_UNKNOWN_METHOD)) {
		a->tried_plain_poweroff = true;
		r = call_async(a, on_logind, LOGIND_DEST, LOGIND_PATH, LOGIND_MANAGER, "PowerOff",
		               "b", 0);
		if (r >= 0)
			return 0;
	}
	if (r >= 0) {
		const char *can = NULL;
		strscpy(a->res.path, sizeof(a->res.path), "logind");
		if (a->req.dry_run) {
			(void)sd_bus_message_read(reply, "s", &can);
			strappendf(a->res.message, sizeof(a->res.message),
			           "dry-run: would ask logind to power off (CanPowerOff=%s)",
			           strempty(can));
		} else
			strappendf(a->res.message, sizeof(a->res.message),
			           "logind accepted PowerOff");
		end(a, 0);
		return 0;
	}
	bool unreachable = bus_error_is_unreachable(e, r);
	strappendf(a->res.message, sizeof(a->res.message), "logind %s: %s",
	           unreachable ? "unreachable" : "refused", errtext(e, r));
	/* Refused (an inhibitor, a policy): we must not go around it. */
	if (!unreachable || (r = ask_systemd(a)) < 0)
		end(a, r);
	return 0;
}

static int poweroff_begin(sd_event_source *s, void *userdata)
{
	Action *a = userdata;
	int r = -ENOTCONN;
	a->timer = sd_event_source_disable_unref(a->timer);
	if (a->req.bus && a->req.dry_run)
		r = call_async(a, on_logind, LOGIND_DEST, LOGIND_PATH, LOGIND_MANAGER,
		               "CanPowerOff", "");
	else if (a->req.bus)
		r = call_async(a, on_logind, LOGIND_DEST, LOGIND_PATH, LOGIND_MANAGER,
		               "PowerOffWithFlags", "t", SD_LOGIND_ROOT_CHECK_INHIBITORS);
	if (r >= 0)
		return 0;
	strappendf(a->res.message, sizeof(a->res.message),
	           "logind unreachable: cannot connect to the system bus: %s", strerror(-r));
	end(a, -EHOSTUNREACH);
	return 0;
}

/* From the loop, so that even a failure to send is reported after start returns. */
static int poweroff_start(Action *a)
{
	return sd_event_add_defer(a->req.event, &a->timer, poweroff_begin, a);
}

static void poweroff_cancel(Action *a)
{
}

const ActionOps action_poweroff_ops = { .start = poweroff_start, .cancel = poweroff_cancel };
