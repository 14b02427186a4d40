/* A blocking Varlink client: one call on one connection, NUL-terminated JSON over AF_UNIX (the
 * framing of varlink.c), bounded by a deadline over connect, send and receive together, so a
 * caller in an event loop never waits longer than it chose. Used by trnidlectl and by the
 * daemon's calls to trnidled-aws. No logging. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

typedef struct VarlinkReply {
	json_object *msg;        /* the whole reply, owned; varlink_reply_done() puts it */
	const char *error;       /* the error name, or NULL on success */
	json_object *parameters; /* always an object, inside msg */
} VarlinkReply;

/* A connected AF_UNIX stream socket (non-blocking) or a negative errno: -ENOENT or
 * -ECONNREFUSED when nobody listens, -EAGAIN when the listener's queue is full. */
int varlink_connect(const char *path);

/* Sends {"method":method,"parameters":params} on fd and reads the reply, for at most
 * timeout_ms. Consumes params (NULL for {}). Returns 0 with *ret filled, or -ETIMEDOUT,
 * -ECONNRESET (hung up without a reply), -EMSGSIZE (reply over reply_max), -EBADMSG (not a
 * Varlink reply), -ENOMEM, other socket errors. */
int varlink_call_fd(int fd, const char *method, json_object *params, int timeout_ms,
                    size_t reply_max, VarlinkReply *ret);

/* varlink_connect() and varlink_call_fd() in one, the connection closed afterwards. */
int varlink_call(const char *path, const char *method, json_object *params, int timeout_ms,
                 size_t reply_max, VarlinkReply *ret);

/* Parses one reply message (without its NUL). Returns 0 or -EBADMSG. Pure, for unit tests. */
int varlink_parse_reply(const char *buf, size_t len, VarlinkReply *ret);
void varlink_reply_done(VarlinkReply *r);
