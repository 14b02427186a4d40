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

void log_failure_rate_limited(LogRateLimit *l, usec_t now, const char *what, const char *err)
{
	if (l->failing && now - l->last_logged < LOG_FAILURE_EVERY_USEC) {
		l->suppressed++;
		return;
	}
	if (l->suppressed)
		log_warning("%s failed: %s (%u more failure(s) not logged; at most one message "
		            "every 10min)",
		            what, err, l->suppressed);
	else
		log_warning("%s failed: %s (further failures: at most one message every 10min)",
		            what, err);
	l->failing = true;
	l->last_logged = now;
	l->suppressed = 0;
}

void log_success_rate_limited(LogRateLimit *l, const char *what)
{
	if (l->failing)
		log_notice("%s works again", what);
	*l = (LogRateLimit){ 0 };
}
