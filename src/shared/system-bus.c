#include <errno.h>

#include "system-bus.h"

sd_bus *system_bus_get(SystemBus *b, int *ret_error)
{
	if (b->bus && sd_bus_is_open(b->bus) > 0)
		return b->bus;
	system_bus_done(b);
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
