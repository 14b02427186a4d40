/* A minimal Varlink server (JSON objects terminated by NUL over AF_UNIX) on sd-event, so that
 * trnidlectl and systemd's varlinkctl can talk to the daemon. systemd 252 has no public
 * sd-varlink, hence our own. Every limit here protects the check loop from a bad client. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include <json-c/json.h>
#include <systemd/sd-event.h>

#define VARLINK_MESSAGE_MAX       (64 * 1024)   /* bytes of one message */
#define VARLINK_OUTPUT_MAX        (1024 * 1024) /* unread replies before we drop the client */
#define VARLINK_CLIENTS_MAX       64            /* connections at once */
#define VARLINK_IDLE_TIMEOUT_USEC (10ULL * 1000000ULL) /* silence allowed per connection */

typedef struct VarlinkServer VarlinkServer;
typedef struct VarlinkConn VarlinkConn;

typedef struct VarlinkCall {
	VarlinkConn *conn;
	const char *method;
	json_object *parameters; /* always an object */
	bool oneway;
	uid_t uid; /* SO_PEERCRED */
	pid_t pid;
	bool replied;
} VarlinkCall;

typedef void (*VarlinkHandler)(VarlinkCall *call, void *userdata);

/* Listens on fd if >= 0 (a socket passed by systemd), else binds path (mode 0666: every local
 * user may ask; the handler decides what each may do). */
int varlink_server_new(sd_event *e, const char *path, int fd, VarlinkHandler handler,
                       void *userdata, VarlinkServer **ret);
VarlinkServer *varlink_server_free(VarlinkServer *s);
unsigned varlink_server_n_clients(const VarlinkServer *s);

/* Each consumes params (may be NULL for {}). */
void varlink_reply(VarlinkCall *call, json_object *params);
void varlink_error(VarlinkCall *call, const char *error, json_object *params);
void varlink_error_invalid_parameter(VarlinkCall *call, const char *parameter);

/* Parses one message (without its NUL). Returns 0, or -EBADMSG with a reason in err. On
 * success *ret_msg holds the object (the caller puts it) and the out pointers point into it. */
int varlink_parse_message(const char *buf, size_t len, json_object **ret_msg,
                          const char **ret_method, json_object **ret_params, bool *ret_oneway,
                          char *err, size_t errlen);
