/* Holds: taken, admitted, released, ended, and the reasons they give. Part of the pure core. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core-judges.h"
#include "timespan.h"

void holds_expire(CoreState *st, usec_t now)
{
	size_t w = 0;
	for (size_t i = 0; i < st->n_holds; i++)
		if (hold_running(&st->holds[i], now))
			st->holds[w++] = st->holds[i];
	st->n_holds = w;
}

void judge_holds(const CoreState *st, usec_t now, Decision *d)
{
	for (size_t i = 0; i < st->n_holds; i++) {
		const Hold *h = &st->holds[i];
		char left[64];
		timespan_format(left, sizeof(left), (h->until - now) / USEC_PER_SEC * USEC_PER_SEC);
		reason_add(d, SIGNAL_HOLD, "#%llu by %s (uid %u), %s left%s%s",
		           (unsigned long long)h->id, h->owner[0] ? h->owner : "?",
		           (unsigned)h->uid, left, h->reason[0] ? ": " : "", h->reason);
	}
}

int core_hold_add(CoreState *s, uid_t uid, const char *owner, usec_t now, usec_t duration,
                  usec_t max, const char *reason, uint64_t *ret_id)
{
	if (duration == 0 || duration > max)
		return -ERANGE;
	holds_expire(s, now);
	if (s->n_holds >= HOLDS_MAX)
		return -E2BIG;
	Hold *h = &s->holds[s->n_holds++];
	*h = (Hold){ .id = s->next_hold_id++, .uid = uid, .until = now + duration };
	text_sanitize(h->owner, sizeof(h->owner), strempty(owner));
	text_sanitize(h->reason, sizeof(h->reason), strempty(reason));
	*ret_id = h->id;
	return 0;
}

HoldAdmission core_hold_admit(const CoreState *s, uid_t uid, usec_t now, usec_t duration,
                              const HoldPolicy *policy, size_t *ret_own, size_t *ret_all)
{
	size_t own = 0, all = 0;
	for (size_t i = 0; i < s->n_holds; i++) {
		if (!hold_running(&s->holds[i], now))
			continue;
		all++;
		own += s->holds[i].uid == uid;
	}
	*ret_own = own;
	*ret_all = all;
	if (duration == 0 || duration > policy->max)
		return HOLD_BAD_DURATION;
	if (policy->per_user > 0 && own >= policy->per_user)
		return HOLD_TOO_MANY_OWN;
	if (all >= MIN(policy->table, (size_t)HOLDS_MAX))
		return HOLD_TABLE_FULL;
	return HOLD_ADMITTED;
}

int core_hold_release(CoreState *s, uint64_t id, uid_t uid)
{
	for (size_t i = 0; i < s->n_holds; i++) {
		if (s->holds[i].id != id)
			continue;
		if (uid != 0 && s->holds[i].uid != uid)
			return -EPERM;
		memmove(&s->holds[i], &s->holds[i + 1], (s->n_holds - i - 1) * sizeof(Hold));
		s->n_holds--;
		return 0;
	}
	return -ENOENT;
}
