/* One attempt of the stop-instance action: EC2 StopInstances over the Query API, signed with the instance role.
 * Stopping through the API is explicit, shows in CloudTrail and does not depend on the
 * instance's shutdown behaviour (an OS power-off under "terminate" would lose the root volume
 * and make a persistent spot request launch a replacement). One attempt per call: the
 * stop-instance action (src/actions/stop-instance.c) owns retries (on timers) and the fallback
 * to power-off. */
#include <errno.h>
#include <stdio.h>

#include "aws-client.h"
#include "aws.h"
#include "imds.h"

static char *stop_body(const char *instance_id, bool dry_run)
{
	char *b = strdup("Action=StopInstances&InstanceId.1=");
	size_t len = b ? strlen(b) : 0;
	if (!b || url_encode_append(&b, &len, instance_id) < 0) {
		free(b);
		return NULL;
	}
	char *full = NULL;
	if (asprintf(&full, "%s&Version=2016-11-15%s", b, dry_run ? "&DryRun=true" : "") < 0)
		full = NULL;
	free(b);
	return full;
}

/* Judges EC2's answer. */
static int judge(Imds *imds, const char *id, bool dry_run, const HttpResponse *resp,
                 ActionResult *ret)
{
	Ec2StopResponse s;
	size_t len = sizeof(ret->message);

	if (ec2_parse_stop_response(resp->body, &s) < 0) {
		strappendf(ret->message, len, "EC2 answered HTTP %ld with a body we cannot read",
		           resp->status);
		return ec2_error_retryable(resp->status, NULL) ? -EAGAIN : -EPROTO;
	}
	if (dry_run && streq(s.error_code, "DryRunOperation")) {
		strappendf(ret->message, len,
		           "dry-run: EC2 confirms StopInstances on %s would succeed "
		           "(DryRunOperation)",
		           id);
		return 0;
	}
	if (s.error_code[0]) {
		strappendf(ret->message, len, "EC2 refused StopInstances on %s: HTTP %ld %s: %s",
		           id, resp->status, s.error_code, s.error_message);
		if (streq(s.error_code, "ExpiredToken") || streq(s.error_code, "AuthFailure"))
			imds->have_creds = false; /* fetch fresh keys next time */
		return ec2_error_retryable(resp->status, s.error_code) ? -EAGAIN : -EACCES;
	}
	if (resp->status != 200) {
		strappendf(ret->message, len, "EC2 answered HTTP %ld without an error code",
		           resp->status);
		return ec2_error_retryable(resp->status, NULL) ? -EAGAIN : -EPROTO;
	}
	if (!streq(s.current_state, "stopping") && !streq(s.current_state, "stopped")) {
		strappendf(ret->message, len, "EC2 reports %s in state %s, not stopping", id,
		           s.current_state);
		return -EPROTO;
	}
	strappendf(ret->message, len, "EC2 is stopping %s (%s -> %s)", id,
	           s.previous_state[0] ? s.previous_state : "?", s.current_state);
	return 0;
}

void ec2_stop_no_instance(ActionResult *ret)
{
	*ret = (ActionResult){ .path = "ec2" };
	strappendf(ret->message, sizeof(ret->message),
	           "not on EC2 (the instance metadata service did not name an instance), cannot "
	           "call StopInstances");
}

int ec2_stop_attempt(Imds *imds, const Config *config, const AwsIdentity *id, bool dry_run,
                     ActionResult *ret)
{
	char url[512], err[512] = "";
	AwsCredentials creds;
	HttpResponse resp;
	size_t len = sizeof(ret->message);

	if (!id->instance_id[0]) {
		ec2_stop_no_instance(ret);
		return -ENXIO;
	}
	*ret = (ActionResult){ .path = "ec2" };
	int r = imds_credentials(imds, &creds, err, sizeof(err));
	if (r < 0) {
		strappendf(ret->message, len, "no role credentials: %s", err);
		return -EAGAIN;
	}
	_cleanup_free_ char *body = stop_body(id->instance_id, dry_run);
	if (!body)
		return -ENOMEM;
	aws_endpoint(url, sizeof(url), config->ec2_endpoint, "ec2", id->region);
	r = aws_query_post(url, id->region, "ec2", &creds, body, AWS_EC2_TIMEOUT_MS, &resp);
	if (r == -ENOMEM) {
		http_response_done(&resp);
		return r;
	}
	if (r < 0)
		strappendf(ret->message, len, "StopInstances to %s: %s", url,
		           resp.timed_out ? "timed out" : resp.error);
	else
		r = judge(imds, id->instance_id, dry_run, &resp, ret);
	http_response_done(&resp);
	return r == -ETIMEDOUT || r == -EHOSTUNREACH ? -EAGAIN : r;
}
