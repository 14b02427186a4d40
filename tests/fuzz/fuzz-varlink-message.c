/* The Varlink message parser: what a local client (any user) sends on the control socket.
 * The server splits the stream at NUL bytes and never hands over more than
 * VARLINK_MESSAGE_MAX bytes, so neither occurs here. The input is not NUL-terminated, as in
 * the server's buffer, so a read past its end is an ASan report. */
#include "fuzz.h"
#include "varlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_object *msg, *params;
	const char *method;
	bool oneway;
	char err[256] = "";

	if (size > VARLINK_MESSAGE_MAX || memchr(data, '\0', size))
		return 0;
	if (varlink_parse_message((const char *)data, size, &msg, &method, &params, &oneway, err,
	                          sizeof(err)) < 0) {
		fuzz_assert(err[0] != '\0'); /* the client is told why */
		return 0;
	}
	fuzz_assert(method && json_object_is_type(params, json_type_object));
	/* What the dispatcher does next: echo the method name in a MethodNotFound reply. */
	json_object *reply = json_object_new_object();
	json_object_object_add(reply, "method", json_object_new_string(method));
	fuzz_assert(json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN) != NULL);
	json_object_put(reply);
	json_object_put(msg);
	return 0;
}
