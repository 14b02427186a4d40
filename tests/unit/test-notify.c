/* SNS notifications: the topic ARN, the Publish body, what each message says, who was on the
 * machine last, and the agent's checks of a Publish request. */
#include "check-main.h"
#include <errno.h>

#include "aws-wire.h"
#include "notify.h"

#define T0 (1796164800ULL * USEC_PER_SEC) /* 2026-12-01T22:40:00Z */

static NotifyFacts facts(NotifyEvent event)
{
	return (NotifyFacts){ .event = event,
		              .instance_id = "i-0abc",
		              .instance_name = "",
		              .region = "us-east-2",
		              .host = "gpu1",
		              .action = "stop-instance",
		              .now = T0,
		              .action_in = 60 * USEC_PER_SEC,
		              .why = "idle: nothing active; idle 2/2",
		              .last_user = "alice on pts/0 (ssh)",
		              .last_user_at = T0 - 3600 * USEC_PER_SEC };
}

START_TEST(test_warning_message)
{
	NotifyFacts f = facts(NOTIFY_WARNING);
	char subject[NOTIFY_SUBJECT_MAX + 1], message[NOTIFY_MESSAGE_MAX];
	notify_compose(&f, subject, sizeof(subject), message, sizeof(message));
	ck_assert_str_eq(subject, "trnidled: i-0abc will be stopped (EC2 StopInstances) in 1min");
	ck_assert_str_eq(message,
	                 "Instance i-0abc (host gpu1, us-east-2) looks idle and will be stopped "
	                 "(EC2 StopInstances) in 1min, at 2026-12-01T22:41:00Z.\n"
	                 "Why: idle: nothing active; idle 2/2\n"
	                 "Last user seen on it: alice on pts/0 (ssh), at 2026-12-01T21:40:00Z.\n"
	                 "To keep it up, run on it: trnidlectl hold 2h --reason \"...\"\n");
}
END_TEST

START_TEST(test_cancel_and_stop_messages)
{
	NotifyFacts f = facts(NOTIFY_CANCELLED);
	char subject[NOTIFY_SUBJECT_MAX + 1], message[NOTIFY_MESSAGE_MAX];
	f.action = "poweroff";
	f.dry_run = true;
	f.instance_name = "team\xc3\xa9";
	f.last_user = "";
	notify_compose(&f, subject, sizeof(subject), message, sizeof(message));
	ck_assert_str_eq(subject, "[dry-run] trnidled: i-0abc: power-off cancelled, in use again");
	ck_assert_ptr_nonnull(strstr(message, "The power-off of instance i-0abc \"team\xc3\xa9\" "
	                                      "(host gpu1, us-east-2) is cancelled"));
	ck_assert_ptr_nonnull(strstr(message, "nobody since trnidled started"));
	ck_assert_ptr_nonnull(strstr(message, "nothing is actually stopped"));
	f = facts(NOTIFY_STOPPING);
	f.instance_id = "";
	f.host = "h\xc3\xa9";
	notify_compose(&f, subject, sizeof(subject), message, sizeof(message));
	/* SNS takes printable ASCII only in a subject. */
	ck_assert_str_eq(subject, "trnidled: h?? is idle: stop (EC2 StopInstances) now");
	ck_assert_ptr_nonnull(strstr(message, "Host h\xc3\xa9 was idle: it will be stopped"));
	ck_assert_ptr_nonnull(strstr(message, "trnidlectl hold 2h"));
}
END_TEST

START_TEST(test_long_subject_is_cut_at_100)
{
	NotifyFacts f = facts(NOTIFY_WARNING);
	char host[300], subject[NOTIFY_SUBJECT_MAX + 1], message[NOTIFY_MESSAGE_MAX];
	memset(host, 'x', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	f.instance_id = "";
	f.host = host;
	notify_compose(&f, subject, sizeof(subject), message, sizeof(message));
	ck_assert_uint_le(strlen(subject), NOTIFY_SUBJECT_MAX);
}
END_TEST

START_TEST(test_last_user_is_the_most_recent)
{
	static Sample s;
	char buf[96];
	memset(&s, 0, sizeof(s));
	ck_assert(!notify_last_user(&s, buf, sizeof(buf)));
	s.sessions.ssh[0] = (SshConnectionFacts){ .user = "carol" };
	s.sessions.n_ssh = 1;
	ck_assert(notify_last_user(&s, buf, sizeof(buf)));
	ck_assert_str_eq(buf, "carol over SSH");
	s.sessions.terminals[0] = (TerminalFacts){
		.pts = 3, .user = "alice", .owner = SESSION_OWNER_SSHD, .idle = 600 * USEC_PER_SEC
	};
	s.sessions.terminals[1] = (TerminalFacts){
		.pts = 5, .user = "bob", .owner = SESSION_OWNER_SSHD, .idle = 5 * USEC_PER_SEC
	};
	s.sessions.n_terminals = 2;
	ck_assert(notify_last_user(&s, buf, sizeof(buf)));
	ck_assert_str_eq(buf, "bob on pts/5 (sshd)");
}
END_TEST

START_TEST(test_topic_region)
{
	char region[32];
	ck_assert_int_eq(
	        sns_topic_region("arn:aws:sns:eu-west-1:123456789012:team", region, sizeof(region)),
	        0);
	ck_assert_str_eq(region, "eu-west-1");
	ck_assert_int_eq(sns_topic_region("arn:aws-cn:sns:cn-north-1:123456789012:t.fifo", region,
	                                  sizeof(region)),
	                 0);
	static const char *const bad[] = {
		"",
		"arn:aws:sqs:us-east-1:123456789012:q",
		"arn:aws:sns:us-east-1:1234:team",
		"arn:aws:sns:us-east-1:123456789012:",
		"arn:aws:sns:us-east-1:123456789012:team&Subject=x",
		"arn:aws:sns:us-east-1:123456789012:team extra",
		"arn:evil:sns:us-east-1:123456789012:team",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		ck_assert_msg(sns_topic_region(bad[i], region, sizeof(region)) == -EINVAL, "%s",
		              bad[i]);
}
END_TEST

START_TEST(test_publish_body)
{
	_cleanup_free_ char *b =
	        sns_publish_body("arn:aws:sns:us-east-2:123456789012:t", "a b&c", "line 1\nx=y");
	ck_assert_str_eq(b, "Action=Publish&Version=2010-03-31"
	                    "&TopicArn=arn%3Aaws%3Asns%3Aus-east-2%3A123456789012%3At"
	                    "&Subject=a%20b%26c&Message=line%201%0Ax%3Dy");
}
END_TEST

START_TEST(test_wire_publish)
{
	const char *subject, *message;
	char err[256];
	json_object *o = aws_wire_publish("trnidled: hi", "the text\n");
	ck_assert_int_eq(aws_wire_read_publish(o, &subject, &message, err, sizeof(err)), 0);
	ck_assert_str_eq(subject, "trnidled: hi");
	ck_assert_str_eq(message, "the text\n");
	json_object_put(o);
	static const char *const bad[] = {
		"{\"subject\":\"x\"}",
		"{\"subject\":\"\",\"message\":\"m\"}",
		"{\"subject\":\"a\\nb\",\"message\":\"m\"}",
		"{\"subject\":\"x\",\"message\":\"\"}",
		"{\"subject\":\"x\",\"message\":\"a\\u0000b\"}",
		"{\"subject\":1,\"message\":\"m\"}",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		o = json_tokener_parse(bad[i]);
		ck_assert_ptr_nonnull(o);
		ck_assert_msg(aws_wire_read_publish(o, &subject, &message, err, sizeof(err)) ==
		                      -EINVAL,
		              "%s", bad[i]);
		json_object_put(o);
	}
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("notify");
	TCase *tc = tcase_create("pure");
	tcase_add_test(tc, test_warning_message);
	tcase_add_test(tc, test_cancel_and_stop_messages);
	tcase_add_test(tc, test_long_subject_is_cut_at_100);
	tcase_add_test(tc, test_last_user_is_the_most_recent);
	tcase_add_test(tc, test_topic_region);
	tcase_add_test(tc, test_publish_body);
	tcase_add_test(tc, test_wire_publish);
	suite_add_tcase(s, tc);
	return s;
}
