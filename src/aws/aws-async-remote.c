/* The remote AwsAsync: one long-lived Varlink connection to trnidled-aws. Requests are written
 * and replies read by an sd-event io source, one call at a time in the order submitted, each
 * bounded by a deadline timer with the budget the in-process call has, so the check loop never
 * waits for the agent. A call that gets no reply in time fails as an unreachable AWS does
 * (-EHOSTUNREACH; a stop attempt -EAGAIN) and the connection is closed, so that a late reply
 * is never taken for the next call's; the next call connects anew. The daemon parses nothing
 * from the network: only the agent's small, checked JSON (aws-wire.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "aws-async.h"

typedef struct RemoteOp {
	const char *method;
	int budget_ms;
	json_object *(*params)(const AwsCall *c); /* NULL: {} */
	/* The reply's parameters into the call's outputs; < 0 with a reason in c->err. */
	int (*read)(AwsCall *c, json_object *p);
} RemoteOp;

static json_object *stop_params(const AwsCall *c)
{
	return aws_wire_stop_request(&c->target, c->dry_run);
}

static json_object *metrics_params(const AwsCall *c)
{
	return aws_wire_metrics(&c->target, c->metrics, c->n_metrics);
}

static json_object *publish_params(const AwsCall *c)
{
	return aws_wire_publish(c->subject, c->message);
}

static int read_identity(AwsCall *c, json_object *p)
{
	return aws_wire_read_identity(p, &c->identity, c->err, sizeof(c->err));
}

static int read_notice(AwsCall *c, json_object *p)
{
	return aws_wire_read_notice(p, &c->notice, c->err, sizeof(c->err));
}

static int read_rebalance(AwsCall *c, json_object *p)
{
	return aws_wire_read_rebalance(p, c->notice_time, sizeof(c->notice_time), c->err,
	                               sizeof(c->err));
}

static const RemoteOp remote_table[_AWS_OP_MAX] = {
	[AWS_OP_IDENTIFY] = { AWS_METHOD_IDENTIFY, AWS_IDENTIFY_BUDGET_MS, NULL, read_identity },
	[AWS_OP_SPOT] = { AWS_METHOD_SPOT, AWS_SPOT_BUDGET_MS, NULL, read_notice },
	[AWS_OP_REBALANCE] = { AWS_METHOD_REBALANCE, AWS_SPOT_BUDGET_MS, NULL, read_rebalance },
	[AWS_OP_STOP] = { AWS_METHOD_STOP, AWS_STOP_BUDGET_MS, stop_params, NULL },
	[AWS_OP_METRICS] = { AWS_METHOD_METRICS, AWS_METRICS_BUDGET_MS, metrics_params, NULL },
	[AWS_OP_PUBLISH] = { AWS_METHOD_PUBLISH, AWS_PUBLISH_BUDGET_MS, publish_params, NULL },
	/* The agent reads the same files, so it re-reads them when the daemon does. */
	[AWS_OP_RELOAD] = { AWS_METHOD_RELOAD, AWS_RELOAD_BUDGET_MS, NULL, NULL },
};

typedef struct RemoteAsync {
	AwsAsync base;
	char *path;
	int fd; /* -1: not connected */
	sd_event_source *io, *deadline, *kick;
	AwsCall *queue; /* the head is in flight while busy */
	bool busy;
	bool reused;  /* the connection answered a call before this one */
	bool retried; /* the head was sent again on a fresh connection */
	char *out;    /* the request being written */
	size_t out_len, out_done;
	char *in; /* the reply being read */
	size_t in_len;
} RemoteAsync;

/* A call that got no reply: like not reaching AWS, worth another attempt (-EHOSTUNREACH),
 * unless the agent answered garbage. A stop attempt says so in its result. */
static void fail_transport(const char *path, AwsCall *c, int r)
{
	snprintf(c->err, sizeof(c->err), "the AWS agent at %s: %s%s", path,
	         r == -ETIMEDOUT ? "no answer within the time budget" : strerror(-r),
	         r == -ENOENT || r == -ECONNREFUSED ? " (is trnidled-aws.socket running?)" : "");
	c->r = r == -EBADMSG || r == -EMSGSIZE ? -EPROTO : -EHOSTUNREACH;
	if (c->op != AWS_OP_STOP)
		return;
	c->result = (ActionResult){ .path = "ec2" };
	snprintf(c->result.message, sizeof(c->result.message), "StopInstances: %s", c->err);
	/* An unreachable agent is retried like an unreachable EC2, then the fallback. */
	if (c->r == -EHOSTUNREACH)
		c->r = -EAGAIN;
}

static void read_stop_reply(AwsCall *c, const VarlinkReply *reply)
{
	(void)aws_wire_read_action_result(reply->parameters, &c->result);
	c->r = 0;
	if (!reply->error)
		return;
	c->r = aws_wire_read_error(reply, c->err, sizeof(c->err));
	if (!c->result.message[0] || c->r == -EPERM || c->r == -EPROTO)
		snprintf(c->result.message, sizeof(c->result.message), "StopInstances: %s", c->err);
}

static void read_reply(AwsCall *c, const VarlinkReply *reply)
{
	const RemoteOp *op = &remote_table[c->op];
	if (c->op == AWS_OP_STOP)
		return read_stop_reply(c, reply);
	if (reply->error) {
		c->r = aws_wire_read_error(reply, c->err, sizeof(c->err));
		return;
	}
	c->r = op->read ? op->read(c, reply->parameters) : 0;
	if (c->r < 0) {
		char why[256];
		strscpy(why, sizeof(why), c->err);
		snprintf(c->err, sizeof(c->err), "the AWS agent's answer is unreadable: %s", why);
		c->r = -EPROTO;
	}
}

static void disconnect(RemoteAsync *ra)
{
	ra->io = sd_event_source_disable_unref(ra->io);
	if (ra->fd >= 0)
		close(ra->fd);
	ra->fd = -1;
	ra->reused = false;
}

/* The head call is over (its outputs filled): hand it back, then the next one. */
static void complete(RemoteAsync *ra)
{
	AwsCall *c = ra->queue;
	ra->queue = c->next;
	ra->busy = false;
	ra->retried = false;
	free(ra->out);
	free(ra->in);
	ra->out = ra->in = NULL;
	ra->out_len = ra->out_done = ra->in_len = 0;
	(void)sd_event_source_set_enabled(ra->deadline, SD_EVENT_OFF);
	if (ra->queue)
		(void)sd_event_source_set_enabled(ra->kick, SD_EVENT_ONESHOT);
	aws_call_finish(c);
}

static void send_head(RemoteAsync *ra);

/* The connection failed under the head call. One that had answered before may just have been
 * closed by the agent for being idle: then the call goes once more on a fresh connection. */
static void connection_failed(RemoteAsync *ra, int r)
{
	bool again = ra->reused && ra->in_len == 0 && !ra->retried && r != -ETIMEDOUT;
	disconnect(ra);
	if (again) {
		ra->retried = true;
		return send_head(ra);
	}
	fail_transport(ra->path, ra->queue, r);
	complete(ra);
}

static int on_reply_bytes(RemoteAsync *ra)
{
	char buf[4096];
	for (;;) {
		ssize_t n = recv(ra->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		if (ra->in_len + (size_t)n > AWS_REPLY_MAX)
			return -EMSGSIZE;
		char *in = realloc(ra->in, ra->in_len + (size_t)n + 1);
		if (!in)
			return -ENOMEM;
		ra->in = in;
		memcpy(in + ra->in_len, buf, (size_t)n);
		char *nul = memchr(in + ra->in_len, '\0', (size_t)n);
		ra->in_len += (size_t)n;
		if (!nul)
			continue;
		VarlinkReply reply;
		/* One call, one reply: anything after the NUL is not ours. */
		if (nul + 1 != in + ra->in_len ||
		    varlink_parse_reply(in, (size_t)(nul - in), &reply) < 0)
			return -EBADMSG;
		read_reply(ra->queue, &reply);
		varlink_reply_done(&reply);
		ra->reused = true;
		complete(ra);
		return 1;
	}
}

static int flush_request(RemoteAsync *ra)
{
	while (ra->out_done < ra->out_len) {
		ssize_t n = send(ra->fd, ra->out + ra->out_done, ra->out_len - ra->out_done,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0)
			return -errno;
		ra->out_done += (size_t)n;
	}
	return sd_event_source_set_io_events(ra->io, EPOLLIN);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	RemoteAsync *ra = userdata;
	int r = 0;
	if (!ra->busy) {
		/* Nothing asked: the agent hung up an idle connection (or said something). */
		disconnect(ra);
		return 0;
	}
	if (ra->out_done < ra->out_len)
		r = flush_request(ra);
	if (r >= 0 && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		r = on_reply_bytes(ra);
	if (r < 0)
		connection_failed(ra, r);
	return 0;
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
	RemoteAsync *ra = userdata;
	if (ra->busy)
		connection_failed(ra, -ETIMEDOUT);
	return 0;
}

static char *request_text(const AwsCall *c)
{
	const RemoteOp *op = &remote_table[c->op];
	json_object *req = json_object_new_object();
	if (!req)
		return NULL;
	json_object_object_add(req, "method", json_object_new_string(op->method));
	json_object *p = op->params ? op->params(c) : NULL;
	json_object_object_add(req, "parameters", p ? p : json_object_new_object());
	const char *text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	char *copy = text ? strdup(text) : NULL;
	json_object_put(req);
	return copy;
}

/* Sends the head call, connecting first when there is no connection. */
static void send_head(RemoteAsync *ra)
{
	AwsCall *c = ra->queue;
	int r;
	ra->busy = true;
	free(ra->in);
	ra->in = NULL;
	ra->in_len = ra->out_done = 0;
	if (!ra->out) {
		if (!(ra->out = request_text(c)))
			return connection_failed(ra, -ENOMEM);
		ra->out_len = strlen(ra->out) + 1; /* with its NUL */
		sd_event_source_set_time_relative(ra->deadline,
		                                  (uint64_t)remote_table[c->op].budget_ms * 1000);
		sd_event_source_set_enabled(ra->deadline, SD_EVENT_ONESHOT);
	}
	if (ra->fd < 0) {
		if ((ra->fd = varlink_connect(ra->path)) < 0) {
			r = ra->fd;
			ra->fd = -1;
			return connection_failed(ra, r);
		}
		r = sd_event_add_io(sd_event_source_get_event(ra->kick), &ra->io, ra->fd,
		                    EPOLLIN | EPOLLOUT, on_io, ra);
		if (r < 0)
			return connection_failed(ra, r);
	} else if ((r = sd_event_source_set_io_events(ra->io, EPOLLIN | EPOLLOUT)) < 0)
		return connection_failed(ra, r);
}

static int on_kick(sd_event_source *s, void *userdata)
{
	RemoteAsync *ra = userdata;
	if (!ra->busy && ra->queue)
		send_head(ra);
	return 0;
}

static int remote_submit(AwsAsync *a, AwsCall *call)
{
	RemoteAsync *ra = (RemoteAsync *)a;
	AwsCall **p = &ra->queue;
	while (*p)
		p = &(*p)->next;
	*p = call;
	/* From the loop, never from here: done must not run inside submit. */
	if (!ra->busy)
		(void)sd_event_source_set_enabled(ra->kick, SD_EVENT_ONESHOT);
	return 0;
}

static void remote_run_blocking(AwsAsync *a, AwsCall *c)
{
	RemoteAsync *ra = (RemoteAsync *)a;
	const RemoteOp *op = &remote_table[c->op];
	VarlinkReply reply;
	int r = varlink_call(ra->path, op->method, op->params ? op->params(c) : NULL, op->budget_ms,
	                     AWS_REPLY_MAX, &reply);
	if (r < 0)
		return fail_transport(ra->path, c, r);
	read_reply(c, &reply);
	varlink_reply_done(&reply);
}

static void remote_free(AwsAsync *a)
{
	RemoteAsync *ra = (RemoteAsync *)a;
	disconnect(ra);
	while (ra->queue) {
		AwsCall *next = ra->queue->next;
		free(ra->queue);
		ra->queue = next;
	}
	sd_event_source_disable_unref(ra->deadline);
	sd_event_source_disable_unref(ra->kick);
	free(ra->out);
	free(ra->in);
	free(ra->path);
	free(ra);
}

static const AwsAsyncOps remote_ops = {
	.submit = remote_submit,
	.run_blocking = remote_run_blocking,
	.free = remote_free,
};

int aws_async_new_remote(sd_event *e, const char *socket_path, AwsAsync **ret)
{
	RemoteAsync *ra = calloc(1, sizeof(*ra));
	if (!ra)
		return -ENOMEM;
	ra->base.ops = &remote_ops;
	ra->fd = -1;
	int r = (ra->path = strdup(socket_path)) ? 0 : -ENOMEM;
	if (r >= 0)
		r = sd_event_add_time(e, &ra->deadline, CLOCK_MONOTONIC, USEC_INFINITY, 0,
		                      on_deadline, ra);
	if (r >= 0)
		r = sd_event_source_set_enabled(ra->deadline, SD_EVENT_OFF);
	if (r >= 0)
		r = sd_event_add_defer(e, &ra->kick, on_kick, ra);
	if (r >= 0)
		r = sd_event_source_set_enabled(ra->kick, SD_EVENT_OFF);
	if (r < 0) {
		remote_free(&ra->base);
		return r;
	}
	*ret = &ra->base;
	return 0;
}
