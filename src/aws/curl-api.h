/* The few libcurl functions trnidled calls, behind a table. The agent trnidled-aws links
 * libcurl; the root daemon loads it on first use (curl-dlopen.c), because under its unit it
 * hands every HTTP call to the agent, and mapping libcurl with its TLS and LDAP libraries at
 * start would more than double its resident memory for nothing. systemd does the same for its
 * optional libraries. */
#pragma once

#include <curl/curl.h>
#include <stddef.h>

typedef struct CurlApi {
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *c);
	CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
	const char *(*easy_strerror)(CURLcode code);
	void (*easy_cleanup)(CURL *c);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
} CurlApi;

/* The table, or NULL with the reason in err when libcurl cannot be loaded. */
const CurlApi *curl_api(char *err, size_t errlen);
