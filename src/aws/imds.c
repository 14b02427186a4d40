#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "imds.h"

/* Renew the token this long before it runs out, so a GET never carries a dying token. */
#define TOKEN_RENEW_MARGIN_USEC (5 * USEC_PER_MINUTE)
/* New role credentials appear at least 5 minutes before the old ones expire. */
#define CREDENTIALS_MARGIN_SEC 60

void imds_init(Imds *im, const char *endpoint)
{
	*im = (Imds){ .timeout_ms = IMDS_TIMEOUT_MS };
	strscpy(im->endpoint, sizeof(im->endpoint), endpoint);
	/* "http://169.254.169.254/" and "http://169.254.169.254" both work. */
	size_t n = strlen(im->endpoint);
	while (n > 0 && im->endpoint[n - 1] == '/')
		im->endpoint[--n] = '\0';
}

void imds_reset(Imds *im, const char *endpoint)
{
	long t = im->timeout_ms;
	imds_init(im, endpoint);
	im->timeout_ms = t;
}

/* Milliseconds left before deadline, at least 1 so curl never sees 0 (= no timeout). */
static long left_ms(usec_t deadline)
{
	usec_t now = now_boottime();
	return now >= deadline ? 1 : (long)MAX((deadline - now) / USEC_PER_MSEC, 1);
}

static int transport_error(const char *what, const HttpResponse *resp, int r, char *err,
                           size_t errlen)
{
	snprintf(err, errlen, "%s: no answer from the instance metadata service (%s)", what,
	         resp->timed_out ? "timed out" : resp->error);
	return r;
}

static int fetch_token(Imds *im, usec_t deadline, char *err, size_t errlen)
{
	char url[320], ttl[80];
	HttpResponse resp;
	snprintf(url, sizeof(url), "%s/latest/api/token", im->endpoint);
	snprintf(ttl, sizeof(ttl), "X-aws-ec2-metadata-token-ttl-seconds: %d", IMDS_TOKEN_TTL_SEC);
	const char *headers[] = { ttl, NULL };
	HttpRequest req = { .method = "PUT",
		            .url = url,
		            .headers = headers,
		            .connect_timeout_ms = MIN(IMDS_CONNECT_TIMEOUT_MS, left_ms(deadline)),
		            .timeout_ms = left_ms(deadline),
		            .no_proxy = true };
	usec_t asked = now_boottime();
	int r = http_request(&req, &resp);
	if (r < 0) {
		r = transport_error("PUT /latest/api/token", &resp, r, err, errlen);
		http_response_done(&resp);
		return r;
	}
	if (resp.status == 200 && resp.size > 0 && resp.size < sizeof(im->token) &&
	    !strpbrk(resp.body, "\r\n")) {
		strscpy(im->token, sizeof(im->token), resp.body);
		im->token_expires = asked + (usec_t)IMDS_TOKEN_TTL_SEC * USEC_PER_SEC;
		r = 0;
	} else if (resp.status == 403) {
		snprintf(err, errlen,
		         "the instance metadata service refuses tokens (HTTP 403): it is turned "
		         "off for this instance (HttpEndpoint=disabled)");
		r = -EACCES;
	} else if (resp.status == 401) {
		snprintf(err, errlen,
		         "the instance metadata service refused the token request "
		         "(HTTP 401)");
		r = -EACCES;
	} else {
		snprintf(err, errlen,
		         "PUT /latest/api/token answered HTTP %ld; IMDSv2 is required and this "
		         "endpoint does not seem to offer it",
		         resp.status);
		r = resp.status == 404 || resp.status == 405 ? -EACCES : -EPROTO;
	}
	http_response_done(&resp);
	return r;
}

static int get_once(Imds *im, const char *path, usec_t deadline, HttpResponse *resp, char *err,
                    size_t errlen)
{
	char url[512], hdr[320];
	snprintf(url, sizeof(url), "%s/latest/meta-data/%s", im->endpoint, path);
	snprintf(hdr, sizeof(hdr), "X-aws-ec2-metadata-token: %s", im->token);
	const char *headers[] = { hdr, NULL };
	HttpRequest req = { .method = "GET",
		            .url = url,
		            .headers = headers,
		            .connect_timeout_ms = MIN(IMDS_CONNECT_TIMEOUT_MS, left_ms(deadline)),
		            .timeout_ms = left_ms(deadline),
		            .no_proxy = true };
	int r = http_request(&req, resp);
	if (r < 0) {
		char what[300];
		snprintf(what, sizeof(what), "GET %s", path);
		return transport_error(what, resp, r, err, errlen);
	}
	return 0;
}

int imds_get(Imds *im, const char *path, char **ret, char *err, size_t errlen)
{
	usec_t deadline = now_boottime() + (usec_t)im->timeout_ms * USEC_PER_MSEC;
	HttpResponse resp = { 0 };
	int r;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (im->token_expires <= now_boottime() + TOKEN_RENEW_MARGIN_USEC) {
			im->token_expires = 0;
			if ((r = fetch_token(im, deadline, err, errlen)) < 0)
				return r;
		}
		if ((r = get_once(im, path, deadline, &resp, err, errlen)) < 0) {
			http_response_done(&resp);
			return r;
		}
		/* 401: the token expired or the service restarted; one fresh token, then give
		 * up. */
		if (resp.status != 401 || attempt > 0)
			break;
		http_response_done(&resp);
		im->token_expires = 0;
	}
	switch (resp.status) {
	case 200:
		*ret = resp.body;
		return 0;
	case 404:
		snprintf(err, errlen, "%s: not present (HTTP 404)", path);
		r = -ENOENT;
		break;
	case 401:
		snprintf(err, errlen,
		         "%s: the instance metadata service rejects our IMDSv2 token "
		         "(HTTP 401)",
		         path);
		r = -EACCES;
		break;
	case 403:
		snprintf(err, errlen, "%s: the instance metadata service is turned off (HTTP 403)",
		         path);
		r = -EACCES;
		break;
	default:
		snprintf(err, errlen, "%s: unexpected HTTP %ld", path, resp.status);
		r = -EPROTO;
	}
	http_response_done(&resp);
	return r;
}

bool aws_credentials_stale(const AwsCredentials *c, time_t now)
{
	return c->expiration == 0 || now >= c->expiration - CREDENTIALS_MARGIN_SEC;
}

int imds_credentials(Imds *im, AwsCredentials *ret, char *err, size_t errlen)
{
	_cleanup_free_ char *list = NULL, *json = NULL;
	char path[256];
	int r;

	if (im->have_creds && !aws_credentials_stale(&im->creds, time(NULL))) {
		*ret = im->creds;
		return 0;
	}
	r = imds_get(im, "iam/security-credentials/", &list, err, errlen);
	if (r == -ENOENT) {
		snprintf(err, errlen,
		         "the instance has no IAM role (iam/security-credentials/ is "
		         "absent); attach a role that allows ec2:StopInstances");
		return r;
	}
	if (r < 0)
		return r;
	list[strcspn(list, "\r\n")] = '\0';
	if (!list[0] || strchr(list, '/') || strlen(list) >= sizeof(im->role)) {
		snprintf(err, errlen, "iam/security-credentials/ names no usable role");
		return -EPROTO;
	}
	strscpy(im->role, sizeof(im->role), list);
	snprintf(path, sizeof(path), "iam/security-credentials/%s", im->role);
	if ((r = imds_get(im, path, &json, err, errlen)) < 0)
		return r;
	AwsCredentials c;
	char why[200];
	if (imds_parse_credentials(json, &c, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "credentials of role %s: %s", im->role, why);
		return -EPROTO;
	}
	im->creds = c;
	im->have_creds = true;
	*ret = c;
	return 0;
}

static const char *json_string_member(json_object *o, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static json_object *parse_object(const char *text, char *err, size_t errlen)
{
	json_object *o = json_tokener_parse(text);
	if (!o || !json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "not a JSON object");
		json_object_put(o);
		return NULL;
	}
	return o;
}

int imds_parse_instance_action(const char *json, SpotFacts *ret, char *err, size_t errlen)
{
	json_object *o = parse_object(json, err, errlen);
	if (!o)
		return -EBADMSG;
	const char *action = json_string_member(o, "action");
	const char *when = json_string_member(o, "time");
	int r = -EBADMSG;
	SpotFacts n = { 0 };
	if (!action || !when)
		snprintf(err, errlen, "\"action\" or \"time\" missing");
	else if (!streq(action, "stop") && !streq(action, "terminate") &&
	         !streq(action, "hibernate"))
		snprintf(err, errlen, "unknown action \"%.32s\"", action);
	else if (strlen(when) >= sizeof(n.time) || iso8601_parse(when, &n.when) < 0)
		snprintf(err, errlen, "\"time\" is not an ISO 8601 UTC time");
	else {
		strscpy(n.action, sizeof(n.action), action);
		strscpy(n.time, sizeof(n.time), when);
		n.pending = true;
		*ret = n;
		r = 0;
	}
	json_object_put(o);
	return r;
}

int imds_parse_rebalance(const char *json, char *notice_time, size_t size, char *err, size_t errlen)
{
	json_object *o = parse_object(json, err, errlen);
	if (!o)
		return -EBADMSG;
	const char *t = json_string_member(o, "noticeTime");
	time_t ignored;
	int r = -EBADMSG;
	if (!t || iso8601_parse(t, &ignored) < 0)
		snprintf(err, errlen, "\"noticeTime\" missing or not an ISO 8601 UTC time");
	else {
		strscpy(notice_time, size, t);
		r = 0;
	}
	json_object_put(o);
	return r;
}

static int copy_member(json_object *o, const char *key, char *buf, size_t size, char *err,
                       size_t errlen)
{
	const char *v = json_string_member(o, key);
	if (!v || !*v) {
		snprintf(err, errlen, "\"%s\" missing", key);
		return -EBADMSG;
	}
	if (strlen(v) >= size || strpbrk(v, "\r\n:")) {
		snprintf(err, errlen, "\"%s\" is malformed", key);
		return -EBADMSG;
	}
	strscpy(buf, size, v);
	return 0;
}

int imds_parse_credentials(const char *json, AwsCredentials *ret, char *err, size_t errlen)
{
	json_object *o = parse_object(json, err, errlen);
	if (!o)
		return -EBADMSG;
	AwsCredentials c = { 0 };
	const char *code = json_string_member(o, "Code");
	const char *exp = json_string_member(o, "Expiration");
	int r = -EBADMSG;
	if (code && !streq(code, "Success"))
		snprintf(err, errlen, "Code is \"%.64s\", not \"Success\"", code);
	else if (copy_member(o, "AccessKeyId", c.access_key_id, sizeof(c.access_key_id), err,
	                     errlen) < 0 ||
	         copy_member(o, "SecretAccessKey", c.secret_access_key, sizeof(c.secret_access_key),
	                     err, errlen) < 0 ||
	         copy_member(o, "Token", c.token, sizeof(c.token), err, errlen) < 0)
		;
	else if (!exp || iso8601_parse(exp, &c.expiration) < 0)
		snprintf(err, errlen, "\"Expiration\" missing or not an ISO 8601 UTC time");
	else {
		*ret = c;
		r = 0;
	}
	json_object_put(o);
	return r;
}

static int get_word(Imds *im, const char *path, char *buf, size_t size, char *err, size_t errlen)
{
	_cleanup_free_ char *v = NULL;
	int r = imds_get(im, path, &v, err, errlen);
	if (r < 0)
		return r;
	v[strcspn(v, "\r\n")] = '\0';
	if (!v[0] || strlen(v) >= size || strpbrk(v, " \t/&=%")) {
		snprintf(err, errlen, "%s: malformed value", path);
		return -EPROTO;
	}
	strscpy(buf, size, v);
	return 0;
}

/* The Name tag, for people (notifications): any text, its first line, sanitised; "" when
 * the tags are not in the metadata (404, the default) or anything else goes wrong. */
static void get_name_tag(Imds *im, char *buf, size_t size)
{
	_cleanup_free_ char *v = NULL;
	char err[256];
	buf[0] = '\0';
	if (imds_get(im, "tags/instance/Name", &v, err, sizeof(err)) < 0)
		return;
	v[strcspn(v, "\r\n")] = '\0';
	text_sanitize(buf, size, v);
}

int imds_identify(Imds *im, AwsIdentity *ret, char *err, size_t errlen)
{
	AwsIdentity id = { 0 };
	int r = get_word(im, "instance-id", id.instance_id, sizeof(id.instance_id), err, errlen);
	if (r >= 0)
		r = get_word(im, "placement/region", id.region, sizeof(id.region), err, errlen);
	if (r >= 0) {
		r = get_word(im, "instance-life-cycle", id.life_cycle, sizeof(id.life_cycle), err,
		             errlen);
		if (r == -ENOENT) {
			strscpy(id.life_cycle, sizeof(id.life_cycle), "on-demand");
			r = 0;
		}
	}
	if (r >= 0)
		get_name_tag(im, id.name, sizeof(id.name));
	if (r >= 0)
		*ret = id;
	return r;
}
