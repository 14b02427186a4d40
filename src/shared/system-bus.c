#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "system-bus.h"

/* The bus socket's path when the address is sd-bus's default or a plain unix:path= (what
 * DBUS_SYSTEM_BUS_ADDRESS holds in the tests); NULL for any other form. */
static const char *socket_path(void)
{
	const char *address = secure_getenv("DBUS_SYSTEM_BUS_ADDRESS");
	if (!address)
		return "/run/dbus/system_bus_socket";
	const char *path = startswith(address, "unix:path=");
	return path && !strpbrk(path, ",;%") ? path : NULL;
}

sd_bus *system_bus_get(SystemBus *b, int *ret_error)
{
	if (b->bus && sd_bus_is_open(b->bus) > 0)
		return b->bus;
	system_bus_done(b);
	/* Where there is no bus (a container; this is asked before every check), one access()
	 * gives connect()'s answer without a new sd_bus, its socket and its buffer sizes. */
	const char *path = socket_path();
	if (path && access(path, F_OK) < 0 && errno == ENOENT) {
		*ret_error = -ENOENT;
		return NULL;
	}
	int r = sd_bus_open_system(&b->bus);
	if (r >= 0)
		r = sd_bus_attach_event(b->bus, b->event, SD_EVENT_PRIORITY_NORMAL);
	if (r < 0) {
		system_bus_done(b);
		*ret_error = r;
		return NULL;
	}
	return b->bus;
}

void system_bus_done(SystemBus *b)
{
	if (!b->bus)
		return;
	sd_bus_detach_event(b->bus);
	/* Not flushed: that would wait for a bus that may be stuck. */
	sd_bus_close(b->bus);
	b->bus = sd_bus_unref(b->bus);
}
