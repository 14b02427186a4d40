/* Notifications through Amazon SNS ([AWS] NotifyTopicArn=): when the warning starts, when a
 * pending action is cancelled and when the machine is being stopped. What is said and the
 * Publish request are built here, pure and unit-tested; aws-client.c sends it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sample.h"

typedef enum NotifyEvent {
	NOTIFY_WARNING,   /* the warning started: the action follows unless someone acts */
	NOTIFY_CANCELLED, /* a pending action was cancelled: the machine is in use again */
	NOTIFY_STOPPING,  /* the action is being taken now */
	_NOTIFY_EVENT_MAX,
} NotifyEvent;

typedef struct NotifyFacts {
	NotifyEvent event;
	const char *instance_id;   /* "" off EC2 */
	const char *instance_name; /* the Name tag, "" when unknown */
	const char *region;
	const char *host;   /* the host name */
	const char *action; /* "stop-instance", "poweroff", "none" */
	bool dry_run;
	uint64_t now;          /* CLOCK_REALTIME µs */
	uint64_t action_in;    /* NOTIFY_WARNING: µs until the action */
	const char *why;       /* the decision's summary */
	const char *last_user; /* "alice on pts/0 (SSH)", "" when nobody was seen */
	uint64_t last_user_at; /* CLOCK_REALTIME µs when seen last; 0 when nobody */
} NotifyFacts;

#define NOTIFY_SUBJECT_MAX 100 /* SNS: at most 100 printable ASCII characters */
#define NOTIFY_MESSAGE_MAX 4096

/* The subject and message of an event. The message says which instance, who was on it last,
 * what it will do and when, and the exact command that keeps it up. */
void notify_compose(const NotifyFacts *f, char *subject, size_t subject_size, char *message,
                    size_t message_size);

/* The session user used most recently in s ("alice on pts/0 (ssh)", "bob over SSH"), false
 * when s shows nobody. */
bool notify_last_user(const Sample *s, char *buf, size_t size);

/* The form body of Publish (Query API, Version 2010-03-31). malloc'd, NULL on ENOMEM. */
char *sns_publish_body(const char *topic_arn, const char *subject, const char *message);
