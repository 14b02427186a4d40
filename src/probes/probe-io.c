/* Network (/proc/1/net/dev) and disk (/proc/diskstats) byte counters. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "probe-io.h"
#include "probe.h"

static int io_push(IoCounters *c, const char *name, uint64_t bytes)
{
	if (c->n >= IO_DEVICES_MAX)
		return 0; /* a machine with more devices is judged on the first 64 */
	IoCounter *d = &c->dev[c->n++];
	strscpy(d->name, sizeof(d->name), name);
	d->bytes = bytes;
	return 0;
}

int netdev_parse(const char *text, IoDeviceFilter keep, void *userdata, IoCounters *ret)
{
	*ret = (IoCounters){ 0 };
	/* Two header lines, then "  eth0: rx_bytes rx_packets ... (8 rx fields) tx_bytes ...". */
	const char *p = strchr(text, '\n');
	if (!p || !(p = strchr(p + 1, '\n')) || !strstr(text, "Receive"))
		return -EBADMSG;
	for (p++; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p)) {
		char name[IO_NAME_MAX];
		uint64_t v[9];
		const char *colon = strchr(p, ':');
		const char *eol = strchrnul(p, '\n');
		if (!colon || colon > eol)
			return -EBADMSG;
		while (*p == ' ')
			p++;
		size_t l = (size_t)(colon - p);
		if (l == 0 || l >= sizeof(name))
			return -EBADMSG;
		memcpy(name, p, l);
		name[l] = '\0';
		if (sscanf(colon + 1,
		           "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
		           " %" SCNu64 " %" SCNu64 " %" SCNu64,
		           &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]) != 9)
			return -EBADMSG;
		if (streq(name, "lo") || (keep && !keep(name, userdata)))
			continue;
		io_push(ret, name, v[0] + v[8]);
	}
	ret->valid = true;
	return 0;
}

int diskstats_parse(const char *text, IoDeviceFilter keep, void *userdata, IoCounters *ret)
{
	*ret = (IoCounters){ 0 };
	for (const char *p = text; *p;) {
		const char *eol = strchrnul(p, '\n');
		unsigned major, minor;
		char name[IO_NAME_MAX];
		uint64_t reads, rmerged, rsect, rms, writes, wmerged, wsect;
		/* major minor name reads merged sectors ms writes merged sectors ...; a sector here
		 * is always 512 bytes, whatever the disk's own sector size. */
		if (sscanf(p,
		           "%u %u %31s %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
		           " %" SCNu64 " %" SCNu64,
		           &major, &minor, name, &reads, &rmerged, &rsect, &rms, &writes, &wmerged,
		           &wsect) != 10)
			return -EBADMSG;
		if (!keep || keep(name, userdata))
			io_push(ret, name, (rsect + wsect) * 512);
		p = *eol ? eol + 1 : eol;
	}
	ret->valid = true;
	return 0;
}

typedef struct SysFilter {
	const char *sys_root;
	const char *kind; /* "net" or "block" */
} SysFilter;

static bool path_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* Virtual devices (bridges, veth, tun, loop, dm, md, zram) carry traffic that a real device
 * also carries, or none that leaves the machine. */
static bool real_device(const char *name, void *userdata)
{
	const SysFilter *f = userdata;
	char path[512];
	snprintf(path, sizeof(path), "%s/devices/virtual/%s/%s", f->sys_root, f->kind, name);
	if (path_exists(path))
		return false;
	if (!streq(f->kind, "block"))
		return true;
	/* Partitions are not in /sys/block; their I/O is counted on the whole disk. */
	snprintf(path, sizeof(path), "%s/block/%s", f->sys_root, name);
	return path_exists(path);
}

typedef int (*IoParseFn)(const char *, IoDeviceFilter, void *, IoCounters *);

/* Reads proc_root/file and keeps the devices real_device() accepts for sysfs kind. */
static int io_read(const char *proc_root, const char *file, IoParseFn parse, const char *sys_root,
                   const char *kind, IoCounters *ret, char *err, size_t errlen)
{
	char path[256], buf[65536];
	SysFilter filter = { sys_root, kind };
	snprintf(path, sizeof(path), "%s/%s", proc_root, file);
	ssize_t n = read_small_file(path, buf, sizeof(buf));
	if (n < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror((int)-n));
		return (int)n;
	}
	if (parse(buf, real_device, &filter, ret) < 0) {
		snprintf(err, errlen, "%s: unexpected format", path);
		return -EBADMSG;
	}
	return 0;
}

int netdev_read(const char *proc_root, const char *sys_root, IoCounters *ret, char *err,
                size_t errlen)
{
	/* PID 1's view, not ours: the service runs with PrivateNetwork=yes, and its own network
	 * namespace has only lo. Traffic that makes the machine busy is in the host's. */
	return io_read(proc_root, "1/net/dev", netdev_parse, sys_root, "net", ret, err, errlen);
}

int diskstats_read(const char *proc_root, const char *sys_root, IoCounters *ret, char *err,
                   size_t errlen)
{
	return io_read(proc_root, "diskstats", diskstats_parse, sys_root, "block", ret, err,
	               errlen);
}

double io_rate(const IoCounters *prev, const IoCounters *now, usec_t window, char *busiest,
               size_t busiest_size)
{
	uint64_t total = 0, most = 0;
	if (busiest_size > 0)
		busiest[0] = '\0';
	if (!prev->valid || !now->valid || window == 0)
		return 0.0;
	for (size_t i = 0; i < now->n; i++)
		for (size_t j = 0; j < prev->n; j++) {
			if (!streq(now->dev[i].name, prev->dev[j].name))
				continue;
			if (now->dev[i].bytes > prev->dev[j].bytes) {
				uint64_t d = now->dev[i].bytes - prev->dev[j].bytes;
				total += d;
				if (d > most) {
					most = d;
					strscpy(busiest, busiest_size, now->dev[i].name);
				}
			}
			break;
		}
	return (double)total * USEC_PER_SEC / (double)window;
}

const IoCounter *io_went_back(const IoCounters *prev, const IoCounters *now, uint64_t *ret_prev)
{
	for (size_t i = 0; i < now->n; i++)
		for (size_t j = 0; j < prev->n; j++)
			if (streq(now->dev[i].name, prev->dev[j].name)) {
				if (now->dev[i].bytes < prev->dev[j].bytes) {
					*ret_prev = prev->dev[j].bytes;
					return &now->dev[i];
				}
				break;
			}
	return NULL;
}
