#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/uio.h>
#include <time.h>

#include <systemd/sd-journal.h>

#include "log.h"

static LogTarget target = LOG_TARGET_STDERR;

void log_set_target(LogTarget t)
{
	target = t;
}

LogTarget log_get_target(void)
{
	return target;
}

static const char *priority_word(int priority)
{
	switch (priority) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR:
		return "error: ";
	case LOG_WARNING:
		return "warning: ";
	default:
		return "";
	}
}

static void stderr_line(int priority, const char *text)
{
	struct timespec ts;
	struct tm tm;
	char when[64];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %s%s\n", when, ts.tv_nsec / 1000000, priority_word(priority),
	        text);
	fflush(stderr);
}

static void emit(int priority, const char *message_id, const char *const *fields, const char *text)
{
	if (target == LOG_TARGET_STDERR) {
		stderr_line(priority, text);
		return;
	}
	struct iovec iov[64];
	size_t n = 0;
	_cleanup_free_ char *msg = NULL, *prio = NULL, *mid = NULL;
	if (asprintf(&msg, "MESSAGE=%s", text) < 0 || asprintf(&prio, "PRIORITY=%d", priority) < 0)
		return;
	iov[n++] = (struct iovec){ msg, strlen(msg) };
	iov[n++] = (struct iovec){ prio, strlen(prio) };
	iov[n++] = (struct iovec){ (char *)"SYSLOG_IDENTIFIER=trnidled", 26 };
	if (message_id) {
		if (asprintf(&mid, "MESSAGE_ID=%s", message_id) < 0)
			return;
		iov[n++] = (struct iovec){ mid, strlen(mid) };
	}
	for (size_t i = 0; fields && fields[i] && n < ELEMENTSOF(iov); i++)
		iov[n++] = (struct iovec){ (char *)fields[i], strlen(fields[i]) };
	if (sd_journal_sendv(iov, (int)n) < 0)
		stderr_line(priority, text);
}

void log_msg(int priority, const char *fmt, ...)
{
	char buf[2048];
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	emit(priority, NULL, NULL, buf);
	errno = saved;
}

void log_event(int priority, const char *message_id, const char *const *fields, const char *fmt,
               ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	emit(priority, message_id, fields, buf);
}

void log_check(const char *kind, const Decision *d)
{
	char text[4096], reasons[3072] = "", main_reason[512] = "";
	char f_verdict[64], f_idle[64], f_needed[64], f_due[64], f_kind[64];
	char *f_reasons = NULL, *f_reason = NULL;
	const char *fields[REASONS_MAX + 10];
	char signal_fields[REASONS_MAX][48];
	size_t n = 0;

	for (size_t i = 0; i < d->n_reasons; i++)
		strappendf(reasons, sizeof(reasons), "%s%s %s", i ? "; " : "",
		           signal_to_string(d->reasons[i].signal), d->reasons[i].detail);
	if (d->n_reasons_dropped)
		strappendf(reasons, sizeof(reasons), "; and %zu more", d->n_reasons_dropped);
	if (d->n_reasons > 0)
		snprintf(main_reason, sizeof(main_reason), "%s %s",
		         signal_to_string(d->reasons[0].signal), d->reasons[0].detail);

	snprintf(text, sizeof(text), "%s: %s (idle %u/%u)%s%s%s", kind,
	         verdict_to_string(d->verdict), d->idle_checks, d->idle_checks_needed,
	         d->action_due ? ", action due" : "", reasons[0] ? ": " : "", reasons);
	if (target == LOG_TARGET_STDERR) {
		stderr_line(LOG_INFO, text);
		return;
	}
	snprintf(f_verdict, sizeof(f_verdict), "TRNIDLED_VERDICT=%s",
	         verdict_to_string(d->verdict));
	snprintf(f_idle, sizeof(f_idle), "TRNIDLED_IDLE_CHECKS=%u", d->idle_checks);
	snprintf(f_needed, sizeof(f_needed), "TRNIDLED_IDLE_CHECKS_NEEDED=%u",
	         d->idle_checks_needed);
	snprintf(f_due, sizeof(f_due), "TRNIDLED_ACTION_DUE=%d", d->action_due ? 1 : 0);
	snprintf(f_kind, sizeof(f_kind), "TRNIDLED_CHECK_KIND=%s", kind);
	fields[n++] = f_verdict;
	fields[n++] = f_idle;
	fields[n++] = f_needed;
	fields[n++] = f_due;
	fields[n++] = f_kind;
	if (asprintf(&f_reasons, "TRNIDLED_REASONS=%s", reasons) >= 0)
		fields[n++] = f_reasons;
	if (main_reason[0] && asprintf(&f_reason, "TRNIDLED_REASON=%s", main_reason) >= 0)
		fields[n++] = f_reason;
	for (size_t i = 0; i < d->n_reasons && i < REASONS_MAX; i++) {
		snprintf(signal_fields[i], sizeof(signal_fields[i]), "TRNIDLED_SIGNAL=%s",
		         signal_to_string(d->reasons[i].signal));
		fields[n++] = signal_fields[i];
	}
	fields[n] = NULL;
	emit(LOG_INFO, MESSAGE_ID_CHECK, fields, text);
	free(f_reasons);
	free(f_reason);
}
