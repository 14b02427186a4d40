/* The in-process AwsClient: curl from this process, IMDSv2 session and role keys cached in
 * an Imds. The daemon uses it without --aws-agent; trnidled-aws uses it to answer. */
#include <errno.h>
#include <stdio.h>

#include "aws-client.h"
#include "notify.h"

typedef struct LocalClient {
	AwsClient base;
	const Config *config;
	Imds imds;
} LocalClient;

static LocalClient *local(AwsClient *c)
{
	return (LocalClient *)c;
}

static int local_identify(AwsClient *c, AwsIdentity *ret, char *err, size_t errlen)
{
	return imds_identify(&local(c)->imds, ret, err, errlen);
}

static int local_spot_action(AwsClient *c, SpotFacts *ret, char *err, size_t errlen)
{
	_cleanup_free_ char *body = NULL;
	int r = imds_get(&local(c)->imds, "spot/instance-action", &body, err, errlen);
	if (r < 0)
		return r;
	return imds_parse_instance_action(body, ret, err, errlen);
}

static int local_rebalance(AwsClient *c, char *notice_time, size_t size, char *err, size_t errlen)
{
	_cleanup_free_ char *body = NULL;
	int r = imds_get(&local(c)->imds, "events/recommendations/rebalance", &body, err, errlen);
	if (r < 0)
		return r;
	return imds_parse_rebalance(body, notice_time, size, err, errlen);
}

static int local_stop_instance(AwsClient *c, const AwsIdentity *id, bool dry_run, ActionResult *ret)
{
	LocalClient *l = local(c);
	return ec2_stop_attempt(&l->imds, l->config, id, dry_run, ret);
}

static int local_put_metrics(AwsClient *c, const AwsIdentity *id, const CloudWatchMetric *m,
                             size_t n, char *err, size_t errlen)
{
	LocalClient *l = local(c);
	AwsCredentials creds;
	HttpResponse resp;
	char url[512], code[64] = "", msg[256] = "";
	int r = imds_credentials(&l->imds, &creds, err, errlen);
	if (r < 0)
		return r;
	_cleanup_free_ char *body =
	        cloudwatch_put_body(l->config->metrics_namespace, id->instance_id, m, n);
	if (!body)
		return -ENOMEM;
	aws_endpoint(url, sizeof(url), l->config->monitoring_endpoint, "monitoring", id->region);
	r = aws_query_post(url, id->region, "monitoring", &creds, body, AWS_CLOUDWATCH_TIMEOUT_MS,
	                   &resp);
	err[0] = '\0';
	if (r < 0)
		strappendf(err, errlen, "%s: %s", url, resp.timed_out ? "timed out" : resp.error);
	else if (resp.status != 200) {
		(void)xml_find_text(resp.body, "Code", code, sizeof(code));
		(void)xml_find_text(resp.body, "Message", msg, sizeof(msg));
		strappendf(err, errlen, "%s answered HTTP %ld %s: %s", url, resp.status, code, msg);
		if (streq(code, "ExpiredToken"))
			l->imds.have_creds = false;
		r = -EPROTO;
	}
	http_response_done(&resp);
	return r;
}

/* One Publish attempt within timeout_ms. -EAGAIN when another may succeed. */
static int publish_once(LocalClient *l, const char *url, const char *region, const char *body,
                        long timeout_ms, char *err, size_t errlen)
{
	AwsCredentials creds;
	HttpResponse resp;
	char code[64] = "", msg[256] = "";
	int r = imds_credentials(&l->imds, &creds, err, errlen);
	if (r < 0)
		return r;
	r = aws_query_post(url, region, "sns", &creds, body, timeout_ms, &resp);
	err[0] = '\0';
	if (r < 0) {
		strappendf(err, errlen, "%s: %s", url, resp.timed_out ? "timed out" : resp.error);
		r = r == -ENOMEM ? r : -EAGAIN;
	} else if (resp.status != 200) {
		(void)xml_find_text(resp.body, "Code", code, sizeof(code));
		(void)xml_find_text(resp.body, "Message", msg, sizeof(msg));
		strappendf(err, errlen, "%s answered HTTP %ld %s: %s", url, resp.status, code, msg);
		if (streq(code, "ExpiredToken"))
			l->imds.have_creds = false;
		r = ec2_error_retryable(resp.status, code) ? -EAGAIN : -EPROTO;
	}
	http_response_done(&resp);
	return r;
}

static int local_publish(AwsClient *c, const char *subject, const char *message, char *err,
                         size_t errlen)
{
	LocalClient *l = local(c);
	char region[32], url[512];
	const char *topic = l->config->notify_topic_arn;
	if (!topic) {
		snprintf(err, errlen, "no [AWS] NotifyTopicArn= configured");
		return -ENOTCONN;
	}
	if (sns_topic_region(topic, region, sizeof(region)) < 0) {
		snprintf(err, errlen, "[AWS] NotifyTopicArn=%s is not an SNS topic", topic);
		return -EINVAL;
	}
	_cleanup_free_ char *body = sns_publish_body(topic, subject, message);
	if (!body)
		return -ENOMEM;
	aws_endpoint(url, sizeof(url), l->config->sns_endpoint, "sns", region);
	/* Attempts share one budget: a slow SNS costs AWS_SNS_TIMEOUT_MS at most. */
	usec_t deadline = now_boottime() + AWS_SNS_TIMEOUT_MS * USEC_PER_MSEC;
	int r = -EAGAIN;
	for (int attempt = 0; attempt < AWS_SNS_ATTEMPTS && r == -EAGAIN; attempt++) {
		usec_t now = now_boottime();
		if (now + 100 * USEC_PER_MSEC >= deadline)
			break;
		r = publish_once(l, url, region, body, (long)((deadline - now) / USEC_PER_MSEC),
		                 err, errlen);
	}
	return r;
}

static int local_reload(AwsClient *c, char *err, size_t errlen)
{
	LocalClient *l = local(c);
	Imds fresh;
	/* imds_init() normalises the endpoint: compare like with like. */
	imds_init(&fresh, l->config->imds_endpoint);
	if (!streq(fresh.endpoint, l->imds.endpoint))
		imds_reset(&l->imds, l->config->imds_endpoint);
	return 0;
}

static void local_free(AwsClient *c)
{
	free(c);
}

static const AwsClientOps local_ops = {
	.identify = local_identify,
	.spot_action = local_spot_action,
	.rebalance = local_rebalance,
	.stop_instance = local_stop_instance,
	.put_metrics = local_put_metrics,
	.publish = local_publish,
	.reload = local_reload,
	.free = local_free,
};

AwsClient *aws_client_new_local(const Config *config)
{
	LocalClient *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->base.ops = &local_ops;
	l->config = config;
	imds_init(&l->imds, config->imds_endpoint);
	return &l->base;
}

AwsClient *aws_client_free(AwsClient *c)
{
	if (c)
		c->ops->free(c);
	return NULL;
}
