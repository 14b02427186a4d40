#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "aws.h"
#include "notify.h"
#include "timespan.h"

#define HOLD_COMMAND "trnidlectl hold 2h --reason \"...\""

static void format_utc(char *buf, size_t size, uint64_t at)
{
	time_t t = (time_t)(at / USEC_PER_SEC);
	struct tm tm;
	if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		strscpy(buf, size, "?");
}

/* "instance i-0abc "gpu-box" (host h, us-east-1)", or "host h" off EC2; capitalised to begin
 * a sentence. */
static void machine_name(const NotifyFacts *f, bool capital, char *buf, size_t size)
{
	if (!f->instance_id[0]) {
		snprintf(buf, size, "%s %s", capital ? "Host" : "host", f->host);
		return;
	}
	snprintf(buf, size, "%s %s", capital ? "Instance" : "instance", f->instance_id);
	if (f->instance_name[0])
		strappendf(buf, size, " \"%s\"", f->instance_name);
	strappendf(buf, size, " (host %s, %s)", f->host, f->region);
}

static const char *action_phrase(const char *action)
{
	if (streq(action, "stop-instance"))
		return "be stopped (EC2 StopInstances)";
	if (streq(action, "poweroff"))
		return "power off";
	return "reach its idle action (Action=none: nothing happens)";
}

static const char *action_noun(const char *action)
{
	if (streq(action, "stop-instance"))
		return "stop (EC2 StopInstances)";
	if (streq(action, "poweroff"))
		return "power-off";
	return "idle action";
}

/* SNS wants printable ASCII in a subject: anything else becomes '?'. */
static void subject_clean(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

static void compose_subject(const NotifyFacts *f, char *buf, size_t size)
{
	char left[64];
	const char *who = f->instance_id[0] ? f->instance_id : f->host;
	snprintf(buf, size, "%strnidled: %s", f->dry_run ? "[dry-run] " : "", who);
	if (f->event == NOTIFY_WARNING)
		strappendf(buf, size, " will %s in %s", action_phrase(f->action),
		           timespan_format(left, sizeof(left), f->action_in));
	else if (f->event == NOTIFY_CANCELLED)
		strappendf(buf, size, ": %s cancelled, in use again", action_noun(f->action));
	else
		strappendf(buf, size, " is idle: %s now", action_noun(f->action));
	subject_clean(buf);
}

void notify_compose(const NotifyFacts *f, char *subject, size_t subject_size, char *message,
                    size_t message_size)
{
	char machine[256], left[64], when[32], seen[32];
	compose_subject(f, subject, MIN(subject_size, (size_t)NOTIFY_SUBJECT_MAX + 1));
	machine_name(f, f->event != NOTIFY_CANCELLED, machine, sizeof(machine));
	format_utc(when, sizeof(when), f->now + f->action_in);
	message[0] = '\0';
	if (f->event == NOTIFY_WARNING)
		strappendf(message, message_size, "%s looks idle and will %s in %s, at %s.\n",
		           machine, action_phrase(f->action),
		           timespan_format(left, sizeof(left), f->action_in), when);
	else if (f->event == NOTIFY_CANCELLED)
		strappendf(message, message_size,
		           "The %s of %s is cancelled: the machine is in use again.\n",
		           action_noun(f->action), machine);
	else
		strappendf(message, message_size, "%s was idle: it will %s now.\n", machine,
		           action_phrase(f->action));
	strappendf(message, message_size, "Why: %s\n", f->why);
	if (f->last_user[0]) {
		format_utc(seen, sizeof(seen), f->last_user_at);
		strappendf(message, message_size, "Last user seen on it: %s, at %s.\n",
		           f->last_user, seen);
	} else
		strappendf(message, message_size,
		           "Last user seen on it: nobody since trnidled started.\n");
	strappendf(message, message_size, "%s, run on it: %s\n",
	           f->event == NOTIFY_STOPPING ? "To keep it up next time (once it runs again)"
	                                       : "To keep it up",
	           HOLD_COMMAND);
	if (f->dry_run)
		strappendf(message, message_size,
		           "(trnidled runs with --dry-run: nothing is actually stopped.)\n");
}

typedef struct Candidate {
	usec_t idle; /* how long ago it was used; USEC_INFINITY when unknown */
	char text[96];
} Candidate;

static void consider(Candidate *best, usec_t idle, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void consider(Candidate *best, usec_t idle, const char *fmt, ...)
{
	if (best->text[0] && idle >= best->idle)
		return;
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(best->text, sizeof(best->text), fmt, ap);
	va_end(ap);
	best->idle = idle;
}

bool notify_last_user(const Sample *s, char *buf, size_t size)
{
	const SessionFacts *ss = &s->sessions;
	Candidate best = { .idle = USEC_INFINITY };
	for (size_t i = 0; i < ss->n_terminals; i++)
		consider(&best, ss->terminals[i].idle, "%s on pts/%u (%s)", ss->terminals[i].user,
		         ss->terminals[i].pts, session_owner_to_string(ss->terminals[i].owner));
	for (size_t i = 0; i < ss->n_ssm; i++)
		consider(&best, ss->ssm[i].n_terminals ? ss->ssm[i].idle : USEC_INFINITY - 1,
		         "%s in an SSM session", ss->ssm[i].user);
	for (size_t i = 0; i < ss->n_multiplexers; i++)
		consider(&best,
		         MIN(ss->multiplexers[i].n_panes ? ss->multiplexers[i].pane_idle
		                                         : USEC_INFINITY - 1,
		             ss->multiplexers[i].n_clients ? ss->multiplexers[i].client_idle
		                                           : USEC_INFINITY - 1),
		         "%s in %s", ss->multiplexers[i].user,
		         session_owner_to_string(ss->multiplexers[i].kind));
	/* Without a terminal there is no idle time: any of these is "now" only when nothing
	 * with one was seen. */
	for (size_t i = 0; i < ss->n_ssh; i++)
		consider(&best, USEC_INFINITY - 1, "%s over SSH", ss->ssh[i].user);
	for (size_t i = 0; i < ss->n_kernels; i++)
		consider(&best, USEC_INFINITY - 1, "%s in Jupyter", ss->kernels[i].user);
	for (size_t i = 0; i < ss->n_vscode; i++)
		consider(&best, USEC_INFINITY - 1, "%s in VS Code", ss->vscode[i].user);
	if (!best.text[0])
		return false;
	text_sanitize(buf, size, best.text);
	return true;
}

char *sns_publish_body(const char *topic_arn, const char *subject, const char *message)
{
	static const char *const keys[] = { "Action=Publish&Version=2010-03-31&TopicArn=",
		                            "&Subject=", "&Message=" };
	const char *values[] = { topic_arn, subject, message };
	char *b = NULL;
	size_t len = 0;
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		size_t n = strlen(keys[i]);
		char *d = realloc(b, len + n + 1);
		if (!d)
			goto fail;
		b = d;
		memcpy(b + len, keys[i], n + 1);
		len += n;
		if (url_encode_append(&b, &len, values[i]) < 0)
			goto fail;
	}
	return b;
fail:
	free(b);
	return NULL;
}
