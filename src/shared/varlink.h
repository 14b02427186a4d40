/* A minimal Varlink server (JSON objects terminated by NUL over AF_UNIX) on sd-event, so that
 * trnidlectl and systemd's varlinkctl can talk to the daemon. systemd 252 has no public
 * sd-varlink, hence our own. Every limit here protects the check loop from a bad client. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include <json-c/json.h>
#include <systemd/sd-event.h>

#define VARLINK_MESSAGE_MAX (64 * 1024)   /* bytes of one message */
#define VARLINK_OUTPUT_MAX  (1024 * 1024) /* unread replies before we drop the client */
#define VARLINK_CLIENTS_MAX 64            /* connections at once */
/* Connections of one unprivileged uid at once: one user cannot take more than an eighth of
 * the slots, and root (or a privileged peer, see varlink_server_set_privileged()) takes the
 * slot of the oldest unprivileged connection when all are taken. */
#define VARLINK_CLIENTS_PER_UID   8
#define VARLINK_IDLE_TIMEOUT_USEC (10ULL * 1000000ULL) /* silence allowed between messages */
/* From a message's first byte to its NUL, however the bytes trickle in (slowloris). */
#define VARLINK_MESSAGE_DEADLINE_USEC (5ULL * 1000000ULL)
/* Messages per second (and burst) one unprivileged uid gets read and answered, over all its
 * connections: beyond, its connections wait (nothing is refused), so that one user's flood
 * costs a bounded share of the CPU. */
#define VARLINK_CALLS_PER_SEC   50
#define VARLINK_CALLS_BURST     100
#define VARLINK_PEER_GROUPS_MAX 64

/* Who is on the other end: SO_PEERCRED and SO_PEERGROUPS at connect time. */
typedef struct VarlinkPeer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	gid_t groups[VARLINK_PEER_GROUPS_MAX]; /* supplementary groups (the first ones) */
	size_t n_groups;
} VarlinkPeer;

typedef struct VarlinkServer VarlinkServer;
typedef struct VarlinkConn VarlinkConn;

typedef struct VarlinkCall {
	VarlinkConn *conn;
	const char *method;
	json_object *parameters; /* always an object */
	bool oneway;
	uid_t uid; /* SO_PEERCRED */
	pid_t pid;
	const VarlinkPeer *peer;
	bool privileged; /* see varlink_server_set_privileged() */
	bool replied;
} VarlinkCall;

typedef void (*VarlinkHandler)(VarlinkCall *call, void *userdata);

/* Listens on fd if >= 0 (a socket passed by systemd), else binds path with mode (0666 for the
 * daemon: every local user may ask, the handler decides what each may do; 0600 for the AWS
 * agent). When the socket file is deleted or replaced, the server binds it anew. */
int varlink_server_new(sd_event *e, const char *path, int fd, mode_t mode, VarlinkHandler handler,
                       void *userdata, VarlinkServer **ret);
/* Which peers are privileged: never limited per uid, and given a slot when the server is full.
 * Called at connect time with the server's userdata. Without it, root alone is. */
typedef bool (*VarlinkPrivileged)(const VarlinkPeer *peer, void *userdata);
void varlink_server_set_privileged(VarlinkServer *s, VarlinkPrivileged fn);
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
