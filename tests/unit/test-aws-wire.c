/* io.trnidle.aws messages between the daemon and trnidled-aws: what one side writes the other
 * reads back unchanged, and what either reads from the other is checked field by field. */
#include "check-main.h"
#include <errno.h>
#include <stdio.h>

#include "aws-wire.h"
#include "macro.h"
#include "varlink-client.h"

/* Writes and re-parses o as the peer would get it (text over the socket). */
static json_object *over_the_wire(json_object *o)
{
	json_object *back = json_tokener_parse(json_object_to_json_string(o));
	json_object_put(o);
	ck_assert_ptr_nonnull(back);
	return back;
}

START_TEST(test_identity_round_trip)
{
	AwsIdentity id = { "i-0123456789abcdef0", "us-east-2", "spot", "team box \x1b[2J" }, back;
	char err[256];
	json_object *o = over_the_wire(aws_wire_identity(&id));
	ck_assert_int_eq(aws_wire_read_identity(o, &back, err, sizeof(err)), 0);
	ck_assert_str_eq(back.instance_id, id.instance_id);
	ck_assert_str_eq(back.region, id.region);
	ck_assert_str_eq(back.life_cycle, id.life_cycle);
	ck_assert_str_eq(back.name, "team box [2J"); /* no escape reaches a message */
	json_object_put(o);
}
END_TEST

START_TEST(test_notice_round_trip_recomputes_the_time)
{
	SpotFacts n = { .pending = true, .action = "stop", .time = "2017-09-18T08:22:00Z" }, back;
	char err[256];
	json_object *o = over_the_wire(aws_wire_notice(&n));
	ck_assert_int_eq(aws_wire_read_notice(o, &back, err, sizeof(err)), 0);
	ck_assert_str_eq(back.action, "stop");
	ck_assert_int_eq((long long)back.when, 1505722920LL);
	json_object_put(o);
}
END_TEST

START_TEST(test_stop_request_round_trip)
{
	AwsIdentity id = { "i-1", "eu-west-1", "", "" }, back;
	bool dry_run = false;
	char err[256];
	json_object *o = over_the_wire(aws_wire_stop_request(&id, true));
	ck_assert_int_eq(aws_wire_read_stop_request(o, &back, &dry_run, err, sizeof(err)), 0);
	ck_assert_str_eq(back.instance_id, "i-1");
	ck_assert_str_eq(back.region, "eu-west-1");
	ck_assert(dry_run);
	json_object_put(o);
}
END_TEST

START_TEST(test_metrics_round_trip)
{
	AwsIdentity id = { "i-1", "us-east-2", "", "" }, back;
	CloudWatchMetric m[] = { { "Active", 1, "None", NULL },
		                 { "DecidingSignal", 1, "None", "neuron-device" } },
	                 got[8];
	size_t n = 0;
	char err[256];
	json_object *o = over_the_wire(aws_wire_metrics(&id, m, ELEMENTSOF(m)));
	ck_assert_int_eq(aws_wire_read_metrics(o, &back, got, 8, &n, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_ptr_null(got[0].signal);
	ck_assert_str_eq(got[1].name, "DecidingSignal");
	ck_assert(got[1].value == 1);
	ck_assert_str_eq(got[1].unit, "None");
	ck_assert_str_eq(got[1].signal, "neuron-device");
	json_object_put(o);
}
END_TEST

/* Requests trnidled-aws must refuse, each naming the field at fault. */
static const struct {
	const char *json;
	const char *field;
} bad_requests[] = {
	{ "{\"region\":\"r\",\"dry_run\":true}", "instance_id" },
	{ "{\"instance_id\":5,\"region\":\"r\",\"dry_run\":true}", "instance_id" },
	{ "{\"instance_id\":\"\",\"region\":\"r\",\"dry_run\":true}", "instance_id" },
	{ "{\"instance_id\":\"i-1&Action=TerminateInstances\",\"region\":\"r\",\"dry_run\":true}",
	  "instance_id" },
	{ "{\"instance_id\":\"i-1\",\"region\":\"us east\",\"dry_run\":true}", "region" },
	{ "{\"instance_id\":\"i-1\",\"region\":\"../x\",\"dry_run\":true}", "region" },
	{ "{\"instance_id\":\"i-1\",\"region\":\"r\"}", "dry_run" },
	{ "{\"instance_id\":\"i-1\",\"region\":\"r\",\"dry_run\":\"no\"}", "dry_run" },
	{ "{\"instance_id\":\"i-0123456789abcdef0123456789abcdef\",\"region\":\"r\","
	  "\"dry_run\":true}",
	  "instance_id" },
};

START_TEST(test_bad_stop_request)
{
	json_object *o = json_tokener_parse(bad_requests[_i].json);
	AwsIdentity id;
	bool dry_run;
	char err[256] = "";
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(aws_wire_read_stop_request(o, &id, &dry_run, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, bad_requests[_i].field), "%s: %s", bad_requests[_i].json, err);
	json_object_put(o);
}
END_TEST

static const char *const bad_metrics[] = {
	"{\"instance_id\":\"i-1\",\"region\":\"r\"}",
	"{\"instance_id\":\"i-1\",\"region\":\"r\",\"metrics\":[]}",
	"{\"instance_id\":\"i-1\",\"region\":\"r\",\"metrics\":{}}",
	"{\"instance_id\":\"i-1\",\"region\":\"r\",\"metrics\":[1]}",
	"{\"instance_id\":\"i-1\",\"region\":\"r\",\"metrics\":[{\"name\":\"A&B\",\"value\":1,"
	"\"unit\":\"None\"}]}",
	"{\"instance_id\":\"i-1\",\"region\":\"r\",\"metrics\":[{\"name\":\"A\",\"value\":\"1\","
	"\"unit\":\"None\"}]}",
	"{\"instance_id\":\"i-1\",\"region\":\"r\",\"metrics\":[{\"name\":\"A\",\"value\":1,"
	"\"unit\":\"Bytes&x=y\"}]}",
	"{\"instance_id\":\"i-1\",\"region\":\"r\",\"metrics\":[{\"name\":\"A\",\"value\":NaN,"
	"\"unit\":\"None\"}]}",
	"{\"instance_id\":\"i-1\",\"region\":\"r\",\"metrics\":[1,2,3,4,5,6,7,8,9]}",
	/* A Signal dimension that could change the form body. */
	"{\"instance_id\":\"i-1\",\"region\":\"r\",\"metrics\":[{\"name\":\"A\",\"value\":1,"
	"\"unit\":\"None\",\"signal\":\"cpu&Namespace=X\"}]}",
	"{\"instance_id\":\"i-1\",\"region\":\"r\",\"metrics\":[{\"name\":\"A\",\"value\":1,"
	"\"unit\":\"None\",\"signal\":7}]}",
};

START_TEST(test_bad_metrics)
{
	json_object *o = json_tokener_parse(bad_metrics[_i]);
	AwsIdentity id;
	CloudWatchMetric m[AWS_METRICS_MAX];
	size_t n;
	char err[256] = "";
	if (!o)
		return; /* json-c refuses it already (NaN in some versions) */
	ck_assert_int_eq(aws_wire_read_metrics(o, &id, m, AWS_METRICS_MAX, &n, err, sizeof(err)),
	                 -EINVAL);
	ck_assert_msg(err[0], "%s", bad_metrics[_i]);
	json_object_put(o);
}
END_TEST

static int read_error(const char *text, char *err, size_t errlen)
{
	VarlinkReply reply;
	ck_assert_int_eq(varlink_parse_reply(text, strlen(text), &reply), 0);
	ck_assert_ptr_nonnull(reply.error);
	int r = aws_wire_read_error(&reply, err, errlen);
	varlink_reply_done(&reply);
	return r;
}

START_TEST(test_errors_map_to_errno)
{
	char err[512];
	json_object *f = aws_wire_failure(-ETIMEDOUT, "spot/instance-action: timed out", NULL);
	json_object *m = json_object_new_object();
	json_object_object_add(m, "error", json_object_new_string(AWS_ERROR_FAILED));
	json_object_object_add(m, "parameters", f);
	ck_assert_int_eq(read_error(json_object_to_json_string(m), err, sizeof(err)), -ETIMEDOUT);
	ck_assert_str_eq(err, "spot/instance-action: timed out");
	json_object_put(m);

	ck_assert_int_eq(read_error("{\"error\":\"io.trnidle.aws.PermissionDenied\","
	                            "\"parameters\":{\"message\":\"only root\"}}",
	                            err, sizeof(err)),
	                 -EPERM);
	ck_assert_ptr_nonnull(strstr(err, "only root"));
	/* An errno the peer cannot mean is a protocol error, never a success or a huge value. */
	ck_assert_int_eq(read_error("{\"error\":\"io.trnidle.aws.Failed\",\"parameters\":"
	                            "{\"errno\":0}}",
	                            err, sizeof(err)),
	                 -EPROTO);
	ck_assert_int_eq(read_error("{\"error\":\"io.trnidle.aws.Failed\",\"parameters\":"
	                            "{\"errno\":99999}}",
	                            err, sizeof(err)),
	                 -EPROTO);
	ck_assert_int_eq(read_error("{\"error\":\"io.trnidle.aws.Failed\",\"parameters\":"
	                            "{\"errno\":\"2\"}}",
	                            err, sizeof(err)),
	                 -EPROTO);
	ck_assert_int_eq(read_error("{\"error\":\"org.varlink.service.InvalidParameter\","
	                            "\"parameters\":{\"parameter\":\"dry_run\"}}",
	                            err, sizeof(err)),
	                 -EPROTO);
	ck_assert_ptr_nonnull(strstr(err, "dry_run"));
}
END_TEST

static const char *const bad_replies[] = {
	"",
	"[]",
	"\"x\"",
	"{\"error\":5}",
	"{\"parameters\":[]}",
	"{\"parameters\":{}} x",
	"{\"parameters\":{",
};

START_TEST(test_bad_reply)
{
	VarlinkReply reply;
	ck_assert_int_eq(varlink_parse_reply(bad_replies[_i], strlen(bad_replies[_i]), &reply),
	                 -EBADMSG);
}
END_TEST

START_TEST(test_reply_without_parameters_gets_an_object)
{
	VarlinkReply reply;
	ck_assert_int_eq(varlink_parse_reply("{}", 2, &reply), 0);
	ck_assert_ptr_null(reply.error);
	ck_assert(json_object_is_type(reply.parameters, json_type_object));
	varlink_reply_done(&reply);
}
END_TEST

START_TEST(test_no_server_is_a_quick_error)
{
	VarlinkReply reply;
	ck_assert_int_eq(varlink_call("/nonexistent/io.trnidle.aws.sock", AWS_METHOD_IDENTIFY, NULL,
	                              1000, AWS_REPLY_MAX, &reply),
	                 -ENOENT);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("aws-wire");
	TCase *tc = tcase_create("wire");
	tcase_add_test(tc, test_identity_round_trip);
	tcase_add_test(tc, test_notice_round_trip_recomputes_the_time);
	tcase_add_test(tc, test_stop_request_round_trip);
	tcase_add_test(tc, test_metrics_round_trip);
	tcase_add_loop_test(tc, test_bad_stop_request, 0, (int)ELEMENTSOF(bad_requests));
	tcase_add_loop_test(tc, test_bad_metrics, 0, (int)ELEMENTSOF(bad_metrics));
	tcase_add_test(tc, test_errors_map_to_errno);
	tcase_add_loop_test(tc, test_bad_reply, 0, (int)ELEMENTSOF(bad_replies));
	tcase_add_test(tc, test_reply_without_parameters_gets_an_object);
	tcase_add_test(tc, test_no_server_is_a_quick_error);
	suite_add_tcase(s, tc);
	return s;
}
