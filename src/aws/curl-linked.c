/* libcurl linked in the ordinary way (trnidled-aws, the tests). */
#include "curl-api.h"

static const CurlApi api = {
	.easy_init = curl_easy_init,
	.easy_setopt = curl_easy_setopt,
	.easy_perform = curl_easy_perform,
	.easy_getinfo = curl_easy_getinfo,
	.easy_strerror = curl_easy_strerror,
	.easy_cleanup = curl_easy_cleanup,
	.slist_append = curl_slist_append,
	.slist_free_all = curl_slist_free_all,
};

const CurlApi *curl_api(char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	return &api;
}
