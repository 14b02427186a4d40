/* The /proc/PID/cmdline reader and the one-line form the journal gets. A process may rewrite
 * its argv (setproctitle): no final NUL, NULs only, an empty file. proc_cmdline_read takes a
 * proc root, so this target writes each input to ROOT/1/cmdline on a tmpfs (the one target
 * with I/O: the reader and its parsing are one function). Property: argc counts the
 * NUL-terminated arguments inside the buffer, and the joined line has no control bytes. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "proc-table.h"

static char root[64];
static char path[192];

static void make_root(void)
{
	char dir[160];
	snprintf(root, sizeof(root), "/dev/shm/trnidled-fuzz-cmdline.XXXXXX");
	if (!mkdtemp(root))
		abort();
	snprintf(dir, sizeof(dir), "%s/1", root);
	if (mkdir(dir, 0700) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/cmdline", dir);
}

static void remove_root(void)
{
	char dir[160];
	snprintf(dir, sizeof(dir), "%s/1", root);
	(void)unlink(path);
	(void)rmdir(dir);
	(void)rmdir(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[4096], line[1024];
	size_t argc = 99;

	if (!root[0]) {
		make_root();
		atexit(remove_root);
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);

	/* A small buffer too: a long argv is cut, never overrun. */
	size_t bufsize = size > 0 && data[0] == 'x' ? 8 : sizeof(buf);
	fuzz_assert(proc_cmdline_read(root, 1, buf, bufsize, &argc) == 0);
	size_t n = 0;
	const char *a = buf;
	for (size_t i = 0; i < argc; i++) {
		size_t len = strnlen(a, bufsize - (size_t)(a - buf));
		fuzz_assert(a + len < buf + bufsize); /* each argument ends inside the buffer */
		a += len + 1;
		n++;
	}
	fuzz_assert(n == argc);
	fuzz_assert(size > 0 || argc == 0);
	proc_cmdline_join(buf, argc, line, sizeof(line));
	for (const char *c = line; *c; c++)
		fuzz_assert((unsigned char)*c >= 0x20);
	fuzz_assert(proc_cmdline_read(root, 2, buf, sizeof(buf), &argc) == -ESRCH);
	return 0;
}
