/* The IMDS role credentials reader (iam/security-credentials/ROLE). Property: accepted
 * credentials have a key id, a secret and a token, each NUL-terminated inside its field; a
 * rejected document comes with a reason. */
#include "fuzz.h"
#include "imds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *json = fuzz_strndup(data, size);
	static AwsCredentials c;
	char err[256] = "";

	if (imds_parse_credentials(json, &c, err, sizeof(err)) < 0) {
		fuzz_assert(err[0] != '\0');
		return 0;
	}
	fuzz_assert(strnlen(c.access_key_id, sizeof(c.access_key_id)) < sizeof(c.access_key_id));
	fuzz_assert(strnlen(c.secret_access_key, sizeof(c.secret_access_key)) <
	            sizeof(c.secret_access_key));
	fuzz_assert(strnlen(c.token, sizeof(c.token)) < sizeof(c.token));
	fuzz_assert(c.access_key_id[0] && c.secret_access_key[0]);
	return 0;
}
