/* Network and disk throughput: byte counters from /proc/net/dev and /proc/diskstats, kept per
 * device so that a device appearing or vanishing between two checks does not fake a burst. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

#define IO_DEVICES_MAX 64
#define IO_NAME_MAX    32

typedef struct IoCounter {
	char name[IO_NAME_MAX];
	uint64_t bytes; /* received + sent, or read + written */
} IoCounter;

typedef struct IoCounters {
	bool valid;
	size_t n;
	IoCounter dev[IO_DEVICES_MAX];
} IoCounters;

/* Says whether a device counts (a real interface or disk). NULL counts everything. */
typedef bool (*IoDeviceFilter)(const char *name, void *userdata);

/* Parse the text of /proc/net/dev and /proc/diskstats. Loopback is never counted. Returns 0
 * or -EBADMSG when the text is not in the expected format. */
int netdev_parse(const char *text, IoDeviceFilter keep, void *userdata, IoCounters *ret);
int diskstats_parse(const char *text, IoDeviceFilter keep, void *userdata, IoCounters *ret);

/* Read them (the network counters of PID 1's namespace: proc_root/1/net/dev), keeping real
 * devices only: interfaces not under sys_root/devices/virtual/net,
 * whole disks under sys_root/block not under sys_root/devices/virtual/block. */
int netdev_read(const char *proc_root, const char *sys_root, IoCounters *ret, char *err,
                size_t errlen);
int diskstats_read(const char *proc_root, const char *sys_root, IoCounters *ret, char *err,
                   size_t errlen);

/* Bytes per second between two readings over devices present in both; *ret_busiest names the
 * device that moved most (empty when none moved). A counter that went back contributes nothing
 * here: check io_went_back first. */
double io_rate(const IoCounters *prev, const IoCounters *now, usec_t window, char *busiest,
               size_t busiest_size);

/* The first device present in both readings whose counter went back (a reset device, a wrapped
 * driver counter), or NULL. Its bytes over the interval are unknown, so the rate is too: a
 * probe error, not 0. *ret_prev gets its earlier count. */
const IoCounter *io_went_back(const IoCounters *prev, const IoCounters *now, uint64_t *ret_prev);
