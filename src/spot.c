#include <stdio.h>

#include "spot.h"

void spot_block_decision(const SpotNotice *n, Decision *d)
{
	if (d->n_reasons == REASONS_MAX) {
		d->n_reasons--;
		d->n_reasons_dropped++;
	}
	memmove(&d->reasons[1], &d->reasons[0], d->n_reasons * sizeof(d->reasons[0]));
	d->n_reasons++;
	d->reasons[0].signal = SIGNAL_SPOT_INTERRUPTION;
	snprintf(d->reasons[0].detail, sizeof(d->reasons[0].detail),
	         "EC2 will %s this spot instance at %s; no idle action meanwhile", n->action,
	         n->time);
	d->verdict = VERDICT_ACTIVE;
	d->idle_checks = 0;
	d->action_due = false;
}
