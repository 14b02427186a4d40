/* The Neuron driver's sysfs counters. Driver 2.31 moved nodes to new paths, so nothing here
 * depends on where a counter lives: the walk recognises counters by their own names. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "probe-neuron.h"
#include "probe.h"
#include "proc-table.h"

/* Deep enough for every layout seen (neuronN/neuron_coreM/stats/status/success/total is 5
 * below the root), with room for a reorganisation; bounded so a loop cannot run away. */
#define WALK_DEPTH_MAX 9

/* Directories holding only host-side, hardware-health or identity data: skipping them keeps
 * a check's reads few. */
static bool dir_irrelevant(const char *name)
{
	static const char *const skip[] = { "power",  "host_mem",      "hardware",
		                            "info",   "health_status", "subsystem",
		                            "device", "driver",        "architecture" };
	for (size_t i = 0; i < ELEMENTSOF(skip); i++)
		if (streq(name, skip[i]))
			return true;
	return false;
}

/* Counters that move when a NeuronCore executes (or, before driver 2.30.2, when a process that
 * executed exits). Everything under a "status" directory counts too. */
static bool exec_counter(const char *dir, const char *parent)
{
	static const char *const names[] = { "inference_count", "nc_time_in_use", "flop_count",
		                             "model_load_count", "success" };
	if (parent && streq(parent, "status"))
		return true;
	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (streq(dir, names[i]))
			return true;
	return false;
}

static bool parse_index_name(const char *name, const char *prefix)
{
	const char *p = startswith(name, prefix);
	if (!p || !*p)
		return false;
	for (; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

int pe_cntrs_parse(const char *text, uint64_t *ret_busy)
{
	/* Which columns are activity: from a header naming them, else "row,mm,wl,idle". */
	bool active_col[16] = { false, true, true, false };
	uint64_t busy = 0;
	size_t rows = 0;
	for (const char *p = text; *p;) {
		const char *eol = strchrnul(p, '\n');
		char line[512];
		size_t l = MIN((size_t)(eol - p), sizeof(line) - 1);
		memcpy(line, p, l);
		line[l] = '\0';
		p = *eol ? eol + 1 : eol;
		if (l == 0)
			continue;
		char *save = NULL;
		size_t col = 0;
		bool header = false;
		uint64_t row_busy = 0;
		for (char *tok = strtok_r(line, ", \t", &save); tok && col < ELEMENTSOF(active_col);
		     tok = strtok_r(NULL, ", \t", &save), col++) {
			char *end;
			errno = 0;
			uint64_t v = strtoull(tok, &end, 0);
			if (errno || *end) {
				header = true;
				active_col[col] = strstr(tok, "active") != NULL;
				continue;
			}
			if (active_col[col])
				row_busy += v;
		}
		if (!header) {
			if (col < 2)
				return -EBADMSG;
			busy += row_busy;
			rows++;
		}
	}
	if (rows == 0)
		return -EBADMSG;
	*ret_busy = busy;
	return 0;
}

int neuron_driver_version_parse(const char *text, unsigned ret[3])
{
	unsigned v[3] = { 0 };
	if (sscanf(text, "%u.%u.%u", &v[0], &v[1], &v[2]) < 2)
		return -EBADMSG;
	memcpy(ret, v, sizeof(v));
	return 0;
}

static bool version_at_least(const unsigned v[3], unsigned a, unsigned b, unsigned c)
{
	if (v[0] != a)
		return v[0] > a;
	if (v[1] != b)
		return v[1] > b;
	return v[2] >= c;
}

bool neuron_execution_observable(const NeuronDeviceCounters *d, const unsigned version[3])
{
	return d->has_pe || (d->has_exec && version_at_least(version, 2, 30, 2));
}

const NeuronDeviceCounters *neuron_counters_find(const NeuronCounters *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (streq(c->dev[i].name, name))
			return &c->dev[i];
	return NULL;
}

typedef struct Walk {
	NeuronDeviceCounters *dev;
	char *err;
	size_t errlen;
} Walk;

static int read_counter_file(int dirfd, const char *name, const char *path, char *buf, size_t size,
                             Walk *w)
{
	ssize_t n = read_small_fileat(dirfd, name, buf, size);
	if (n < 0)
		snprintf(w->err, w->errlen, "%s/%s: %s", path, name, strerror((int)-n));
	return n < 0 ? (int)n : 0;
}

static int read_u64_file(int dirfd, const char *name, const char *path, uint64_t *ret, Walk *w)
{
	char buf[64];
	int r = read_counter_file(dirfd, name, path, buf, sizeof(buf), w);
	if (r < 0)
		return r;
	char *end;
	errno = 0;
	*ret = strtoull(buf, &end, 10);
	if (errno || end == buf) {
		snprintf(w->err, w->errlen, "%s/%s: not a number", path, name);
		return -EBADMSG;
	}
	return 0;
}

static int read_pe_cntrs(int dirfd, const char *path, Walk *w)
{
	char buf[8192];
	uint64_t busy;
	int r = read_counter_file(dirfd, "pe_cntrs", path, buf, sizeof(buf), w);
	if (r < 0)
		return r;
	if (pe_cntrs_parse(buf, &busy) < 0) {
		snprintf(w->err, w->errlen, "%s/pe_cntrs: unexpected format", path);
		return -EBADMSG;
	}
	w->dev->pe_busy += busy;
	w->dev->has_pe = true;
	return 0;
}

/* dir is the name of the directory being walked, parent the one above it. */
static int walk_dir(int fd, const char *path, const char *dir, const char *parent, int depth,
                    Walk *w)
{
	_cleanup_close_ int own = fd;
	DIR *d = fdopendir(fd);
	if (!d) {
		snprintf(w->err, w->errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	own = -1; /* closedir closes it */
	int r = 0;
	struct dirent *de;
	while (r >= 0 && (de = readdir(d))) {
		const char *name = de->d_name;
		if (name[0] == '.')
			continue;
		if (de->d_type == DT_DIR) {
			if (depth >= WALK_DEPTH_MAX || dir_irrelevant(name))
				continue;
			if (parse_index_name(name, "neuron_core") || parse_index_name(name, "nc"))
				w->dev->n_cores++;
			int sub = openat(dirfd(d), name,
			                 O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
			char subpath[PATH_MAX];
			snprintf(subpath, sizeof(subpath), "%s/%s", path, name);
			if (sub < 0) {
				snprintf(w->err, w->errlen, "%s: %s", subpath, strerror(errno));
				r = -errno;
				break;
			}
			r = walk_dir(sub, subpath, name, dir, depth + 1, w);
		} else if (de->d_type == DT_REG && streq(name, "total")) {
			uint64_t v = 0;
			bool mem = streq(dir, "device_mem");
			if (!mem && !exec_counter(dir, parent))
				continue;
			r = read_u64_file(dirfd(d), name, path, &v, w);
			if (r < 0)
				break;
			if (mem)
				w->dev->mem_bytes += v;
			else {
				w->dev->exec += v;
				w->dev->has_exec = true;
			}
		} else if (de->d_type == DT_REG && streq(name, "pe_cntrs"))
			r = read_pe_cntrs(dirfd(d), path, w);
	}
	closedir(d);
	return r;
}

static void read_driver_version(const char *root, NeuronCounters *c)
{
	/* /sys/devices/virtual/neuron_device → /sys/module/neuron/version. Unknown is fine: it
	 * only makes execution unobservable, which keeps a held device active. */
	char path[PATH_MAX], buf[64];
	const char *sys = strstr(root, "/devices/");
	if (!sys)
		sys = strstr(root, "/class/");
	if (!sys)
		return;
	snprintf(path, sizeof(path), "%.*s/module/neuron/version", (int)(sys - root), root);
	if (read_small_file(path, buf, sizeof(buf)) > 0)
		(void)neuron_driver_version_parse(buf, c->driver_version);
}

int neuron_sysfs_read(const char *root, NeuronCounters *ret, char *err, size_t errlen)
{
	*ret = (NeuronCounters){ .valid = true };
	DIR *d = opendir(root);
	if (!d) {
		if (errno == ENOENT)
			return 0; /* no driver loaded */
		snprintf(err, errlen, "%s: %s", root, strerror(errno));
		return -errno;
	}
	read_driver_version(root, ret);
	int r = 0;
	struct dirent *de;
	while (r >= 0 && (de = readdir(d))) {
		/* /sys/class/neuron_device holds symlinks, /sys/devices/virtual/… directories. */
		if (!parse_index_name(de->d_name, "neuron") || ret->n >= NEURON_DEVICES_MAX)
			continue;
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", root, de->d_name);
		int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT || errno == ENOTDIR)
				continue; /* device removed during the walk, or not a device */
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			r = -errno;
			break;
		}
		NeuronDeviceCounters *dev = &ret->dev[ret->n++];
		*dev = (NeuronDeviceCounters){ 0 };
		strscpy(dev->name, sizeof(dev->name), de->d_name);
		Walk w = { .dev = dev, .err = err, .errlen = errlen };
		r = walk_dir(fd, path, de->d_name, NULL, 1, &w);
	}
	closedir(d);
	if (r < 0)
		ret->valid = false;
	return r;
}

int neuron_device_nodes(const char *pattern, char ***ret)
{
	glob_t g;
	*ret = NULL;
	int r = glob(pattern, GLOB_NOSORT, NULL, &g);
	if (r == GLOB_NOMATCH)
		return 0;
	if (r != 0)
		return r == GLOB_NOSPACE ? -ENOMEM : -EIO;
	int n = 0;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		struct stat st;
		/* Only character devices: DevicePattern=/dev/neuron* must not pick up a directory
		 * or a stray file of the same name. */
		if (stat(g.gl_pathv[i], &st) < 0 || !S_ISCHR(st.st_mode))
			continue;
		if (strv_push(ret, g.gl_pathv[i]) < 0) {
			globfree(&g);
			*ret = strv_free(*ret);
			return -ENOMEM;
		}
		n++;
	}
	globfree(&g);
	return n;
}

int neuron_fd_scan(const char *proc_root, pid_t pid, char *const *nodes, uint64_t *ret_mask,
                   char *err, size_t errlen)
{
	char path[64 + PATH_MAX];
	snprintf(path, sizeof(path), "%s/%d/fd", proc_root, (int)pid);
	*ret_mask = 0;
	DIR *d = opendir(path);
	if (!d) {
		if (errno == ENOENT || errno == ESRCH)
			return -ESRCH; /* exited during the scan */
		int r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	size_t n_nodes = strv_length(nodes);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char target[PATH_MAX];
		ssize_t l = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
		if (l < 0)
			continue; /* fd closed between readdir and readlink */
		target[l] = '\0';
		/* Cheap reject before comparing: device links start with '/', sockets and pipes
		 * ("socket:[…]", "pipe:[…]", "anon_inode:…") do not. */
		if (target[0] != '/')
			continue;
		for (size_t i = 0; i < n_nodes; i++)
			if (streq(target, nodes[i])) {
				*ret_mask |= 1ULL << MIN(i, 63);
				break;
			}
	}
	closedir(d);
	return 0;
}
