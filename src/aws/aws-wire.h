/* The messages of interface io.trnidle.aws between the daemon (aws-client-remote.c) and the
 * agent (trnidled-aws): each operation's parameters and results to JSON and back. Pure and
 * unit-tested. Readers check every field (type, size, characters) and name the one at fault:
 * each side treats the other's message as untrusted input. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "action.h"
#include "imds.h"
#include "cloudwatch.h"
#include "varlink-client.h"

#define AWS_INTERFACE        "io.trnidle.aws"
#define AWS_METHOD_IDENTIFY  AWS_INTERFACE ".Identify"
#define AWS_METHOD_SPOT      AWS_INTERFACE ".SpotInstanceAction"
#define AWS_METHOD_REBALANCE AWS_INTERFACE ".Rebalance"
#define AWS_METHOD_STOP      AWS_INTERFACE ".StopInstance"
#define AWS_METHOD_METRICS   AWS_INTERFACE ".PutMetrics"
#define AWS_METHOD_RELOAD    AWS_INTERFACE ".Reload"
#define AWS_METHOD_PUBLISH   AWS_INTERFACE ".Publish"
/* An operation failed: {"errno": positive errno, "message": sentence[, "path": …]}. */
#define AWS_ERROR_FAILED     AWS_INTERFACE ".Failed"
#define AWS_ERROR_PERMISSION AWS_INTERFACE ".PermissionDenied"

#define AWS_METRICS_MAX 8
#define AWS_REPLY_MAX   (64 * 1024)

json_object *aws_wire_identity(const AwsIdentity *id);
int aws_wire_read_identity(json_object *p, AwsIdentity *ret, char *err, size_t errlen);

json_object *aws_wire_notice(const SpotFacts *n);
int aws_wire_read_notice(json_object *p, SpotFacts *ret, char *err, size_t errlen);

json_object *aws_wire_rebalance(const char *notice_time);
int aws_wire_read_rebalance(json_object *p, char *notice_time, size_t size, char *err,
                            size_t errlen);

json_object *aws_wire_stop_request(const AwsIdentity *id, bool dry_run);
int aws_wire_read_stop_request(json_object *p, AwsIdentity *ret_id, bool *ret_dry_run, char *err,
                               size_t errlen);
/* The outcome of a stop, success or failure: {"path", "message"}. */
json_object *aws_wire_action_result(const ActionResult *res);
int aws_wire_read_action_result(json_object *p, ActionResult *ret);

/* ret_metrics point into p (valid while p lives). */
json_object *aws_wire_metrics(const AwsIdentity *id, const CloudWatchMetric *m, size_t n);
int aws_wire_read_metrics(json_object *p, AwsIdentity *ret_id, CloudWatchMetric *ret_metrics,
                          size_t max, size_t *ret_n, char *err, size_t errlen);

/* A notification: the subject (1-100 printable ASCII characters) and the message (1 to
 * NOTIFY_MESSAGE_MAX bytes, no NUL). ret_* point into p. */
json_object *aws_wire_publish(const char *subject, const char *message);
int aws_wire_read_publish(json_object *p, const char **ret_subject, const char **ret_message,
                          char *err, size_t errlen);

/* The parameters of AWS_ERROR_FAILED for r < 0 and message; extra (consumed, may be NULL) is
 * merged in. */
json_object *aws_wire_failure(int r, const char *message, json_object *extra);
/* A reply's error as a negative errno with a sentence in err: the operation's own errno for
 * AWS_ERROR_FAILED, -EPERM for PermissionDenied, -EPROTO for anything else. */
int aws_wire_read_error(const VarlinkReply *reply, char *err, size_t errlen);
