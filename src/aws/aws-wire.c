#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "aws-wire.h"
#include "notify.h"

/* Reads the string member key of p into buf: present, a string, fitting, not empty, and free
 * of characters that could change the meaning of a URL, a form body or a log line. */
static int read_word(json_object *p, const char *key, char *buf, size_t size, char *err,
                     size_t errlen)
{
	json_object *v;
	if (!json_object_object_get_ex(p, key, &v) || !json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen, "\"%s\" missing or not a string", key);
		return -EINVAL;
	}
	const char *s = json_object_get_string(v);
	size_t len = (size_t)json_object_get_string_len(v);
	if (len == 0 || len >= size || strlen(s) != len) {
		snprintf(err, errlen, "\"%s\" empty or longer than %zu characters", key, size - 1);
		return -EINVAL;
	}
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f ||
		    strchr("/&=%\"\\", *c)) {
			snprintf(err, errlen, "\"%s\" holds a character not allowed there", key);
			return -EINVAL;
		}
	strscpy(buf, size, s);
	return 0;
}

/* Any text of at most size-1 bytes (messages); a missing one is empty. */
static void read_text(json_object *p, const char *key, char *buf, size_t size)
{
	json_object *v;
	buf[0] = '\0';
	if (json_object_object_get_ex(p, key, &v) && json_object_is_type(v, json_type_string))
		strscpy(buf, size, json_object_get_string(v));
}

static void add_string(json_object *o, const char *key, const char *value)
{
	json_object_object_add(o, key, json_object_new_string(value));
}

json_object *aws_wire_identity(const AwsIdentity *id)
{
	json_object *o = json_object_new_object();
	add_string(o, "instance_id", id->instance_id);
	add_string(o, "region", id->region);
	add_string(o, "life_cycle", id->life_cycle);
	if (id->name[0])
		add_string(o, "name", id->name);
	return o;
}

int aws_wire_read_identity(json_object *p, AwsIdentity *ret, char *err, size_t errlen)
{
	AwsIdentity id = { 0 };
	int r = read_word(p, "instance_id", id.instance_id, sizeof(id.instance_id), err, errlen);
	if (r >= 0)
		r = read_word(p, "region", id.region, sizeof(id.region), err, errlen);
	if (r >= 0)
		r = read_word(p, "life_cycle", id.life_cycle, sizeof(id.life_cycle), err, errlen);
	json_object *name;
	/* Free text for people: optional, and cleaned rather than refused. */
	if (json_object_object_get_ex(p, "name", &name) &&
	    json_object_is_type(name, json_type_string))
		text_sanitize(id.name, sizeof(id.name), json_object_get_string(name));
	if (r >= 0)
		*ret = id;
	return r;
}

json_object *aws_wire_notice(const SpotFacts *n)
{
	json_object *o = json_object_new_object();
	add_string(o, "action", n->action);
	add_string(o, "time", n->time);
	return o;
}

int aws_wire_read_notice(json_object *p, SpotFacts *ret, char *err, size_t errlen)
{
	SpotFacts n = { .pending = true };
	int r = read_word(p, "action", n.action, sizeof(n.action), err, errlen);
	if (r >= 0)
		r = read_word(p, "time", n.time, sizeof(n.time), err, errlen);
	if (r >= 0 && iso8601_parse(n.time, &n.when) < 0) {
		snprintf(err, errlen, "\"time\" is not an ISO 8601 UTC time");
		r = -EINVAL;
	}
	if (r >= 0)
		*ret = n;
	return r;
}

json_object *aws_wire_rebalance(const char *notice_time)
{
	json_object *o = json_object_new_object();
	add_string(o, "notice_time", notice_time);
	return o;
}

int aws_wire_read_rebalance(json_object *p, char *notice_time, size_t size, char *err,
                            size_t errlen)
{
	return read_word(p, "notice_time", notice_time, size, err, errlen);
}

json_object *aws_wire_stop_request(const AwsIdentity *id, bool dry_run)
{
	json_object *o = json_object_new_object();
	add_string(o, "instance_id", id->instance_id);
	add_string(o, "region", id->region);
	json_object_object_add(o, "dry_run", json_object_new_boolean(dry_run));
	return o;
}

int aws_wire_read_stop_request(json_object *p, AwsIdentity *ret_id, bool *ret_dry_run, char *err,
                               size_t errlen)
{
	AwsIdentity id = { 0 };
	json_object *d;
	int r = read_word(p, "instance_id", id.instance_id, sizeof(id.instance_id), err, errlen);
	if (r >= 0)
		r = read_word(p, "region", id.region, sizeof(id.region), err, errlen);
	if (r < 0)
		return r;
	/* No default: a request that forgets dry_run must not stop the instance. */
	if (!json_object_object_get_ex(p, "dry_run", &d) ||
	    !json_object_is_type(d, json_type_boolean)) {
		snprintf(err, errlen, "\"dry_run\" missing or not a boolean");
		return -EINVAL;
	}
	*ret_id = id;
	*ret_dry_run = json_object_get_boolean(d);
	return 0;
}

json_object *aws_wire_action_result(const ActionResult *res)
{
	json_object *o = json_object_new_object();
	add_string(o, "path", res->path);
	add_string(o, "message", res->message);
	return o;
}

int aws_wire_read_action_result(json_object *p, ActionResult *ret)
{
	*ret = (ActionResult){ 0 };
	read_text(p, "path", ret->path, sizeof(ret->path));
	read_text(p, "message", ret->message, sizeof(ret->message));
	if (!ret->path[0])
		strscpy(ret->path, sizeof(ret->path), "ec2");
	return 0;
}

json_object *aws_wire_metrics(const AwsIdentity *id, const CloudWatchMetric *m, size_t n)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	add_string(o, "instance_id", id->instance_id);
	add_string(o, "region", id->region);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_new_object();
		add_string(e, "name", m[i].name);
		json_object_object_add(e, "value", json_object_new_double(m[i].value));
		add_string(e, "unit", m[i].unit);
		if (m[i].signal)
			add_string(e, "signal", m[i].signal);
		json_object_array_add(a, e);
	}
	json_object_object_add(o, "metrics", a);
	return o;
}

static bool metric_unit_known(const char *unit)
{
	static const char *const units[] = { "None", "Count", "Seconds", "Percent" };
	for (size_t i = 0; i < ELEMENTSOF(units); i++)
		if (streq(unit, units[i]))
			return true;
	return false;
}

/* A metric's optional Signal dimension: a signal name, lower-case letters and '-'. */
static int read_signal(json_object *e, size_t i, const char **ret, char *err, size_t errlen)
{
	json_object *v;
	if (!json_object_object_get_ex(e, "signal", &v))
		return 0;
	const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
	size_t len = strlen(s);
	if (len == 0 || len > 32 || strspn(s, "abcdefghijklmnopqrstuvwxyz-") != len) {
		snprintf(err, errlen, "metrics[%zu]: \"signal\" must be 1-32 of a-z and -", i);
		return -EINVAL;
	}
	*ret = s;
	return 0;
}

static int read_metric(json_object *e, size_t i, CloudWatchMetric *ret, char *err, size_t errlen)
{
	json_object *name, *value, *unit;
	if (!json_object_is_type(e, json_type_object) ||
	    !json_object_object_get_ex(e, "name", &name) ||
	    !json_object_is_type(name, json_type_string) ||
	    !json_object_object_get_ex(e, "value", &value) ||
	    !(json_object_is_type(value, json_type_double) ||
	      json_object_is_type(value, json_type_int)) ||
	    !json_object_object_get_ex(e, "unit", &unit) ||
	    !json_object_is_type(unit, json_type_string)) {
		snprintf(err, errlen, "metrics[%zu]: needs \"name\", \"value\" and \"unit\"", i);
		return -EINVAL;
	}
	const char *n = json_object_get_string(name);
	size_t len = strlen(n);
	if (len == 0 || len > 64 ||
	    strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	              "0123456789") != len) {
		snprintf(err, errlen, "metrics[%zu]: \"name\" must be 1-64 letters and digits", i);
		return -EINVAL;
	}
	double v = json_object_get_double(value);
	if (!isfinite(v)) {
		snprintf(err, errlen, "metrics[%zu]: \"value\" is not a finite number", i);
		return -EINVAL;
	}
	if (!metric_unit_known(json_object_get_string(unit))) {
		snprintf(err, errlen, "metrics[%zu]: unknown \"unit\"", i);
		return -EINVAL;
	}
	*ret = (CloudWatchMetric){ n, v, json_object_get_string(unit), NULL };
	return read_signal(e, i, &ret->signal, err, errlen);
}

json_object *aws_wire_publish(const char *subject, const char *message)
{
	json_object *o = json_object_new_object();
	add_string(o, "subject", subject);
	add_string(o, "message", message);
	return o;
}

int aws_wire_read_publish(json_object *p, const char **ret_subject, const char **ret_message,
                          char *err, size_t errlen)
{
	json_object *s, *m;
	if (!json_object_object_get_ex(p, "subject", &s) ||
	    !json_object_is_type(s, json_type_string) ||
	    !json_object_object_get_ex(p, "message", &m) ||
	    !json_object_is_type(m, json_type_string)) {
		snprintf(err, errlen, "needs \"subject\" and \"message\", strings");
		return -EINVAL;
	}
	const char *subject = json_object_get_string(s), *message = json_object_get_string(m);
	size_t slen = (size_t)json_object_get_string_len(s);
	size_t mlen = (size_t)json_object_get_string_len(m);
	if (slen == 0 || slen > NOTIFY_SUBJECT_MAX || strlen(subject) != slen) {
		snprintf(err, errlen, "\"subject\" must be 1-%d characters", NOTIFY_SUBJECT_MAX);
		return -EINVAL;
	}
	for (const char *c = subject; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e) {
			snprintf(err, errlen, "\"subject\" holds a character SNS refuses there");
			return -EINVAL;
		}
	if (mlen == 0 || mlen > NOTIFY_MESSAGE_MAX || strlen(message) != mlen) {
		snprintf(err, errlen, "\"message\" must be 1-%d bytes without NUL",
		         NOTIFY_MESSAGE_MAX);
		return -EINVAL;
	}
	*ret_subject = subject;
	*ret_message = message;
	return 0;
}

int aws_wire_read_metrics(json_object *p, AwsIdentity *ret_id, CloudWatchMetric *ret_metrics,
                          size_t max, size_t *ret_n, char *err, size_t errlen)
{
	AwsIdentity id = { 0 };
	json_object *a;
	int r = read_word(p, "instance_id", id.instance_id, sizeof(id.instance_id), err, errlen);
	if (r >= 0)
		r = read_word(p, "region", id.region, sizeof(id.region), err, errlen);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(p, "metrics", &a) ||
	    !json_object_is_type(a, json_type_array) || json_object_array_length(a) == 0 ||
	    json_object_array_length(a) > max) {
		snprintf(err, errlen, "\"metrics\" must be an array of 1 to %zu metrics", max);
		return -EINVAL;
	}
	size_t n = json_object_array_length(a);
	for (size_t i = 0; i < n; i++) {
		r = read_metric(json_object_array_get_idx(a, i), i, &ret_metrics[i], err, errlen);
		if (r < 0)
			return r;
	}
	*ret_id = id;
	*ret_n = n;
	return 0;
}

json_object *aws_wire_failure(int r, const char *message, json_object *extra)
{
	json_object *o = extra ? extra : json_object_new_object();
	json_object_object_add(o, "errno", json_object_new_int(r < 0 ? -r : EIO));
	add_string(o, "message", message);
	return o;
}

int aws_wire_read_error(const VarlinkReply *reply, char *err, size_t errlen)
{
	char msg[768];
	json_object *e;
	read_text(reply->parameters, "message", msg, sizeof(msg));
	if (streq(reply->error, AWS_ERROR_PERMISSION)) {
		snprintf(err, errlen, "the AWS agent refused: %s", msg[0] ? msg : "not allowed");
		return -EPERM;
	}
	if (!streq(reply->error, AWS_ERROR_FAILED)) {
		read_text(reply->parameters, "parameter", msg, sizeof(msg));
		snprintf(err, errlen, "the AWS agent answered %.128s%s%s", reply->error,
		         msg[0] ? " " : "", msg);
		return -EPROTO;
	}
	if (!json_object_object_get_ex(reply->parameters, "errno", &e) ||
	    !json_object_is_type(e, json_type_int) || json_object_get_int64(e) < 1 ||
	    json_object_get_int64(e) > 4095) {
		snprintf(err, errlen, "the AWS agent failed without a valid errno: %s", msg);
		return -EPROTO;
	}
	snprintf(err, errlen, "%s", msg);
	return -(int)json_object_get_int64(e);
}
