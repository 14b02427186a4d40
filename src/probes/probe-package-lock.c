/* package-manager: whether dpkg or apt holds one of its locks. Both take POSIX record locks
 * (fcntl) on these files for as long as they work: apt's frontend lock for a whole install,
 * the archives lock while it downloads, the lists lock during an update, dpkg's own while it
 * unpacks and configures. F_GETLK asks the kernel who holds one without taking it; a read-only
 * descriptor is enough, and neither creates the file nor disturbs the holder. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "probe.h"

static const char *const package_locks[] = {
	"/var/lib/dpkg/lock-frontend",
	"/var/lib/dpkg/lock",
	"/var/cache/apt/archives/lock",
	"/var/lib/apt/lists/lock",
};

/* Whether root + path is locked: 1 (holder pid in *ret_pid, 0 when not visible here), 0, or a
 * negative errno. A lock file that is not there is not held. */
static int lock_held(const char *root, const char *path, pid_t *ret_pid, char *err, size_t errlen)
{
	char full[PATH_MAX];
	snprintf(full, sizeof(full), "%s%s", root, path);
	_cleanup_close_ int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT)
		return 0;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	if (fd < 0 || fcntl(fd, F_GETLK, &fl) < 0) {
		int r = -errno;
		snprintf(err, errlen, "%s: %s", full, strerror(-r));
		return r;
	}
	/* dpkg and apt take write locks, which need the file open for writing (root's); a read
	 * lock is anybody's who can read it, so it keeps nothing up. */
	if (fl.l_type != F_WRLCK)
		return 0;
	*ret_pid = fl.l_pid > 0 ? fl.l_pid : 0; /* -1: an open file description lock */
	return 1;
}

int package_locks_probe(const char *root, const ProcTable *procs, unsigned long ticks_per_sec,
                        PackageLockFacts *ret, char *err, size_t errlen)
{
	*ret = (PackageLockFacts){ 0 };
	for (size_t i = 0; i < ELEMENTSOF(package_locks); i++) {
		pid_t pid = 0;
		int r = lock_held(root, package_locks[i], &pid, err, errlen);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		ret->held = true;
		ret->pid = pid;
		strscpy(ret->lock, sizeof(ret->lock), package_locks[i]);
		const ProcEntry *e = procs && pid > 0 ? proc_table_find(procs, pid) : NULL;
		if (e) {
			strscpy(ret->comm, sizeof(ret->comm), e->comm);
			ret->started = proc_started_usec(e, ticks_per_sec);
		}
		break;
	}
	ret->valid = true;
	return 0;
}
