/* The per-check journal record, built from a Decision: the daemon's, not the shared logger's,
 * so that the logger knows nothing of verdicts. */
#include <stdio.h>
#include <stdlib.h>

#include "check-log.h"
#include "log.h"

void log_check(const char *kind, const Decision *d)
{
	char text[4096], reasons[3072] = "", main_reason[512] = "";
	char f_verdict[64], f_idle[64], f_needed[64], f_due[64], f_kind[64];
	char *f_reasons = NULL, *f_reason = NULL;
	const char *fields[REASONS_MAX + NOT_COUNTING_MAX + 10];
	char signal_fields[REASONS_MAX][48];
	char *not_counting[NOT_COUNTING_MAX] = { NULL };
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
	if (log_get_target() == LOG_TARGET_STDERR) {
		log_event(LOG_INFO, MESSAGE_ID_CHECK, NULL, "%s", text);
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
	/* What was seen and did not count (a tunnel with only keepalives, cloud-init past its
	 * limit): after a power-off, the journal must say why a connected session did not keep
	 * the machine up. */
	for (size_t i = 0; i < d->n_not_counting && i < NOT_COUNTING_MAX; i++)
		if (asprintf(&not_counting[i], "TRNIDLED_NOT_COUNTING=%s %s",
		             signal_to_string(d->not_counting[i].signal),
		             d->not_counting[i].detail) >= 0)
			fields[n++] = not_counting[i];
	fields[n] = NULL;
	log_event(LOG_INFO, MESSAGE_ID_CHECK, fields, "%s", text);
	free(f_reasons);
	free(f_reason);
	for (size_t i = 0; i < NOT_COUNTING_MAX; i++)
		free(not_counting[i]);
}
