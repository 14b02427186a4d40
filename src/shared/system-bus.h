/* The daemon's one connection to the system bus, attached to its sd-event loop: every D-Bus
 * call (logind's ListInhibitors, the power-off) is asynchronous on it. Opened on first use and
 * again after it closed (logind or dbus restarted), never on a blocking path: an AF_UNIX
 * connect, with authentication and Hello going on in the loop. */
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

typedef struct SystemBus {
	sd_event *event;
	sd_bus *bus;
} SystemBus;

/* The connection, or NULL with a negative errno in *ret_error (no system bus here). */
sd_bus *system_bus_get(SystemBus *b, int *ret_error);
void system_bus_done(SystemBus *b);
