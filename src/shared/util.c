#include <pwd.h>
#include <stdbool.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <ctype.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "macro.h"

char *strscpy(char *dst, size_t size, const char *src)
{
	if (size == 0)
		return dst;
	size_t n = strnlen(src, size - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
	return dst;
}

void strappendf(char *dst, size_t size, const char *fmt, ...)
{
	size_t used = strnlen(dst, size);
	if (used + 1 >= size)
		return;
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(dst + used, size - used, fmt, ap);
	va_end(ap);
}

char **strv_free(char **l)
{
	if (!l)
		return NULL;
	for (char **p = l; *p; p++)
		free(*p);
	free(l);
	return NULL;
}

size_t strv_length(char *const *l)
{
	size_t n = 0;
	while (l && l[n])
		n++;
	return n;
}

int strv_push(char ***l, const char *s)
{
	size_t n = strv_length(*l);
	char *c = strdup(s);
	if (!c)
		return -ENOMEM;
	char **nl = realloc(*l, (n + 2) * sizeof(char *));
	if (!nl) {
		free(c);
		return -ENOMEM;
	}
	nl[n] = c;
	nl[n + 1] = NULL;
	*l = nl;
	return 0;
}

char **strv_copy(char *const *l)
{
	char **c = calloc(1, sizeof(char *));
	if (!c)
		return NULL;
	for (size_t i = 0; l && l[i]; i++)
		if (strv_push(&c, l[i]) < 0)
			return strv_free(c);
	return c;
}

int strv_split_quoted(const char *s, char ***ret)
{
	char **l = calloc(1, sizeof(char *));
	size_t len = strlen(s);
	char *word = malloc(len + 1);
	if (!l || !word) {
		free(word);
		strv_free(l);
		return -ENOMEM;
	}
	const char *p = s;
	for (;;) {
		while (*p && isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		size_t n = 0;
		char quote = 0;
		for (; *p; p++) {
			if (quote) {
				if (*p == quote)
					quote = 0;
				else
					word[n++] = *p;
			} else if (*p == '"' || *p == '\'') {
				quote = *p;
			} else if (isspace((unsigned char)*p)) {
				break;
			} else {
				word[n++] = *p;
			}
		}
		if (quote) {
			free(word);
			strv_free(l);
			return -EINVAL;
		}
		word[n] = '\0';
		if (strv_push(&l, word) < 0) {
			free(word);
			strv_free(l);
			return -ENOMEM;
		}
	}
	free(word);
	*ret = l;
	return 0;
}

char *strv_join(char *const *l, const char *sep)
{
	size_t total = 1, seplen = strlen(sep);
	for (size_t i = 0; l && l[i]; i++)
		total += strlen(l[i]) + seplen;
	char *r = malloc(total);
	if (!r)
		return NULL;
	r[0] = '\0';
	char *e = r;
	for (size_t i = 0; l && l[i]; i++) {
		if (i > 0)
			e = stpcpy(e, sep);
		e = stpcpy(e, l[i]);
	}
	return r;
}

/* Length of the valid UTF-8 character at p (RFC 3629: no overlong forms, no surrogates, at
 * most U+10FFFF), 0 when p starts an invalid sequence. Stops at the first bad byte, so it never
 * reads past a NUL. */
static size_t utf8_char_len(const unsigned char *p)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		lo = p[0] == 0xe0 ? 0xa0 : lo;
		hi = p[0] == 0xed ? 0x9f : hi;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		lo = p[0] == 0xf0 ? 0x90 : lo;
		hi = p[0] == 0xf4 ? 0x8f : hi;
	} else
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* C0, DEL, or C1 in UTF-8 (C2 80..C2 9F); n from utf8_char_len(). */
static bool utf8_is_control(const unsigned char *p, size_t n)
{
	return (n == 1 && (p[0] < 0x20 || p[0] == 0x7f)) ||
	       (n == 2 && p[0] == 0xc2 && p[1] <= 0x9f);
}

/* A raw C1 byte is invalid UTF-8 too, but terminals read it as a control: dropped, not shown. */
static bool is_raw_c1(unsigned char c)
{
	return c >= 0x80 && c <= 0x9f;
}

static char *sanitize(char *dst, size_t size, const char *src, bool keep_newlines)
{
	if (size == 0)
		return dst;
	_cleanup_free_ char *copy = NULL;
	if (dst == src && !(src = copy = strdup(src))) {
		dst[0] = '\0';
		return dst;
	}
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)src; *p;) {
		size_t n = utf8_char_len(p), out_len = n;
		const char *out = (const char *)p;
		if (n == 0) {
			n = 1;
			out = is_raw_c1(*p) ? "" : "\xef\xbf\xbd"; /* U+FFFD */
			out_len = strlen(out);
		} else if (utf8_is_control(p, n) && !(keep_newlines && *p == '\n'))
			out_len = 0;
		if (o + out_len >= size)
			break;
		memcpy(dst + o, out, out_len);
		o += out_len;
		p += n;
	}
	dst[o] = '\0';
	return dst;
}

char *text_sanitize(char *dst, size_t size, const char *src)
{
	return sanitize(dst, size, src, false);
}

char *text_sanitize_lines(char *dst, size_t size, const char *src)
{
	return sanitize(dst, size, src, true);
}

size_t text_controls(const char *s)
{
	size_t count = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = utf8_char_len(p);
		if (n == 0 ? is_raw_c1(*p) : utf8_is_control(p, n))
			count++;
		p += n ? n : 1;
	}
	return count;
}

usec_t token_bucket_take(TokenBucket *b, double rate, double burst, usec_t now)
{
	b->tokens = b->at == 0 ? burst : MIN(burst, b->tokens + (double)(now - b->at) * rate / 1e6);
	b->at = now;
	if (b->tokens >= 1) {
		b->tokens -= 1;
		return 0;
	}
	return (usec_t)((1 - b->tokens) * 1e6 / rate) + 1;
}

void user_name(uid_t uid, char *buf, size_t size)
{
	struct passwd pw, *res = NULL;
	char tmp[4096];
	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) == 0 && res)
		text_sanitize(buf, size, res->pw_name);
	else
		snprintf(buf, size, "%u", (unsigned)uid);
}

usec_t now_boottime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000;
}

usec_t now_realtime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000;
}

static bool is_dev_null(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(1, 3);
}

const char *file_type_name(mode_t mode)
{
	return S_ISREG(mode)    ? "a regular file"
	       : S_ISDIR(mode)  ? "a directory"
	       : S_ISFIFO(mode) ? "a FIFO"
	       : S_ISSOCK(mode) ? "a socket"
	       : S_ISCHR(mode)  ? "a character device"
	       : S_ISBLK(mode)  ? "a block device"
	                        : "of an unknown type";
}

ssize_t read_regular_file(const char *path, size_t max, char **ret, mode_t *ret_mode)
{
	struct stat st;
	/* stat() before open(): opening a device node can have effects of its own. */
	if (stat(path, &st) < 0)
		return -errno;
	*ret_mode = st.st_mode;
	if (is_dev_null(&st))
		return (*ret = strdup("")) ? 0 : -ENOMEM;
	if (!S_ISREG(st.st_mode))
		return -EBADFD;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* It may have been replaced since the stat(). */
	if (fstat(fd, &st) < 0)
		return -errno;
	*ret_mode = st.st_mode;
	if (!S_ISREG(st.st_mode))
		return -EBADFD;
	/* One byte beyond the limit tells a file that grew past it. */
	size_t size = 0, cap = MIN((size_t)st.st_size, max) + 1;
	_cleanup_free_ char *buf = malloc(cap + 1);
	if (!buf)
		return -ENOMEM;
	while (size <= max) {
		if (size == cap) {
			cap = MIN(cap * 2, max + 1);
			char *bigger = realloc(buf, cap + 1);
			if (!bigger)
				return -ENOMEM;
			buf = bigger;
		}
		ssize_t k = read(fd, buf + size, cap - size);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		size += (size_t)k;
	}
	if (size > max)
		return -EFBIG;
	buf[size] = '\0';
	*ret = buf;
	buf = NULL;
	return (ssize_t)size;
}

ssize_t read_small_fileat(int dirfd, const char *path, char *buf, size_t size)
{
	/* O_NONBLOCK: a FIFO under a configured root (SysfsRoot=) must not stop the checks. */
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	size_t n = 0;
	while (n + 1 < size) {
		ssize_t k = read(fd, buf + n, size - 1 - n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	buf[n] = '\0';
	return (ssize_t)n;
}

/* Reads dirfd/NAME/stat. Returns bytes (0 for a process that exited between open and read),
 * or -errno. */

ssize_t read_small_file(const char *path, char *buf, size_t size)
{
	return read_small_fileat(AT_FDCWD, path, buf, size);
}
