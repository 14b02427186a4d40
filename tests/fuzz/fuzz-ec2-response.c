/* The EC2 Query API response reader (StopInstances answers and error documents) and the
 * bounded XML scan under it. The body comes over TLS from EC2, or from whatever answers on a
 * configured Ec2Endpoint=. Property: every field is NUL-terminated inside its buffer, also
 * for buffers of 1 and 8 bytes. */
#include "aws.h"
#include "fuzz.h"

static void check_field(const char *s, size_t size)
{
	fuzz_assert(strnlen(s, size) < size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *xml = fuzz_strndup(data, size);
	Ec2StopResponse r;
	static const char *const tags[] = { "Code", "Message", "name", "currentState", "x" };
	static const size_t sizes[] = { 1, 8, 256 };

	if (ec2_parse_stop_response(xml, &r) == 0) {
		check_field(r.current_state, sizeof(r.current_state));
		check_field(r.previous_state, sizeof(r.previous_state));
		check_field(r.error_code, sizeof(r.error_code));
		check_field(r.error_message, sizeof(r.error_message));
		(void)ec2_error_retryable(500, r.error_code);
	}
	for (size_t t = 0; t < ELEMENTSOF(tags); t++)
		for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
			char *buf = malloc(sizes[i]);
			if (!buf)
				abort();
			if (xml_find_text(xml, tags[t], buf, sizes[i]) == 0)
				check_field(buf, sizes[i]);
			free(buf);
		}
	return 0;
}
