/* Logging: to the journal under systemd, or one line each on stderr with --foreground. */
#pragma once

#include <stdbool.h>
#include <syslog.h>

#include "macro.h"

/* MESSAGE_IDs so that `journalctl MESSAGE_ID=…` finds every record of one kind. */
#define MESSAGE_ID_CHECK             "6b1f0c3e8a2d4e51b7c94d0a5e3f2a17"
#define MESSAGE_ID_ACTION_TAKEN      "d3a45f1e9c0b4b7e8f216a5c7e0d9b42"
#define MESSAGE_ID_ACTION_CANCELLED  "4e9c1d7b2a6f4c03a8e5b1f0d6c7a239"
#define MESSAGE_ID_ACTION_WARNING    "a17e5c2b9d3f4a6c8b0e1d2f3a4b5c6d"
#define MESSAGE_ID_ACTION_FAILED     "f0c8b2a6e4d14f7a9c3e5b7d1a2c4e6f"
#define MESSAGE_ID_SPOT_INTERRUPTION "2c5e8a1f4b7d4e0a9c6f3b2e1d8a7c54"
#define MESSAGE_ID_REBALANCE         "7d3b9e2a5c1f4a8e8b6d2c4f0e1a3b95"
#define MESSAGE_ID_HOLD              "0c5e3b7a9d1f4e2a8b6c4d0e2f1a3b57"
#define MESSAGE_ID_HOLD_RELEASE      "5a2d8e1c7b3f4a9e9d0c6b2a4e8f1d36"
#define MESSAGE_ID_HOLD_REFUSED      "b8e4a2c6d0f14b3e8a7c5d9e1f2b4c60"

typedef enum LogTarget {
	LOG_TARGET_STDERR,
	LOG_TARGET_JOURNAL,
} LogTarget;

void log_set_target(LogTarget t);
LogTarget log_get_target(void);

void log_msg(int priority, const char *fmt, ...) _printf_(2, 3);
#define log_error(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_INFO, __VA_ARGS__)

/* A failure that repeats every check (CloudWatch unreachable, a textfile on a full disk) is
 * logged first, then at most once per LOG_FAILURE_EVERY_USEC with the count left out, and its
 * recovery once. */
#define LOG_FAILURE_EVERY_USEC (10 * USEC_PER_MINUTE)

typedef struct LogRateLimit {
	bool failing;
	usec_t last_logged;
	unsigned suppressed;
} LogRateLimit;

void log_failure_rate_limited(LogRateLimit *l, usec_t now, const char *what, const char *err);
void log_success_rate_limited(LogRateLimit *l, const char *what);

/* One structured record with a MESSAGE_ID and extra "KEY=value" fields (NULL-terminated). */
void log_event(int priority, const char *message_id, const char *const *fields, const char *fmt,
               ...) _printf_(4, 5);
