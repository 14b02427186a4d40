/* The Varlink server of varlink.h. One file although it is long: connection I/O, the per-uid
 * admission (shares, budgets, eviction) and the listening socket's life all work on the same
 * connection and user records, which no other file should see or change. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <stddef.h>

#include "log.h"
#include "macro.h"
#include "varlink.h"

/* Per-uid bookkeeping, kept after the uid's last connection closes so that reconnecting does
 * not refill its budget. */
typedef struct VarlinkUser {
	bool used;
	uid_t uid;
	unsigned n_conns;
	TokenBucket calls;
} VarlinkUser;

#define VARLINK_USERS_MAX   (2 * VARLINK_CLIENTS_MAX)
#define ACCEPT_BACKOFF_USEC (USEC_PER_SEC / 4)
#define PATH_CHECK_USEC     (2 * USEC_PER_SEC)

struct VarlinkConn {
	VarlinkServer *server;
	VarlinkConn *next;
	int fd;
	sd_event_source *io;
	sd_event_source *timer;  /* idle timeout, or the deadline of a message being read */
	sd_event_source *more;   /* on while raw holds bytes not yet parsed */
	sd_event_source *resume; /* while paused: when its uid may call again */
	VarlinkPeer peer;
	bool privileged;
	VarlinkUser *user; /* NULL for a privileged peer */
	char *in;
	size_t in_len;
	char raw[8192]; /* one recv(); parsed a message at a time */
	size_t raw_off, raw_len;
	char *out;
	size_t out_len;
	bool closing; /* close once the output is flushed */
	bool paused;  /* its uid's call budget is spent: not read until resume fires */
};

struct VarlinkServer {
	sd_event *event;
	int fd;
	bool own_path; /* we created the socket file (and remove it at the end) */
	char *path;
	mode_t mode;
	ino_t path_ino; /* the socket file's inode, to notice it deleted or replaced */
	bool path_lost; /* said so once */
	sd_event_source *accept_source;
	sd_event_source *accept_retry; /* armed while accept() fails for lack of resources */
	sd_event_source *path_check;
	bool accept_failing;
	VarlinkHandler handler;
	VarlinkPrivileged privileged;
	void *userdata;
	VarlinkConn *conns; /* newest first */
	unsigned n_conns;
	VarlinkUser users[VARLINK_USERS_MAX];
};

static usec_t now_monotonic(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000;
}

static void conn_free(VarlinkConn *c)
{
	VarlinkServer *s = c->server;
	for (VarlinkConn **p = &s->conns; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	s->n_conns--;
	if (c->user)
		c->user->n_conns--;
	sd_event_source_disable_unref(c->io);
	sd_event_source_disable_unref(c->timer);
	sd_event_source_disable_unref(c->more);
	sd_event_source_disable_unref(c->resume);
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

/* The entry of uid: its own, else a free one, else the one idle longest. */
static VarlinkUser *user_get(VarlinkServer *s, uid_t uid)
{
	VarlinkUser *pick = NULL;
	for (size_t i = 0; i < VARLINK_USERS_MAX; i++) {
		VarlinkUser *u = &s->users[i];
		if (u->used && u->uid == uid)
			return u;
		if (u->n_conns == 0 &&
		    (!pick || !u->used || (pick->used && u->calls.at < pick->calls.at)))
			pick = u;
	}
	if (pick)
		*pick = (VarlinkUser){ .used = true, .uid = uid };
	return pick;
}

/* 0 when the connection may make a call now (and takes it from its uid's budget), else how
 * long until it may. */
static usec_t conn_take_call(VarlinkConn *c, usec_t now)
{
	return c->user ? token_bucket_take(&c->user->calls, VARLINK_CALLS_PER_SEC,
	                                   VARLINK_CALLS_BURST, now)
	               : 0;
}

static int conn_update_events(VarlinkConn *c)
{
	if (c->closing && c->out_len == 0) {
		conn_free(c);
		return -ECONNRESET;
	}
	uint32_t ev = c->closing || c->paused ? 0 : EPOLLIN;
	if (c->out_len > 0)
		ev |= EPOLLOUT;
	if (ev == 0)
		return sd_event_source_set_enabled(c->io, SD_EVENT_OFF);
	(void)sd_event_source_set_enabled(c->io, SD_EVENT_ON);
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
		             .uid = c->peer.uid,
		             .pid = c->peer.pid,
		             .peer = &c->peer,
		             .privileged = c->privileged };
	c->server->handler(&call, c->server->userdata);
	if (!call.replied)
		varlink_error(&call, "org.varlink.service.MethodNotImplemented", NULL);
	json_object_put(msg);
}

static void conn_set_timer(VarlinkConn *c, usec_t usec)
{
	(void)sd_event_source_set_time_relative(c->timer, usec);
	(void)sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
}

static int on_conn_resume(sd_event_source *s, uint64_t usec, void *userdata);

/* Its uid spent its calls: stop reading it for a while (its idle timer keeps running). */
static int conn_pause(VarlinkConn *c, usec_t wait)
{
	c->paused = true;
	if (!c->resume)
		return sd_event_add_time_relative(c->server->event, &c->resume, CLOCK_MONOTONIC,
		                                  wait, 0, on_conn_resume, c);
	(void)sd_event_source_set_time_relative(c->resume, wait);
	return sd_event_source_set_enabled(c->resume, SD_EVENT_ONESHOT);
}

/* Dispatches at most one message per call. sd-event runs one source per loop iteration, the
 * highest priority first, so a client that pipelines thousands of requests in one write yields
 * to the check timer after each of them instead of holding the loop for the whole batch. */
static int conn_read(VarlinkConn *c)
{
	usec_t wait = conn_take_call(c, now_monotonic());
	if (wait > 0)
		return conn_pause(c, wait);
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
			conn_set_timer(c, VARLINK_IDLE_TIMEOUT_USEC);
			break;
		}
		if (c->in_len >= VARLINK_MESSAGE_MAX) {
			conn_protocol_error(c, "io.trnidle.MessageTooLarge",
			                    "a message is limited to 65536 bytes", true);
			break;
		}
		/* The deadline runs from a message's first byte: more bytes do not extend it. */
		if (c->in_len == 0)
			conn_set_timer(c, VARLINK_MESSAGE_DEADLINE_USEC);
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

static void conn_process(VarlinkConn *c, bool readable)
{
	int r = 0;

	if (readable && !c->paused)
		r = conn_read(c);
	if (r >= 0 && c->out_len > 0)
		r = conn_write(c);
	if (r < 0) {
		conn_free(c);
		return;
	}
	/* Requests already read wait for the next turn of the loop, not for more input. */
	(void)sd_event_source_set_enabled(
	        c->more,
	        c->raw_off < c->raw_len && !c->closing && !c->paused ? SD_EVENT_ON : SD_EVENT_OFF);
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

static int on_conn_resume(sd_event_source *s, uint64_t usec, void *userdata)
{
	VarlinkConn *c = userdata;
	c->paused = false;
	conn_process(c, true);
	return 0;
}

static int on_conn_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	conn_free(userdata);
	return 0;
}

static void refuse(int fd)
{
	/* Close at once, never queue work that could delay a check. */
	static const char busy[] = "{\"error\":\"io.trnidle.TooManyClients\",\"parameters\":{}}";
	(void)send(fd, busy, sizeof(busy), MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

/* Frees the oldest unprivileged connection for a privileged peer; false when there is none. */
static bool evict_unprivileged(VarlinkServer *s)
{
	VarlinkConn *oldest = NULL;
	for (VarlinkConn *c = s->conns; c; c = c->next)
		if (!c->privileged)
			oldest = c;
	if (!oldest)
		return false;
	conn_free(oldest);
	return true;
}

static void peer_read(int fd, VarlinkPeer *peer)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	*peer = (VarlinkPeer){ .uid = (uid_t)-1, .gid = (gid_t)-1 };
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		peer->uid = cred.uid;
		peer->gid = cred.gid;
		peer->pid = cred.pid;
	}
	len = sizeof(peer->groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, peer->groups, &len) == 0) {
		peer->n_groups = len / sizeof(gid_t);
		return;
	}
	/* More groups than fit (ERANGE, len says how many): keep the first ones. A peer whose
	 * admin group comes later is not recognised as one. */
	_cleanup_free_ gid_t *all = errno == ERANGE ? malloc(len) : NULL;
	if (all && getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, all, &len) == 0) {
		peer->n_groups = MIN(len / sizeof(gid_t), (size_t)VARLINK_PEER_GROUPS_MAX);
		memcpy(peer->groups, all, peer->n_groups * sizeof(gid_t));
	}
}

static bool peer_privileged(VarlinkServer *s, const VarlinkPeer *peer)
{
	return peer->uid == 0 || (s->privileged && s->privileged(peer, s->userdata));
}

/* EMFILE, ENFILE, ENOBUFS, ENOMEM: the pending connection stays queued and the socket stays
 * readable, so retrying at once would spin. Stop listening for a while, and say so once. */
static void accept_backoff(VarlinkServer *s, int err)
{
	if (!s->accept_failing)
		log_warning("control socket: cannot accept connections: %s; retrying every %llu ms "
		            "until it can",
		            strerror(err),
		            (unsigned long long)(ACCEPT_BACKOFF_USEC / USEC_PER_MSEC));
	s->accept_failing = true;
	(void)sd_event_source_set_enabled(s->accept_source, SD_EVENT_OFF);
	(void)sd_event_source_set_time_relative(s->accept_retry, ACCEPT_BACKOFF_USEC);
	(void)sd_event_source_set_enabled(s->accept_retry, SD_EVENT_ONESHOT);
}

static int on_accept_retry(sd_event_source *source, uint64_t usec, void *userdata)
{
	VarlinkServer *s = userdata;
	return sd_event_source_set_enabled(s->accept_source, SD_EVENT_ON);
}

static int conn_new(VarlinkServer *s, int cfd, const VarlinkPeer *peer, bool privileged,
                    VarlinkUser *user)
{
	VarlinkConn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(cfd);
		return -ENOMEM;
	}
	c->server = s;
	c->fd = cfd;
	c->peer = *peer;
	c->privileged = privileged;
	c->user = user;
	if (user)
		user->n_conns++;
	c->in = malloc(VARLINK_MESSAGE_MAX);
	c->next = s->conns;
	s->conns = c;
	s->n_conns++;
	if (!c->in || sd_event_add_io(s->event, &c->io, cfd, EPOLLIN, on_conn_io, c) < 0 ||
	    sd_event_add_time_relative(s->event, &c->timer, CLOCK_MONOTONIC,
	                               VARLINK_IDLE_TIMEOUT_USEC, 0, on_conn_timeout, c) < 0 ||
	    sd_event_add_defer(s->event, &c->more, on_conn_more, c) < 0) {
		conn_free(c);
		return -ENOMEM;
	}
	/* Checks run at a higher priority than any client. */
	(void)sd_event_source_set_priority(c->io, SD_EVENT_PRIORITY_IDLE);
	(void)sd_event_source_set_priority(c->more, SD_EVENT_PRIORITY_IDLE);
	(void)sd_event_source_set_enabled(c->more, SD_EVENT_OFF);
	return 0;
}

static int on_accept(sd_event_source *source, int fd, uint32_t revents, void *userdata)
{
	VarlinkServer *s = userdata;
	int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
			accept_backoff(s, errno);
		return 0;
	}
	if (s->accept_failing) {
		log_notice("control socket: accepting connections again");
		s->accept_failing = false;
	}
	VarlinkPeer peer;
	peer_read(cfd, &peer);
	bool privileged = peer_privileged(s, &peer);
	VarlinkUser *user = NULL;
	if (!privileged) {
		user = user_get(s, peer.uid);
		if (!user || user->n_conns >= VARLINK_CLIENTS_PER_UID) {
			refuse(cfd);
			return 0;
		}
	}
	if (s->n_conns >= VARLINK_CLIENTS_MAX && !(privileged && evict_unprivileged(s))) {
		refuse(cfd);
		return 0;
	}
	(void)conn_new(s, cfd, &peer, privileged, user);
	return 0;
}

static int listen_path(const char *path, mode_t mode, ino_t *ret_ino)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strscpy(sa.sun_path, sizeof(sa.sun_path), path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)unlink(path);
	/* The file gets its mode at bind(): no moment in which others may connect to a 0600
	 * socket. */
	mode_t old = umask(~mode & 0777);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || chmod(path, mode) < 0 || stat(path, &st) < 0 || listen(fd, SOMAXCONN) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	*ret_ino = st.st_ino;
	return fd;
}

static int server_listen_on(VarlinkServer *s, int fd)
{
	sd_event_source_disable_unref(s->accept_source);
	s->accept_source = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = fd;
	int r = sd_event_add_io(s->event, &s->accept_source, fd, EPOLLIN, on_accept, s);
	if (r < 0)
		return r;
	(void)sd_event_source_set_priority(s->accept_source, SD_EVENT_PRIORITY_IDLE);
	return 0;
}

/* Someone deleted (or replaced) the socket file: nobody new could reach us. Bind it anew;
 * the connections already open go on. */
static int on_path_check(sd_event_source *source, uint64_t usec, void *userdata)
{
	VarlinkServer *s = userdata;
	struct stat st;
	(void)sd_event_source_set_time_relative(source, PATH_CHECK_USEC);
	if (stat(s->path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == s->path_ino)
		return 0;
	ino_t ino;
	int fd = listen_path(s->path, s->mode, &ino);
	if (fd < 0 || server_listen_on(s, fd) < 0) {
		if (!s->path_lost)
			log_error("control socket %s is gone and cannot be created again: %s; "
			          "restart the service to reach it",
			          s->path, strerror(fd < 0 ? -fd : ENOMEM));
		s->path_lost = true;
		return 0;
	}
	log_warning("control socket %s was deleted or replaced; listening on a new one", s->path);
	s->path_ino = ino;
	s->own_path = true;
	s->path_lost = false;
	return 0;
}

/* The path of a socket systemd passed, and its file's inode, so that we notice it deleted. */
static int passed_socket_path(int fd, char **ret_path, ino_t *ret_ino)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	struct stat st;
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0 || sa.sun_family != AF_UNIX ||
	    len <= offsetof(struct sockaddr_un, sun_path) || sa.sun_path[0] == '\0')
		return -EINVAL;
	size_t n = len - offsetof(struct sockaddr_un, sun_path);
	_cleanup_free_ char *path = strndup(sa.sun_path, n);
	if (!path || stat(path, &st) < 0)
		return -ENOENT;
	*ret_path = path;
	path = NULL;
	*ret_ino = st.st_ino;
	return 0;
}

int varlink_server_new(sd_event *e, const char *path, int fd, mode_t mode, VarlinkHandler handler,
                       void *userdata, VarlinkServer **ret)
{
	VarlinkServer *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->event = sd_event_ref(e);
	s->handler = handler;
	s->userdata = userdata;
	s->mode = mode;
	s->fd = -1;
	int r;
	if (fd < 0) {
		s->own_path = true;
		s->path = strdup(path);
		fd = s->path ? listen_path(path, mode, &s->path_ino) : -ENOMEM;
		if (fd < 0) {
			varlink_server_free(s);
			return fd;
		}
	} else {
		(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		(void)passed_socket_path(fd, &s->path, &s->path_ino);
	}
	if ((r = server_listen_on(s, fd)) < 0 ||
	    (r = sd_event_add_time_relative(e, &s->accept_retry, CLOCK_MONOTONIC,
	                                    ACCEPT_BACKOFF_USEC, 0, on_accept_retry, s)) < 0 ||
	    (r = sd_event_source_set_enabled(s->accept_retry, SD_EVENT_OFF)) < 0 ||
	    (s->path &&
	     (r = sd_event_add_time_relative(e, &s->path_check, CLOCK_MONOTONIC, PATH_CHECK_USEC, 0,
	                                     on_path_check, s)) < 0)) {
		varlink_server_free(s);
		return r;
	}
	if (s->path_check) {
		(void)sd_event_source_set_priority(s->path_check, SD_EVENT_PRIORITY_IDLE);
		(void)sd_event_source_set_enabled(s->path_check, SD_EVENT_ON);
	}
	*ret = s;
	return 0;
}

void varlink_server_set_privileged(VarlinkServer *s, VarlinkPrivileged fn)
{
	s->privileged = fn;
}

/* Removes the socket file only while it is still ours (not one that replaced it). */
static void unlink_own_path(VarlinkServer *s)
{
	struct stat st;
	if (s->own_path && s->path && stat(s->path, &st) == 0 && st.st_ino == s->path_ino)
		(void)unlink(s->path);
}

VarlinkServer *varlink_server_free(VarlinkServer *s)
{
	if (!s)
		return NULL;
	while (s->conns)
		conn_free(s->conns);
	sd_event_source_disable_unref(s->accept_source);
	sd_event_source_disable_unref(s->accept_retry);
	sd_event_source_disable_unref(s->path_check);
	if (s->fd >= 0)
		close(s->fd);
	unlink_own_path(s);
	free(s->path);
	sd_event_unref(s->event);
	free(s);
	return NULL;
}

unsigned varlink_server_n_clients(const VarlinkServer *s)
{
	return s->n_conns;
}
