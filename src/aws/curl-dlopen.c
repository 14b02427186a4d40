/* libcurl loaded on first use (the daemon; see curl-api.h for why). */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>

#include "curl-api.h"

/* The soname is the same on Debian 12 (libcurl4) and Ubuntu 24.04 (libcurl4t64). */
#define LIBCURL_SONAME "libcurl.so.4"

static CurlApi api;
static bool loaded;

static bool sym(void *h, const char *name, void *ret)
{
	void *p = dlsym(h, name);
	*(void **)ret = p;
	return p != NULL;
}

const CurlApi *curl_api(char *err, size_t errlen)
{
	if (loaded)
		return &api;
	void *h = dlopen(LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(err, errlen, "cannot load %s: %s", LIBCURL_SONAME, dlerror());
		return NULL;
	}
	if (!sym(h, "curl_easy_init", &api.easy_init) ||
	    !sym(h, "curl_easy_setopt", &api.easy_setopt) ||
	    !sym(h, "curl_easy_perform", &api.easy_perform) ||
	    !sym(h, "curl_easy_getinfo", &api.easy_getinfo) ||
	    !sym(h, "curl_easy_strerror", &api.easy_strerror) ||
	    !sym(h, "curl_easy_cleanup", &api.easy_cleanup) ||
	    !sym(h, "curl_slist_append", &api.slist_append) ||
	    !sym(h, "curl_slist_free_all", &api.slist_free_all)) {
		snprintf(err, errlen, "%s lacks a function trnidled needs: %s", LIBCURL_SONAME,
		         dlerror());
		dlclose(h);
		return NULL;
	}
	/* Kept loaded for the life of the process: the daemon will call it again. */
	loaded = true;
	return &api;
}
