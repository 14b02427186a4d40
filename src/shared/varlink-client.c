#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "macro.h"
#include "varlink-client.h"

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until deadline. Returns 0 when ready, -ETIMEDOUT, or -errno. */
static int wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		long long left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = events };
		int r = poll(&p, 1, (int)MIN(left, 60000LL));
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0)
			return 0;
	}
}

int varlink_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strscpy(sa.sun_path, sizeof(sa.sun_path), path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* An AF_UNIX connect never waits: it succeeds, or fails with EAGAIN on a full queue. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static int send_all(int fd, const char *buf, size_t len, long long deadline)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			int r = wait_fd(fd, POLLOUT, deadline);
			if (r < 0)
				return r;
			continue;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads up to the first NUL. *ret is malloc'd and NUL-terminated; *ret_len excludes the NUL. */
static int recv_message(int fd, size_t max, long long deadline, char **ret, size_t *ret_len)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len == cap) {
			if (cap >= max) {
				free(buf);
				return -EMSGSIZE;
			}
			char *n = realloc(buf, MIN(cap * 2, max));
			if (!n) {
				free(buf);
				return -ENOMEM;
			}
			buf = n;
			cap = MIN(cap * 2, max);
		}
		ssize_t n = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			int r = errno == EINTR ? 0 : wait_fd(fd, POLLIN, deadline);
			if (r < 0) {
				free(buf);
				return r;
			}
			continue;
		}
		if (n <= 0) {
			free(buf);
			return n < 0 ? -errno : -ECONNRESET;
		}
		char *nul = memchr(buf + len, '\0', (size_t)n);
		len += (size_t)n;
		if (nul) {
			/* One call, one reply: anything after the NUL is not ours. */
			*ret_len = (size_t)(nul - buf);
			*ret = buf;
			return 0;
		}
	}
}

int varlink_parse_reply(const char *buf, size_t len, VarlinkReply *ret)
{
	json_tokener *tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	json_object *m = json_tokener_parse_ex(tok, buf, (int)len);
	bool complete = json_tokener_get_error(tok) == json_tokener_success &&
	                json_tokener_get_parse_end(tok) == len;
	json_tokener_free(tok);
	json_object *error = NULL, *params = NULL;
	if (!m || !complete || !json_object_is_type(m, json_type_object) ||
	    (json_object_object_get_ex(m, "error", &error) &&
	     !json_object_is_type(error, json_type_string)) ||
	    (json_object_object_get_ex(m, "parameters", &params) && params &&
	     !json_object_is_type(params, json_type_object))) {
		json_object_put(m);
		return -EBADMSG;
	}
	if (!params) {
		params = json_object_new_object();
		json_object_object_add(m, "parameters", params);
	}
	*ret = (VarlinkReply){ .msg = m,
		               .error = error ? json_object_get_string(error) : NULL,
		               .parameters = params };
	return 0;
}

void varlink_reply_done(VarlinkReply *r)
{
	json_object_put(r->msg);
	*r = (VarlinkReply){ 0 };
}

int varlink_call_fd(int fd, const char *method, json_object *params, int timeout_ms,
                    size_t reply_max, VarlinkReply *ret)
{
	long long deadline = now_ms() + timeout_ms;
	json_object *req = json_object_new_object();
	if (!req) {
		json_object_put(params);
		return -ENOMEM;
	}
	json_object_object_add(req, "method", json_object_new_string(method));
	json_object_object_add(req, "parameters", params ? params : json_object_new_object());
	const char *text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	int r = send_all(fd, text, strlen(text) + 1, deadline);
	json_object_put(req);
	/* A server that turns us away (TooManyClients) answers and hangs up at once, perhaps
	 * before our request is through: what it said is still there to read. */
	if (r < 0 && r != -EPIPE && r != -ECONNRESET)
		return r;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int q = recv_message(fd, reply_max, deadline, &buf, &len);
	if (q < 0)
		return r < 0 ? r : q;
	return varlink_parse_reply(buf, len, ret);
}

int varlink_call(const char *path, const char *method, json_object *params, int timeout_ms,
                 size_t reply_max, VarlinkReply *ret)
{
	int fd = varlink_connect(path);
	if (fd < 0) {
		json_object_put(params);
		return fd;
	}
	int r = varlink_call_fd(fd, method, params, timeout_ms, reply_max, ret);
	close(fd);
	return r;
}
