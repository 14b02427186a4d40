/* The remote AwsAsync against a stand-in agent on the same event loop: replies are taken from
 * an io source, a call without a reply fails at its deadline as an unreachable AWS does, one
 * connection serves call after call, and a connection the agent closed while idle is replaced
 * without failing the next call. */
#include "check-main.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "aws-async.h"

typedef enum Mode {
	MODE_IDENTITY,         /* a valid Identify reply */
	MODE_SILENT,           /* reads, never answers */
	MODE_GARBAGE,          /* answers something that is not a Varlink reply */
	MODE_HANG_UP,          /* closes without answering */
	MODE_IDENTITY_HANG_UP, /* answers, then closes the connection (an idle timeout) */
} Mode;

typedef struct Agent {
	sd_event *event;
	Mode mode;
	int listen_fd;
	sd_event_source *listener, *conn;
	unsigned accepted, requests;
	char path[108];
	/* the calls' outcomes */
	int r[4];
	char err[4][768];
	ActionResult result;
	unsigned done;
	unsigned want;
} Agent;

static const char identity[] =
        "{\"parameters\":{\"instance_id\":\"i-1\",\"region\":\"us-east-2\",\"life_cycle\":"
        "\"spot\"}}";

static int on_conn(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	Agent *a = userdata;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n <= 0 || !memchr(buf, '\0', (size_t)n)) {
		if (n <= 0)
			a->conn = sd_event_source_disable_unref(a->conn);
		return 0;
	}
	a->requests++;
	if (a->mode == MODE_IDENTITY || a->mode == MODE_IDENTITY_HANG_UP)
		ck_assert_int_eq(write(fd, identity, sizeof(identity)), (ssize_t)sizeof(identity));
	if (a->mode == MODE_GARBAGE)
		ck_assert_int_eq(write(fd, "nonsense", 9), 9);
	if (a->mode == MODE_HANG_UP || a->mode == MODE_IDENTITY_HANG_UP)
		a->conn = sd_event_source_disable_unref(a->conn);
	return 0;
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	Agent *a = userdata;
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	ck_assert_int_ge(c, 0);
	a->accepted++;
	sd_event_source_disable_unref(a->conn);
	ck_assert_int_ge(sd_event_add_io(a->event, &a->conn, c, EPOLLIN, on_conn, a), 0);
	ck_assert_int_ge(sd_event_source_set_io_fd_own(a->conn, true), 0);
	return 0;
}

static void agent_start(Agent *a, Mode mode)
{
	*a = (Agent){ .mode = mode };
	ck_assert_int_ge(sd_event_new(&a->event), 0);
	snprintf(a->path, sizeof(a->path), "/tmp/trnidled-aws-async-%d.sock", (int)getpid());
	unlink(a->path);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strscpy(sa.sun_path, sizeof(sa.sun_path), a->path);
	a->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(a->listen_fd, 0);
	ck_assert_int_eq(bind(a->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(a->listen_fd, 8), 0);
	ck_assert_int_ge(
	        sd_event_add_io(a->event, &a->listener, a->listen_fd, EPOLLIN, on_accept, a), 0);
}

static void agent_stop(Agent *a)
{
	sd_event_source_disable_unref(a->conn);
	sd_event_source_disable_unref(a->listener);
	close(a->listen_fd);
	unlink(a->path);
	sd_event_unref(a->event);
}

static void on_done(AwsCall *call, void *userdata)
{
	Agent *a = userdata;
	a->r[a->done] = call->r;
	strscpy(a->err[a->done], sizeof(a->err[0]), call->err);
	a->result = call->result;
	a->done++;
}

/* Submits n calls of op one after the other's end and runs the loop until all are done. */
static void run_calls(Agent *a, AwsAsync *client, AwsOp op, unsigned n)
{
	a->want = a->done + n;
	for (unsigned i = 0; i < n; i++) {
		AwsCall *call = aws_call_new(op);
		ck_assert_ptr_nonnull(call);
		strscpy(call->target.instance_id, sizeof(call->target.instance_id), "i-1");
		strscpy(call->target.region, sizeof(call->target.region), "us-east-2");
		ck_assert_int_eq(aws_async_submit(client, call, on_done, a), 0);
	}
	/* done never comes from inside submit */
	ck_assert_uint_eq(a->done, a->want - n);
	while (a->done < a->want)
		ck_assert_int_ge(sd_event_run(a->event, UINT64_MAX), 0);
}

START_TEST(test_calls_share_one_connection)
{
	Agent a;
	AwsAsync *client;
	agent_start(&a, MODE_IDENTITY);
	ck_assert_int_eq(aws_async_new_remote(a.event, a.path, &client), 0);
	run_calls(&a, client, AWS_OP_IDENTIFY, 3);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(a.r[i], 0);
	ck_assert_uint_eq(a.requests, 3);
	ck_assert_uint_eq(a.accepted, 1);
	aws_async_free(client);
	agent_stop(&a);
}
END_TEST

START_TEST(test_a_connection_closed_while_idle_is_replaced)
{
	Agent a;
	AwsAsync *client;
	agent_start(&a, MODE_IDENTITY_HANG_UP);
	ck_assert_int_eq(aws_async_new_remote(a.event, a.path, &client), 0);
	run_calls(&a, client, AWS_OP_IDENTIFY, 1);
	run_calls(&a, client, AWS_OP_IDENTIFY, 1);
	ck_assert_int_eq(a.r[0], 0);
	ck_assert_int_eq(a.r[1], 0);
	ck_assert_uint_eq(a.accepted, 2);
	aws_async_free(client);
	agent_stop(&a);
}
END_TEST

START_TEST(test_no_reply_fails_at_the_deadline)
{
	Agent a;
	AwsAsync *client;
	agent_start(&a, MODE_SILENT);
	ck_assert_int_eq(aws_async_new_remote(a.event, a.path, &client), 0);
	usec_t t0 = now_boottime();
	run_calls(&a, client, AWS_OP_SPOT, 1);
	usec_t took = now_boottime() - t0;
	ck_assert_int_eq(a.r[0], -EHOSTUNREACH);
	ck_assert_ptr_nonnull(strstr(a.err[0], "no answer within the time budget"));
	ck_assert_uint_ge(took, (usec_t)AWS_SPOT_BUDGET_MS * 1000 - 50000);
	ck_assert_uint_le(took, (usec_t)AWS_SPOT_BUDGET_MS * 1000 + 2 * USEC_PER_SEC);
	aws_async_free(client);
	agent_stop(&a);
}
END_TEST

START_TEST(test_a_stop_without_reply_is_worth_another_attempt)
{
	Agent a;
	AwsAsync *client;
	agent_start(&a, MODE_HANG_UP);
	ck_assert_int_eq(aws_async_new_remote(a.event, a.path, &client), 0);
	run_calls(&a, client, AWS_OP_STOP, 1);
	ck_assert_int_eq(a.r[0], -EAGAIN);
	ck_assert_str_eq(a.result.path, "ec2");
	ck_assert_ptr_nonnull(strstr(a.result.message, "StopInstances: the AWS agent at"));
	aws_async_free(client);
	agent_stop(&a);
}
END_TEST

START_TEST(test_garbage_is_a_protocol_error)
{
	Agent a;
	AwsAsync *client;
	agent_start(&a, MODE_GARBAGE);
	ck_assert_int_eq(aws_async_new_remote(a.event, a.path, &client), 0);
	run_calls(&a, client, AWS_OP_IDENTIFY, 1);
	ck_assert_int_eq(a.r[0], -EPROTO);
	aws_async_free(client);
	agent_stop(&a);
}
END_TEST

START_TEST(test_nobody_listening)
{
	Agent a;
	AwsAsync *client;
	agent_start(&a, MODE_IDENTITY);
	ck_assert_int_eq(aws_async_new_remote(a.event, "/nonexistent/agent.sock", &client), 0);
	run_calls(&a, client, AWS_OP_IDENTIFY, 1);
	ck_assert_int_eq(a.r[0], -EHOSTUNREACH);
	ck_assert_ptr_nonnull(strstr(a.err[0], "is trnidled-aws.socket running?"));
	aws_async_free(client);
	agent_stop(&a);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("aws-async");
	TCase *tc = tcase_create("remote");
	tcase_add_test(tc, test_calls_share_one_connection);
	tcase_add_test(tc, test_a_connection_closed_while_idle_is_replaced);
	tcase_add_test(tc, test_no_reply_fails_at_the_deadline);
	tcase_add_test(tc, test_a_stop_without_reply_is_worth_another_attempt);
	tcase_add_test(tc, test_garbage_is_a_protocol_error);
	tcase_add_test(tc, test_nobody_listening);
	suite_add_tcase(s, tc);
	return s;
}
