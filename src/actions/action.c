/* The poweroff and none actions. Power-off goes through logind, which honours block
 * inhibitors (with SD_LOGIND_ROOT_CHECK_INHIBITORS even for root); only when logind cannot be
 * reached at all does it fall back to starting poweroff.target, as `systemctl poweroff` does. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include <systemd/sd-bus.h>

#include "action.h"

/* logind's flag for PowerOffWithFlags: check inhibitors even when the caller is root. */
#define SD_LOGIND_ROOT_CHECK_INHIBITORS (UINT64_C(1) << 0)
#define BUS_TIMEOUT_USEC                (10 * USEC_PER_SEC)

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

/* Asks logind. Returns 0 done, -EHOSTUNREACH when logind cannot be reached, other < 0 when it
 * refused (an inhibitor, a policy): then we must not go around it. */
static int poweroff_logind(sd_bus *bus, bool dry_run, char *msg, size_t len)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	int r;

	if (dry_run)
		r = sd_bus_call_method(bus, "org.freedesktop.login1", "/org/freedesktop/login1",
		                       "org.freedesktop.login1.Manager", "CanPowerOff", &e, &reply,
		                       "");
	else {
		r = sd_bus_call_method(bus, "org.freedesktop.login1", "/org/freedesktop/login1",
		                       "org.freedesktop.login1.Manager", "PowerOffWithFlags", &e,
		                       NULL, "t", SD_LOGIND_ROOT_CHECK_INHIBITORS);
		if (r < 0 && sd_bus_error_has_name(&e, SD_BUS_ERROR_UNKNOWN_METHOD)) {
			sd_bus_error_free(&e);
			r = sd_bus_call_method(
			        bus, "org.freedesktop.login1", "/org/freedesktop/login1",
			        "org.freedesktop.login1.Manager", "PowerOff", &e, NULL, "b", 0);
		}
	}
	if (r >= 0) {
		const char *can = NULL;
		if (reply)
			(void)sd_bus_message_read(reply, "s", &can);
		if (dry_run)
			strappendf(msg, len,
			           "dry-run: would ask logind to power off (CanPowerOff=%s)",
			           strempty(can));
		else
			strappendf(msg, len, "logind accepted PowerOff");
	} else {
		bool unreachable = bus_error_is_unreachable(&e, r);
		strappendf(msg, len, "logind %s: %s", unreachable ? "unreachable" : "refused",
		           errtext(&e, r));
		if (unreachable)
			r = -EHOSTUNREACH;
	}
	sd_bus_message_unref(reply);
	sd_bus_error_free(&e);
	return r;
}

static int poweroff_systemd(sd_bus *bus, bool dry_run, char *msg, size_t len)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r;

	if (dry_run) {
		char *version = NULL;
		r = sd_bus_get_property_string(
		        bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
		        "org.freedesktop.systemd1.Manager", "Version", &e, &version);
		free(version);
	} else
		r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
		                       "org.freedesktop.systemd1.Manager", "StartUnit", &e, NULL,
		                       "ss", "poweroff.target", "replace-irreversibly");
	if (r >= 0)
		strappendf(msg, len,
		           dry_run ? "; dry-run: would start poweroff.target through systemd"
		                   : "; systemd started poweroff.target");
	else
		strappendf(msg, len, "; systemd: %s", errtext(&e, r));
	sd_bus_error_free(&e);
	return r;
}

static int poweroff_run(const ActionRequest *req, ActionResult *ret)
{
	sd_bus *bus = NULL;
	int r;

	*ret = (ActionResult){ 0 };
	r = sd_bus_open_system(&bus);
	if (r >= 0) {
		(void)sd_bus_set_method_call_timeout(bus, BUS_TIMEOUT_USEC);
		r = poweroff_logind(bus, req->dry_run, ret->message, sizeof(ret->message));
	} else {
		strappendf(ret->message, sizeof(ret->message),
		           "logind unreachable: cannot connect to the system bus: %s",
		           strerror(-r));
		r = -EHOSTUNREACH;
	}
	if (r >= 0) {
		strscpy(ret->path, sizeof(ret->path), "logind");
		goto out;
	}
	if (r != -EHOSTUNREACH)
		goto out;
	if (bus)
		r = poweroff_systemd(bus, req->dry_run, ret->message, sizeof(ret->message));
	if (r >= 0)
		strscpy(ret->path, sizeof(ret->path), "systemd");
out:
	sd_bus_flush_close_unref(bus);
	if (req->dry_run && r < 0) {
		/* A dry run reports what a real run would meet; it has nothing to fail. */
		strappendf(ret->message, sizeof(ret->message),
		           "; dry-run: a real power-off would fail here and keep the machine up");
		strscpy(ret->path, sizeof(ret->path), "unreachable");
		return 0;
	}
	return r;
}

const ActionOps action_poweroff = { .name = "poweroff", .run = poweroff_run };

static int none_run(const ActionRequest *req, ActionResult *ret)
{
	*ret = (ActionResult){ .path = "none" };
	snprintf(ret->message, sizeof(ret->message), "would power off (Action=none): %s",
	         strempty(req->why));
	return 0;
}

const ActionOps action_none = { .name = "none", .run = none_run };

int wall_terminals(const char *dev_root, const char *message)
{
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/pts", dev_root);
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		char path[512];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		/* Never block on a stuck terminal, never make it our controlling tty. */
		_cleanup_close_ int fd = open(path, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
		struct stat before;
		if (fd < 0 || fstat(fd, &before) < 0)
			continue;
		if (write(fd, message, strlen(message)) > 0)
			n++;
		/* Our own write moved the terminal's output time, and the terminal signal reads
		 * that time as use: left alone, every warning would make a forgotten terminal look
		 * busy and cancel its own action, for another SessionIdleSec. Put the times back. */
		const struct timespec times[2] = { before.st_atim, before.st_mtim };
		(void)futimens(fd, times);
	}
	closedir(d);
	return n;
}
