/* Small helpers every file uses. systemd has richer ones, but they live in its internal
 * src/basic and are not part of public libsystemd, so the few we need are here. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

typedef uint64_t usec_t;

#define USEC_PER_MSEC   ((usec_t)1000ULL)
#define USEC_PER_SEC    ((usec_t)1000000ULL)
#define USEC_PER_MINUTE (60ULL * USEC_PER_SEC)
#define USEC_PER_HOUR   (60ULL * USEC_PER_MINUTE)
#define USEC_PER_DAY    (24ULL * USEC_PER_HOUR)
#define USEC_INFINITY   ((usec_t)UINT64_MAX)

#define ELEMENTSOF(x)   (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b)       ((a) < (b) ? (a) : (b))
#define MAX(a, b)       ((a) > (b) ? (a) : (b))
#define streq(a, b)     (strcmp((a), (b)) == 0)
#define strneq(a, b, n) (strncmp((a), (b), (n)) == 0)

#define _cleanup_(f)   __attribute__((cleanup(f)))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _unused_       __attribute__((unused))

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline const char *strempty(const char *s)
{
	return s ? s : "";
}

static inline const char *startswith(const char *s, const char *prefix)
{
	size_t l = strlen(prefix);
	return strncmp(s, prefix, l) == 0 ? s + l : NULL;
}

/* CLOCK_BOOTTIME now: the clock of every check, hold and grace (it ignores wall-clock jumps
 * and keeps counting through suspend). */
usec_t now_boottime(void);
/* CLOCK_REALTIME now: for what people read as dates (the verdict history). */
usec_t now_realtime(void);

/* Copy with truncation; always NUL-terminates. Returns dst. */
char *strscpy(char *dst, size_t size, const char *src);
/* The user name of uid, or the number when it has none. */
void user_name(uid_t uid, char *buf, size_t size);
/* Copies untrusted text (a hold reason, a process name or command line, a user or inhibitor
 * name) for terminals and parsers: C0 controls, DEL and C1 controls are dropped, both as raw
 * bytes and in their UTF-8 form (U+0080..U+009F); any other invalid UTF-8 becomes U+FFFD; the
 * copy is cut at size without splitting a character. dst may be src. Returns dst. */
char *text_sanitize(char *dst, size_t size, const char *src);
/* The same, keeping line breaks: for the multi-line text trnidlectl prints. */
char *text_sanitize_lines(char *dst, size_t size, const char *src);
/* How many control characters (as text_sanitize drops them) s holds. */
size_t text_controls(const char *s);
/* A token bucket: burst calls at once, then rate per second. A zeroed one is full. */
typedef struct TokenBucket {
	double tokens;
	usec_t at; /* when tokens was last brought up to date; 0: never (full) */
} TokenBucket;
/* Takes a token at now: 0 if there was one, else how long until there is (nothing taken). */
usec_t token_bucket_take(TokenBucket *b, double rate, double burst, usec_t now);
/* snprintf that appends at the end of what dst already holds. */
void strappendf(char *dst, size_t size, const char *fmt, ...) _printf_(3, 4);

/* Reads a whole small file relative to dirfd (AT_FDCWD for a plain path) into buf,
 * NUL-terminated, never blocking on a FIFO. Returns the bytes read or -errno. */
ssize_t read_small_fileat(int dirfd, const char *path, char *buf, size_t size);
/* Reads a whole small file (/proc, /sys) into buf, NUL-terminated. Returns bytes or -errno. */
ssize_t read_small_file(const char *path, char *buf, size_t size);

/* Reads a file that root names (configuration, state) whole and NUL-terminated into *ret,
 * never blocking and never beyond max bytes: a FIFO blocked the daemon until someone wrote to
 * it, /dev/zero grew it by hundreds of MB. /dev/null reads as empty (it masks a drop-in).
 * Returns the length; -EBADFD when it is not a regular file (its type in *ret_mode), -EFBIG
 * when it holds more than max bytes, or another -errno. */
ssize_t read_regular_file(const char *path, size_t max, char **ret, mode_t *ret_mode);
/* "a FIFO", "a directory", ... for messages. */
const char *file_type_name(mode_t mode);

/* NULL-terminated string vectors (lists in the config). */
char **strv_free(char **l);
size_t strv_length(char *const *l);
int strv_push(char ***l, const char *s);
char **strv_copy(char *const *l);
/* Split on white space, honouring "double" and 'single' quotes. Returns -EINVAL on an
 * unterminated quote. */
int strv_split_quoted(const char *s, char ***ret);
char *strv_join(char *const *l, const char *sep);

static inline void strv_freep(char ***l)
{
	strv_free(*l);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)
