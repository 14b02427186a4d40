#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "log.h"
#include "macro.h"
#include "varlink.h"

struct VarlinkConn {
	VarlinkServer *server;
	VarlinkConn *next;
	int fd;
	sd_event_source *io;
	sd_event_source *timer;
	sd_event_source *more; /* on while raw holds bytes not yet parsed */
	uid_t uid;
	pid_t pid;
	char *in;
	size_t in_len;
	char raw[8192]; /* one recv(); parsed a message at a time */
	size_t raw_off, raw_len;
	char *out;
	size_t out_len;
	bool closing; /* close once the output is flushed */
};

struct VarlinkServer {
	sd_event *event;
	int fd;
	bool own_path;
	char *path;
	sd_event_source *accept_source;
	VarlinkHandler handler;
	void *userdata;
	VarlinkConn *conns;
	unsigned n_conns;
};

static void conn_free(VarlinkConn *c)
{
	VarlinkServer *s = c->server;
	for (VarlinkConn **p = &s->conns; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	s->n_conns--;
	sd_event_source_disable_unref(c->io);
	sd_event_source_disable_unref(c->timer);
	sd_event_source_disable_unref(c->more);
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

static int conn_update_events(VarlinkConn *c)
{
	uint32_t ev = c->closing ? 0 : EPOLLIN;
	if (c->out_len > 0)
		ev |= EPOLLOUT;
	if (ev == 0) {
		conn_free(c);
		return -ECONNRESET;
	}
	return sd_event_source_set_io_events(c->io, ev);
}

static void conn_queue(VarlinkConn *c, json_object *msg)
{
	const char *text = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN);
	size_t len = strlen(text) + 1;
	if (c->out_len + len > VARLINK_OUTPUT_MAX) {
		/* The client does not read its replies: it gets nothing more. */
		c->closing = true;
		c->out_len = 0;
		return;
	}
	char *n = realloc(c->out, c->out_len + len);
	if (!n) {
		c->closing = true;
		return;
	}
	memcpy(n + c->out_len, text, len);
	c->out = n;
	c->out_len += len;
}

void varlink_reply(VarlinkCall *call, json_object *params)
{
	if (call->replied || call->oneway) {
		json_object_put(params);
		call->replied = true;
		return;
	}
	json_object *m = json_object_new_object();
	json_object_object_add(m, "parameters", params ? params : json_object_new_object());
	conn_queue(call->conn, m);
	json_object_put(m);
	call->replied = true;
}

void varlink_error(VarlinkCall *call, const char *error, json_object *params)
{
	if (call->replied || call->oneway) {
		json_object_put(params);
		call->replied = true;
		return;
	}
	json_object *m = json_object_new_object();
	json_object_object_add(m, "error", json_object_new_string(error));
	json_object_object_add(m, "parameters", params ? params : json_object_new_object());
	conn_queue(call->conn, m);
	json_object_put(m);
	call->replied = true;
}

void varlink_error_invalid_parameter(VarlinkCall *call, const char *parameter)
{
	json_object *p = json_object_new_object();
	json_object_object_add(p, "parameter", json_object_new_string(parameter));
	varlink_error(call, "org.varlink.service.InvalidParameter", p);
}

int varlink_parse_message(const char *buf, size_t len, json_object **ret_msg,
                          const char **ret_method, json_object **ret_params, bool *ret_oneway,
                          char *err, size_t errlen)
{
	json_tokener *tok = json_tokener_new_ex(32);
	if (!tok) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	json_object *m = json_tokener_parse_ex(tok, buf, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t used = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	while (m && jerr == json_tokener_success && used < len && isspace((unsigned char)buf[used]))
		used++;
	if (!m || jerr != json_tokener_success || used != len) {
		snprintf(err, errlen, "not a JSON object: %s",
		         jerr == json_tokener_continue        ? "incomplete"
		         : !m || jerr != json_tokener_success ? json_tokener_error_desc(jerr)
		                                              : "trailing data");
		json_object_put(m);
		return -EBADMSG;
	}
	json_object *method, *params = NULL, *oneway = NULL;
	if (!json_object_is_type(m, json_type_object) ||
	    !json_object_object_get_ex(m, "method", &method) ||
	    !json_object_is_type(method, json_type_string)) {
		snprintf(err, errlen, "no \"method\" string");
		json_object_put(m);
		return -EBADMSG;
	}
	if (json_object_object_get_ex(m, "parameters", &params) && params &&
	    !json_object_is_type(params, json_type_object)) {
		snprintf(err, errlen, "\"parameters\" is not an object");
		json_object_put(m);
		return -EBADMSG;
	}
	if (!params) {
		params = json_object_new_object();
		json_object_object_add(m, "parameters", params);
	}
	if (json_object_object_get_ex(m, "oneway", &oneway) && oneway &&
	    !json_object_is_type(oneway, json_type_boolean)) {
		snprintf(err, errlen, "\"oneway\" is not a boolean");
		json_object_put(m);
		return -EBADMSG;
	}
	*ret_msg = m;
	*ret_method = json_object_get_string(method);
	*ret_params = params;
	*ret_oneway = oneway && json_object_get_boolean(oneway);
	return 0;
}

static void conn_protocol_error(VarlinkConn *c, const char *error, const char *why, bool close)
{
	VarlinkCall call = { .conn = c };
	json_object *p = json_object_new_object();
	json_object_object_add(p, "reason", json_object_new_string(why));
	varlink_error(&call, error, p);
	if (close)
		c->closing = true;
}

static void conn_dispatch(VarlinkConn *c, const char *buf, size_t len)
{
	json_object *msg, *params;
	const char *method;
	bool oneway;
	char err[256];

	if (varlink_parse_message(buf, len, &msg, &method, &params, &oneway, err, sizeof(err)) <
	    0) {
		conn_protocol_error(c, "io.trnidle.InvalidMessage", err, false);
		return;
	}
	VarlinkCall call = { .conn = c,
		             .method = method,
		             .parameters = params,
		             .oneway = oneway,
		             .uid = c->uid,
		             .pid = c->pid };
	c->server->handler(&call, c->server->userdata);
	if (!call.replied)
		varlink_error(&call, "org.varlink.service.MethodNotImplemented", NULL);
	json_object_put(msg);
}

/* Dispatches at most one message per call. sd-event runs one source per loop iteration, the
 * highest priority first, so a client that pipelines thousands of requests in one write yields
 * to the check timer after each of them instead of holding the loop for the whole batch. */
static int conn_read(VarlinkConn *c)
{
	if (c->raw_off == c->raw_len) {
		ssize_t n = recv(c->fd, c->raw, sizeof(c->raw), MSG_DONTWAIT);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		if (n == 0)
			return -ECONNRESET;
		c->raw_off = 0;
		c->raw_len = (size_t)n;
	}
	while (c->raw_off < c->raw_len && !c->closing) {
		char ch = c->raw[c->raw_off++];
		if (ch == '\0') {
			conn_dispatch(c, c->in, c->in_len);
			c->in_len = 0;
			break;
		}
		if (c->in_len >= VARLINK_MESSAGE_MAX) {
			conn_protocol_error(c, "io.trnidle.MessageTooLarge",
			                    "a message is limited to 65536 bytes", true);
			break;
		}
		c->in[c->in_len++] = ch;
	}
	return 0;
}

static int conn_write(VarlinkConn *c)
{
	while (c->out_len > 0) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	return 0;
}

static int conn_arm_timer(VarlinkConn *c)
{
	return sd_event_source_set_time_relative(c->timer, VARLINK_IDLE_TIMEOUT_USEC) < 0
	               ? -EIO
	               : sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
}

static void conn_process(VarlinkConn *c, bool readable)
{
	int r = 0;

	if (readable) {
		r = conn_read(c);
		if (r >= 0)
			(void)conn_arm_timer(c);
	}
	if (r >= 0 && c->out_len > 0)
		r = conn_write(c);
	if (r < 0) {
		conn_free(c);
		return;
	}
	/* Requests already read wait for the next turn of the loop, not for more input. */
	(void)sd_event_source_set_enabled(
	        c->more, c->raw_off < c->raw_len && !c->closing ? SD_EVENT_ON : SD_EVENT_OFF);
	(void)conn_update_events(c);
}

static int on_conn_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	conn_process(userdata, revents & (EPOLLIN | EPOLLHUP | EPOLLERR));
	return 0;
}

static int on_conn_more(sd_event_source *s, void *userdata)
{
	conn_process(userdata, true);
	return 0;
}

static int on_conn_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	conn_free(userdata);
	return 0;
}

static int on_accept(sd_event_source *source, int fd, uint32_t revents, void *userdata)
{
	VarlinkServer *s = userdata;
	int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return 0;
	if (s->n_conns >= VARLINK_CLIENTS_MAX) {
		/* Full: close at once, never queue work that could delay a check. */
		static const char busy[] = "{\"error\":\"io.trnidle.TooManyClients\","
		                           "\"parameters\":{}}";
		(void)send(cfd, busy, sizeof(busy), MSG_DONTWAIT | MSG_NOSIGNAL);
		close(cfd);
		return 0;
	}
	VarlinkConn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(cfd);
		return 0;
	}
	c->server = s;
	c->fd = cfd;
	c->uid = (uid_t)-1;
	c->pid = 0;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		c->uid = cred.uid;
		c->pid = cred.pid;
	}
	c->in = malloc(VARLINK_MESSAGE_MAX);
	c->next = s->conns;
	s->conns = c;
	s->n_conns++;
	if (!c->in || sd_event_add_io(s->event, &c->io, cfd, EPOLLIN, on_conn_io, c) < 0 ||
	    sd_event_add_time_relative(s->event, &c->timer, CLOCK_MONOTONIC,
	                               VARLINK_IDLE_TIMEOUT_USEC, 0, on_conn_timeout, c) < 0 ||
	    sd_event_add_defer(s->event, &c->more, on_conn_more, c) < 0) {
		conn_free(c);
		return 0;
	}
	/* Checks run at a higher priority than any client. */
	(void)sd_event_source_set_priority(c->io, SD_EVENT_PRIORITY_IDLE);
	(void)sd_event_source_set_priority(c->more, SD_EVENT_PRIORITY_IDLE);
	(void)sd_event_source_set_enabled(c->more, SD_EVENT_OFF);
	return 0;
}

static int listen_path(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strscpy(sa.sun_path, sizeof(sa.sun_path), path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0666) < 0 ||
	    listen(fd, SOMAXCONN) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

int varlink_server_new(sd_event *e, const char *path, int fd, VarlinkHandler handler,
                       void *userdata, VarlinkServer **ret)
{
	VarlinkServer *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->event = sd_event_ref(e);
	s->handler = handler;
	s->userdata = userdata;
	s->fd = fd;
	if (fd < 0) {
		s->fd = listen_path(path);
		s->own_path = true;
		s->path = strdup(path);
		if (s->fd < 0) {
			int r = s->fd;
			varlink_server_free(s);
			return r;
		}
	} else {
		(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	}
	int r = sd_event_add_io(e, &s->accept_source, s->fd, EPOLLIN, on_accept, s);
	if (r < 0) {
		varlink_server_free(s);
		return r;
	}
	(void)sd_event_source_set_priority(s->accept_source, SD_EVENT_PRIORITY_IDLE);
	*ret = s;
	return 0;
}

VarlinkServer *varlink_server_free(VarlinkServer *s)
{
	if (!s)
		return NULL;
	while (s->conns)
		conn_free(s->conns);
	sd_event_source_disable_unref(s->accept_source);
	if (s->fd >= 0)
		close(s->fd);
	if (s->own_path && s->path)
		(void)unlink(s->path);
	free(s->path);
	sd_event_unref(s->event);
	free(s);
	return NULL;
}

unsigned varlink_server_n_clients(const VarlinkServer *s)
{
	return s->n_conns;
}
