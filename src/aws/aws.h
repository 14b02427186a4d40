/* Talking to AWS with libcurl alone: a time-bounded HTTP request, the Query API signed with
 * CURLOPT_AWS_SIGV4, and the small pure readers and writers around it (unit-tested). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "macro.h"

/* The instance role's temporary keys, from IMDS. */
typedef struct AwsCredentials {
	char access_key_id[128];
	char secret_access_key[128];
	char token[4096];
	time_t expiration; /* wall clock (UTC seconds); 0 when unknown */
} AwsCredentials;

typedef struct HttpRequest {
	const char *method; /* "GET", "PUT", "POST" */
	const char *url;
	const char *const *headers; /* "Name: value", NULL-terminated; may be NULL */
	const char *body;           /* POST/PUT body; NULL for none */
	long connect_timeout_ms;
	long timeout_ms;     /* the whole request */
	bool no_proxy;       /* IMDS is link-local: never through a proxy */
	const char *sigv4;   /* CURLOPT_AWS_SIGV4, e.g. "aws:amz:us-east-2:ec2"; NULL: unsigned */
	const char *userpwd; /* "AKID:SECRET" with sigv4 */
} HttpRequest;

#define HTTP_BODY_MAX (1024 * 1024)

typedef struct HttpResponse {
	long status; /* 0 when no HTTP answer came */
	char *body;  /* NUL-terminated, malloc'd; never NULL after http_request() */
	size_t size;
	bool timed_out;
	char error[256]; /* transport error text when status is 0 */
} HttpResponse;

/* Performs one request. Returns 0 when an HTTP answer came (any status), -ETIMEDOUT,
 * -EHOSTUNREACH for other transport failures (text in ret->error), -ENOMEM. */
int http_request(const HttpRequest *req, HttpResponse *ret);
void http_response_done(HttpResponse *r);
/* While on, every request under way (in any thread) ends at curl's next progress callback
 * (within a second) with a transport error: for a quick exit. */
void http_abort_all(bool on);

/* A signed Query API POST (form body) to url for service in region, with the session token
 * in X-Amz-Security-Token (signed since curl 7.86). */
int aws_query_post(const char *url, const char *region, const char *service,
                   const AwsCredentials *creds, const char *body, long timeout_ms,
                   HttpResponse *ret);

/* "https://SERVICE.REGION.amazonaws.com/" unless override is set. */
void aws_endpoint(char *buf, size_t size, const char *override, const char *service,
                  const char *region);

/* Appends s to the malloc'd *buf, percent-encoded as AWS wants (RFC 3986 unreserved kept).
 * Returns 0 or -ENOMEM. */
int url_encode_append(char **buf, size_t *len, const char *s);

/* "2017-09-18T08:22:00Z" (also with fractional seconds) to UTC seconds. -EINVAL otherwise. */
int iso8601_parse(const char *s, time_t *ret);

/* The text of the first <tag>…</tag> inside xml (entities decoded), or -ENOENT. The EC2 Query
 * API answers in flat, schema-fixed XML; a bounded scan for two or three known elements is all
 * we need and keeps a parser with its own attack surface out of a root daemon. */
int xml_find_text(const char *xml, const char *tag, char *buf, size_t size);

typedef struct Ec2StopResponse {
	char current_state[32]; /* "stopping", "stopped"; empty when absent */
	char previous_state[32];
	char error_code[64]; /* "UnauthorizedOperation", "DryRunOperation"; empty when none */
	char error_message[256];
} Ec2StopResponse;

/* Reads a StopInstancesResponse or an EC2 error document. -EBADMSG when it is neither. */
int ec2_parse_stop_response(const char *xml, Ec2StopResponse *ret);

/* Whether an EC2 error code is worth another attempt (throttling, server side, expired keys). */
bool ec2_error_retryable(long status, const char *code);
