/* The pure parts of the EC2 side: IMDS JSON readers, the EC2 XML reader, the CloudWatch body,
 * the Prometheus text, and how a spot notice blocks the idle action. */
#include "check-main.h"
#include <errno.h>
#include <stdio.h>

#include "aws.h"
#include "aws-runtime.h"
#include "imds.h"
#include "cloudwatch.h"
#include "textfile.h"

START_TEST(test_instance_action)
{
	SpotFacts n;
	char err[128];
	ck_assert_int_eq(imds_parse_instance_action(
	                         "{\"action\": \"stop\", \"time\": \"2017-09-18T08:22:00Z\"}", &n,
	                         err, sizeof(err)),
	                 0);
	ck_assert_str_eq(n.action, "stop");
	ck_assert_str_eq(n.time, "2017-09-18T08:22:00Z");
	ck_assert_int_eq(n.when, 1505722920);
	ck_assert_int_eq(imds_parse_instance_action("{\"action\": \"hibernate\", \"time\": "
	                                            "\"2017-09-18T08:22:00.123Z\"}",
	                                            &n, err, sizeof(err)),
	                 0);
	static const char *const bad[] = {
		"",
		"[]",
		"{\"action\": \"stop\"}",
		"{\"action\": \"explode\", \"time\": \"2017-09-18T08:22:00Z\"}",
		"{\"action\": \"stop\", \"time\": \"yesterday\"}",
		"{\"action\": 1, \"time\": \"2017-09-18T08:22:00Z\"}",
		"{\"action\": \"stop\", \"time\": \"2017-09-18T08:22:00+02:00\"}",
		"{\"action\": \"stop\", \"time\": \"2017-09-18T08:22:00Z\"",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		ck_assert_msg(imds_parse_instance_action(bad[i], &n, err, sizeof(err)) == -EBADMSG,
		              "accepted %s", bad[i]);
}
END_TEST

START_TEST(test_rebalance)
{
	char t[32], err[128];
	ck_assert_int_eq(imds_parse_rebalance("{\"noticeTime\": \"2020-10-27T08:22:00Z\"}", t,
	                                      sizeof(t), err, sizeof(err)),
	                 0);
	ck_assert_str_eq(t, "2020-10-27T08:22:00Z");
	ck_assert_int_eq(imds_parse_rebalance("{}", t, sizeof(t), err, sizeof(err)), -EBADMSG);
}
END_TEST

START_TEST(test_credentials)
{
	AwsCredentials c;
	char err[128];
	const char *ok = "{\"Code\": \"Success\", \"LastUpdated\": \"2024-01-01T00:00:00Z\", "
	                 "\"Type\": \"AWS-HMAC\", \"AccessKeyId\": \"ASIAEXAMPLE\", "
	                 "\"SecretAccessKey\": \"wJalr/XUtnFEMI+K7MDENG\", \"Token\": \"IQoJb3=\", "
	                 "\"Expiration\": \"2024-01-01T06:00:00Z\"}";
	ck_assert_int_eq(imds_parse_credentials(ok, &c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.access_key_id, "ASIAEXAMPLE");
	ck_assert_str_eq(c.secret_access_key, "wJalr/XUtnFEMI+K7MDENG");
	ck_assert_str_eq(c.token, "IQoJb3=");
	ck_assert_int_eq(c.expiration, 1704088800);
	ck_assert(!aws_credentials_stale(&c, 1704088800 - 61));
	ck_assert(aws_credentials_stale(&c, 1704088800 - 60));

	ck_assert_int_eq(imds_parse_credentials("{\"Code\": \"Failure\"}", &c, err, sizeof(err)),
	                 -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "Failure"));
	ck_assert_int_eq(imds_parse_credentials("{\"AccessKeyId\": \"A\", \"SecretAccessKey\": "
	                                        "\"S\", \"Token\": \"T\"}",
	                                        &c, err, sizeof(err)),
	                 -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "Expiration"));
	/* A key with a ':' would split CURLOPT_USERPWD in the wrong place. */
	ck_assert_int_eq(imds_parse_credentials("{\"AccessKeyId\": \"A:B\", \"SecretAccessKey\": "
	                                        "\"S\", \"Token\": \"T\", \"Expiration\": "
	                                        "\"2024-01-01T06:00:00Z\"}",
	                                        &c, err, sizeof(err)),
	                 -EBADMSG);
}
END_TEST

START_TEST(test_ec2_stop_response)
{
	Ec2StopResponse r;
	const char *ok =
	        "<?xml version=\"1.0\"?><StopInstancesResponse xmlns=\"http://ec2.amazonaws.com/"
	        "doc/2016-11-15/\"><requestId>x</requestId><instancesSet><item><instanceId>i-1"
	        "</instanceId><currentState><code>64</code><name>stopping</name></currentState>"
	        "<previousState><code>16</code><name>running</name></previousState></item>"
	        "</instancesSet></StopInstancesResponse>";
	ck_assert_int_eq(ec2_parse_stop_response(ok, &r), 0);
	ck_assert_str_eq(r.current_state, "stopping");
	ck_assert_str_eq(r.previous_state, "running");
	ck_assert_str_eq(r.error_code, "");

	const char *err = "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>"
	                  "You are not authorized &amp; that&apos;s it</Message></Error></Errors>"
	                  "<RequestID>y</RequestID></Response>";
	ck_assert_int_eq(ec2_parse_stop_response(err, &r), 0);
	ck_assert_str_eq(r.error_code, "UnauthorizedOperation");
	ck_assert_str_eq(r.error_message, "You are not authorized & that's it");

	ck_assert_int_eq(ec2_parse_stop_response("", &r), -EBADMSG);
	ck_assert_int_eq(ec2_parse_stop_response("<html>502 Bad Gateway</html>", &r), -EBADMSG);
	ck_assert_int_eq(ec2_parse_stop_response("<StopInstancesResponse><currentState><name>", &r),
	                 -EBADMSG);
	/* Unterminated or nested elements are not text. */
	char buf[16];
	ck_assert_int_eq(xml_find_text("<a><b>x</b></a>", "a", buf, sizeof(buf)), -ENOENT);
	ck_assert_int_eq(xml_find_text("<a>x", "a", buf, sizeof(buf)), -ENOENT);
	ck_assert_int_eq(xml_find_text("<a>0123456789abcdefghij</a>", "a", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "0123456789abcde");
}
END_TEST

START_TEST(test_retryable)
{
	ck_assert(ec2_error_retryable(500, "InternalError"));
	ck_assert(ec2_error_retryable(503, "RequestLimitExceeded"));
	ck_assert(ec2_error_retryable(400, "RequestLimitExceeded"));
	ck_assert(ec2_error_retryable(400, "ExpiredToken"));
	ck_assert(!ec2_error_retryable(403, "UnauthorizedOperation"));
	ck_assert(!ec2_error_retryable(400, "InvalidInstanceID.NotFound"));
	ck_assert(!ec2_error_retryable(400, "IncorrectInstanceState"));
}
END_TEST

START_TEST(test_url_encode_and_time)
{
	char *b = strdup("x=");
	size_t len = 2;
	ck_assert_int_eq(url_encode_append(&b, &len, "a b/c~d_e.f-g&h=ü"), 0);
	ck_assert_str_eq(b, "x=a%20b%2Fc~d_e.f-g%26h%3D%C3%BC");
	ck_assert_uint_eq(len, strlen(b));
	free(b);
	time_t t;
	ck_assert_int_eq(iso8601_parse("1970-01-01T00:00:10Z", &t), 0);
	ck_assert_int_eq(t, 10);
	ck_assert_int_eq(iso8601_parse("1970-01-01T00:00:10", &t), -EINVAL);
	ck_assert_int_eq(iso8601_parse("1970-01-01T00:00:10Zjunk", &t), -EINVAL);
}
END_TEST

START_TEST(test_cloudwatch_body)
{
	CloudWatchMetric m[] = { { "Active", 1, "None", NULL },
		                 { "IdleChecks", 3, "Count", NULL } };
	_cleanup_free_ char *b = cloudwatch_put_body("My NS/x", "i-0abc", m, 2);
	ck_assert_str_eq(b, "Action=PutMetricData&Version=2010-08-01&Namespace=My%20NS%2Fx"
	                    "&MetricData.member.1.MetricName=Active"
	                    "&MetricData.member.1.Value=1"
	                    "&MetricData.member.1.Unit=None"
	                    "&MetricData.member.1.Dimensions.member.1.Name=InstanceId"
	                    "&MetricData.member.1.Dimensions.member.1.Value=i-0abc"
	                    "&MetricData.member.2.MetricName=IdleChecks"
	                    "&MetricData.member.2.Value=3"
	                    "&MetricData.member.2.Unit=Count"
	                    "&MetricData.member.2.Dimensions.member.1.Name=InstanceId"
	                    "&MetricData.member.2.Dimensions.member.1.Value=i-0abc");
}
END_TEST

START_TEST(test_cloudwatch_body_with_signal)
{
	CloudWatchMetric m[] = { { "DecidingSignal", 1, "None", "ml-process" } };
	_cleanup_free_ char *b = cloudwatch_put_body("T", "i-0abc", m, 1);
	ck_assert_ptr_nonnull(strstr(b,
	                             "&MetricData.member.1.Dimensions.member.1.Value=i-0abc"
	                             "&MetricData.member.1.Dimensions.member.2.Name=Signal"
	                             "&MetricData.member.1.Dimensions.member.2.Value=ml-process"));
}
END_TEST

static const CloudWatchMetric *metric(const CloudWatchMetric *m, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (streq(m[i].name, name))
			return &m[i];
	return NULL;
}

START_TEST(test_cloudwatch_check_metrics)
{
	CloudWatchMetric m[CLOUDWATCH_CHECK_METRICS_MAX];
	Decision d = { .verdict = VERDICT_ACTIVE, .n_reasons = 2 };
	d.reasons[0].signal = SIGNAL_TERMINAL;
	d.reasons[1].signal = SIGNAL_CPU;
	size_t n = cloudwatch_check_metrics(&d, 61 * USEC_PER_SEC, 60 * USEC_PER_SEC, m);
	ck_assert_uint_eq(n, 5);
	ck_assert(metric(m, n, "Active")->value == 1);
	ck_assert(metric(m, n, "UpSeconds")->value == 61);
	ck_assert_str_eq(metric(m, n, "UpSeconds")->unit, "Seconds");
	ck_assert(metric(m, n, "IdleSeconds")->value == 0);
	ck_assert_str_eq(metric(m, n, "DecidingSignal")->signal, "terminal");
	ck_assert(metric(m, n, "DecidingSignal")->value == 1);
	ck_assert_ptr_null(metric(m, n, "Active")->signal);
	/* Idle: the seconds count as idle, no deciding signal; a long gap is capped. */
	d = (Decision){ .verdict = VERDICT_IDLE, .idle_checks = 4 };
	n = cloudwatch_check_metrics(&d, 3600 * USEC_PER_SEC, 60 * USEC_PER_SEC, m);
	ck_assert_uint_eq(n, 4);
	ck_assert_ptr_null(metric(m, n, "DecidingSignal"));
	ck_assert(metric(m, n, "UpSeconds")->value == 120);
	ck_assert(metric(m, n, "IdleSeconds")->value == 120);
	ck_assert(metric(m, n, "IdleChecks")->value == 4);
	/* Held: up for the hold. Grace without activity: up, no signal. */
	d = (Decision){ .verdict = VERDICT_HELD, .n_reasons = 1 };
	d.reasons[0].signal = SIGNAL_HOLD;
	n = cloudwatch_check_metrics(&d, 30 * USEC_PER_SEC, 60 * USEC_PER_SEC, m);
	ck_assert_str_eq(metric(m, n, "DecidingSignal")->signal, "hold");
	ck_assert(metric(m, n, "IdleSeconds")->value == 0);
	d = (Decision){ .verdict = VERDICT_GRACE };
	ck_assert_uint_eq(cloudwatch_check_metrics(&d, 30 * USEC_PER_SEC, 60 * USEC_PER_SEC, m), 4);
}
END_TEST

static Decision idle_decision(void)
{
	return (Decision){ .verdict = VERDICT_IDLE,
		           .idle_checks = 2,
		           .idle_checks_needed = 2,
		           .action_due = true };
}

START_TEST(test_prometheus_text)
{
	Decision d = { .verdict = VERDICT_ACTIVE, .n_reasons = 1, .idle_checks_needed = 2 };
	d.reasons[0].signal = SIGNAL_CPU;
	Sample s = { .cpu = { .valid = true, .busy_percent = 37.5 } };
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	metrics_write_prometheus(f, &d, &s, true);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(text, "# TYPE trnidled_active gauge\ntrnidled_active 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "trnidled_cpu_busy_percent 37.5\n"));
	ck_assert_ptr_null(strstr(text, "trnidled_memory_used_percent"));
	ck_assert_ptr_nonnull(strstr(text, "trnidled_spot_interruption_pending 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "trnidled_signal_active{signal=\"cpu\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "trnidled_signal_active{signal=\"memory\"} 0\n"));
	ck_assert_ptr_nonnull(
	        strstr(text, "trnidled_signal_active{signal=\"spot-interruption\"} 0\n"));
	free(text);
	d = idle_decision();
	ck_assert(!decision_active(&d));
	d.verdict = VERDICT_HELD;
	ck_assert(decision_active(&d));
}
END_TEST

static void write_file(const char *dir, const char *rel, const char *text)
{
	char path[512], cmd[600];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	ck_assert_int_eq(system(cmd), 0);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

START_TEST(test_platform_detection)
{
	char nitro[] = "/tmp/trnidled-sys-XXXXXX", xen[] = "/tmp/trnidled-sys-XXXXXX",
	     other[] = "/tmp/trnidled-sys-XXXXXX", empty[] = "/tmp/trnidled-sys-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(nitro));
	ck_assert_ptr_nonnull(mkdtemp(xen));
	ck_assert_ptr_nonnull(mkdtemp(other));
	ck_assert_ptr_nonnull(mkdtemp(empty));
	write_file(nitro, "class/dmi/id/sys_vendor", "Amazon EC2\n");
	write_file(xen, "hypervisor/uuid", "ec2e1916-9099-7caf-fd21-012345abcdef\n");
	write_file(other, "class/dmi/id/sys_vendor", "QEMU\n");
	write_file(other, "hypervisor/uuid", "1234\n");
	ck_assert(aws_platform_is_ec2(nitro));
	ck_assert(aws_platform_is_ec2(xen));
	ck_assert(!aws_platform_is_ec2(other));
	ck_assert(!aws_platform_is_ec2(empty));
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s %s %s", nitro, xen, other, empty);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("aws");
	TCase *tc = tcase_create("pure");
	tcase_add_test(tc, test_instance_action);
	tcase_add_test(tc, test_rebalance);
	tcase_add_test(tc, test_credentials);
	tcase_add_test(tc, test_ec2_stop_response);
	tcase_add_test(tc, test_retryable);
	tcase_add_test(tc, test_url_encode_and_time);
	tcase_add_test(tc, test_cloudwatch_body);
	tcase_add_test(tc, test_cloudwatch_body_with_signal);
	tcase_add_test(tc, test_cloudwatch_check_metrics);
	tcase_add_test(tc, test_prometheus_text);
	tcase_add_test(tc, test_platform_detection);
	suite_add_tcase(s, tc);
	return s;
}
