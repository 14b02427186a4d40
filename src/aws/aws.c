/* libcurl easy handles, each strictly time-bounded, and SigV4 by CURLOPT_AWS_SIGV4: no AWS SDK
 * and no AWS CLI. Callers run these outside the sample path, on their own timers. */
#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curl-api.h"

#include "aws.h"

typedef struct Buffer {
	char *data;
	size_t size;
	bool overflow;
} Buffer;

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	Buffer *b = userdata;
	size_t n = size * nmemb;
	if (b->size + n > HTTP_BODY_MAX) {
		b->overflow = true;
		return 0; /* aborts the transfer */
	}
	char *d = realloc(b->data, b->size + n + 1);
	if (!d)
		return 0;
	memcpy(d + b->size, ptr, n);
	b->size += n;
	d[b->size] = '\0';
	b->data = d;
	return n;
}

static atomic_bool abort_all;

void http_abort_all(bool on)
{
	atomic_store(&abort_all, on);
}

static int progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                    curl_off_t ulnow)
{
	return atomic_load(&abort_all) ? 1 : 0;
}

void http_response_done(HttpResponse *r)
{
	free(r->body);
	r->body = NULL;
	r->size = 0;
}

static struct curl_slist *header_list(const CurlApi *api, const char *const *headers, bool *oom)
{
	struct curl_slist *l = NULL;
	for (size_t i = 0; headers && headers[i]; i++) {
		struct curl_slist *n = api->slist_append(l, headers[i]);
		if (!n) {
			*oom = true;
			break;
		}
		l = n;
	}
	return l;
}

int http_request(const HttpRequest *req, HttpResponse *ret)
{
	Buffer b = { 0 };
	bool oom = false;
	int r = 0;

	*ret = (HttpResponse){ 0 };
	const CurlApi *api = curl_api(ret->error, sizeof(ret->error));
	if (!api) {
		ret->body = strdup("");
		return ret->body ? -EHOSTUNREACH : -ENOMEM;
	}
	CURL *c = api->easy_init();
	if (!c)
		return -ENOMEM;
	struct curl_slist *h = header_list(api, req->headers, &oom);
	char errbuf[CURL_ERROR_SIZE] = "";

	api->easy_setopt(c, CURLOPT_URL, req->url);
	api->easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	api->easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	api->easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
	api->easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms);
	api->easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	api->easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	api->easy_setopt(c, CURLOPT_WRITEDATA, &b);
	api->easy_setopt(c, CURLOPT_USERAGENT, "trnidled");
	api->easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
	api->easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	if (req->no_proxy)
		api->easy_setopt(c, CURLOPT_NOPROXY, "*");
	if (h)
		api->easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (req->body) {
		api->easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
		api->easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(req->body));
	}
	if (!streq(req->method, req->body ? "POST" : "GET"))
		api->easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	if (streq(req->method, "PUT") && !req->body) {
		api->easy_setopt(c, CURLOPT_POSTFIELDS, "");
		api->easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
	}
	if (req->sigv4) {
		api->easy_setopt(c, CURLOPT_AWS_SIGV4, req->sigv4);
		api->easy_setopt(c, CURLOPT_USERPWD, req->userpwd);
	}

	CURLcode cc = oom ? CURLE_OUT_OF_MEMORY : api->easy_perform(c);
	if (cc == CURLE_OK) {
		api->easy_getinfo(c, CURLINFO_RESPONSE_CODE, &ret->status);
	} else if (cc == CURLE_OUT_OF_MEMORY) {
		r = -ENOMEM;
	} else {
		ret->timed_out = cc == CURLE_OPERATION_TIMEDOUT;
		snprintf(ret->error, sizeof(ret->error), "%s",
		         b.overflow  ? "answer larger than 1 MiB"
		         : errbuf[0] ? errbuf
		                     : api->easy_strerror(cc));
		r = ret->timed_out ? -ETIMEDOUT : -EHOSTUNREACH;
	}
	ret->body = b.data ? b.data : strdup("");
	ret->size = b.size;
	if (!ret->body)
		r = -ENOMEM;
	api->slist_free_all(h);
	api->easy_cleanup(c);
	return r;
}

int aws_query_post(const char *url, const char *region, const char *service,
                   const AwsCredentials *creds, const char *body, long timeout_ms,
                   HttpResponse *ret)
{
	char sigv4[128], userpwd[300];
	_cleanup_free_ char *token = NULL;
	snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:%s", region, service);
	snprintf(userpwd, sizeof(userpwd), "%s:%s", creds->access_key_id, creds->secret_access_key);
	if (creds->token[0] && asprintf(&token, "X-Amz-Security-Token: %s", creds->token) < 0)
		return -ENOMEM;
	const char *headers[] = { "Content-Type: application/x-www-form-urlencoded; charset=utf-8",
		                  "Accept:", token, NULL };
	HttpRequest req = { .method = "POST",
		            .url = url,
		            .headers = headers,
		            .body = body,
		            .connect_timeout_ms = MIN(timeout_ms, 3000L),
		            .timeout_ms = timeout_ms,
		            .sigv4 = sigv4,
		            .userpwd = userpwd };
	return http_request(&req, ret);
}

void aws_endpoint(char *buf, size_t size, const char *override, const char *service,
                  const char *region)
{
	if (override && *override)
		snprintf(buf, size, "%s", override);
	else
		snprintf(buf, size, "https://%s.%s.amazonaws.com/", service, region);
}

int url_encode_append(char **buf, size_t *len, const char *s)
{
	size_t n = strlen(s);
	char *d = realloc(*buf, *len + 3 * n + 1);
	if (!d)
		return -ENOMEM;
	*buf = d;
	char *p = d + *len;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (isalnum(*c) || *c == '-' || *c == '_' || *c == '.' || *c == '~')
			*p++ = (char)*c;
		else
			p += sprintf(p, "%%%02X", *c);
	}
	*p = '\0';
	*len = (size_t)(p - d);
	return 0;
}

int iso8601_parse(const char *s, time_t *ret)
{
	struct tm tm = { 0 };
	const char *e = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!e)
		return -EINVAL;
	if (*e == '.')
		for (e++; isdigit((unsigned char)*e); e++)
			;
	if (!streq(e, "Z") && !streq(e, "+00:00"))
		return -EINVAL;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*ret = t;
	return 0;
}

static void xml_decode(const char *s, size_t n, char *buf, size_t size)
{
	static const struct {
		const char *ent;
		char c;
	} ents[] = { { "&amp;", '&' },
		     { "&lt;", '<' },
		     { "&gt;", '>' },
		     { "&quot;", '"' },
		     { "&apos;", '\'' } };
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < size;) {
		bool done = false;
		for (size_t k = 0; k < ELEMENTSOF(ents) && s[i] == '&'; k++) {
			size_t l = strlen(ents[k].ent);
			if (i + l <= n && strneq(s + i, ents[k].ent, l)) {
				buf[o++] = ents[k].c;
				i += l;
				done = true;
				break;
			}
		}
		if (!done)
			buf[o++] = s[i++];
	}
	if (size > 0)
		buf[o] = '\0';
}

int xml_find_text(const char *xml, const char *tag, char *buf, size_t size)
{
	char open[80], close[80];
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	const char *a = strstr(xml, open);
	if (!a)
		return -ENOENT;
	a += strlen(open);
	const char *z = strstr(a, close);
	/* Nested elements mean we matched a container, not a text element. */
	if (!z || memchr(a, '<', (size_t)(z - a)))
		return -ENOENT;
	xml_decode(a, (size_t)(z - a), buf, size);
	return 0;
}

/* Copies the <wrapper>…</wrapper> section so that its <name> is not confused with another's. */
static int xml_section(const char *xml, const char *wrapper, char *buf, size_t size)
{
	char open[80], close[80];
	snprintf(open, sizeof(open), "<%s>", wrapper);
	snprintf(close, sizeof(close), "</%s>", wrapper);
	const char *a = strstr(xml, open), *z;
	if (!a || !(z = strstr(a, close)))
		return -ENOENT;
	size_t n = (size_t)(z - a);
	if (n >= size)
		return -E2BIG;
	memcpy(buf, a, n);
	buf[n] = '\0';
	return 0;
}

int ec2_parse_stop_response(const char *xml, Ec2StopResponse *ret)
{
	char sec[1024];
	*ret = (Ec2StopResponse){ 0 };
	if (xml_find_text(xml, "Code", ret->error_code, sizeof(ret->error_code)) == 0) {
		(void)xml_find_text(xml, "Message", ret->error_message, sizeof(ret->error_message));
		return 0;
	}
	if (!strstr(xml, "<StopInstancesResponse"))
		return -EBADMSG;
	if (xml_section(xml, "currentState", sec, sizeof(sec)) == 0)
		(void)xml_find_text(sec, "name", ret->current_state, sizeof(ret->current_state));
	if (xml_section(xml, "previousState", sec, sizeof(sec)) == 0)
		(void)xml_find_text(sec, "name", ret->previous_state, sizeof(ret->previous_state));
	return ret->current_state[0] ? 0 : -EBADMSG;
}

bool ec2_error_retryable(long status, const char *code)
{
	static const char *const retry[] = { "RequestLimitExceeded", "Throttling",
		                             "ThrottlingException",  "InternalError",
		                             "ServiceUnavailable",   "Unavailable",
		                             "ExpiredToken",         "RequestExpired" };
	if (status >= 500 || status == 429 || status == 0)
		return true;
	for (size_t i = 0; code && i < ELEMENTSOF(retry); i++)
		if (streq(code, retry[i]))
			return true;
	return false;
}
