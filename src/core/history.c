/* The verdict history of history.h: recording a change, the bounds (age, entries, bytes), the
 * file's JSON both ways and the timeline rendering. One file over 400 lines: the rendering and
 * the JSON read the entries exactly as the recording bounds them, and nothing else may. Pure
 * but for history_load()/history_save()/history_set_aside(), which take the directory. */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "history.h"
#include "state.h"
#include "timespan.h"

#define HISTORY_VERSION   1
#define HISTORY_FILE_NAME "history"
#define CELL_USEC         (15 * USEC_PER_MINUTE)
#define CELLS_PER_DAY     96
#define STRETCHES_SHOWN   5

static const char *const state_names[_HISTORY_STATE_MAX] = {
	[HISTORY_ACTIVE] = "active", [HISTORY_IDLE] = "idle", [HISTORY_HELD] = "held",
	[HISTORY_GRACE] = "grace",   [HISTORY_OFF] = "off",
};

/* One character per state in the timeline; ' ' is "no record". */
static const char state_cells[_HISTORY_STATE_MAX] = {
	[HISTORY_ACTIVE] = '#', [HISTORY_IDLE] = '.', [HISTORY_HELD] = 'H',
	[HISTORY_GRACE] = 'g',  [HISTORY_OFF] = '_',
};

const char *history_state_to_string(HistoryState s)
{
	return s >= 0 && s < _HISTORY_STATE_MAX ? state_names[s] : "invalid";
}

int history_state_from_string(const char *s, HistoryState *ret)
{
	for (int i = 0; i < _HISTORY_STATE_MAX; i++)
		if (streq(s, state_names[i])) {
			*ret = (HistoryState)i;
			return 0;
		}
	return -EINVAL;
}

HistoryState history_state_from_verdict(Verdict v)
{
	switch (v) {
	case VERDICT_IDLE:
		return HISTORY_IDLE;
	case VERDICT_HELD:
		return HISTORY_HELD;
	case VERDICT_GRACE:
		return HISTORY_GRACE;
	case VERDICT_ACTIVE:
	default:
		return HISTORY_ACTIVE;
	}
}

static void drop_oldest(History *h, size_t k)
{
	k = MIN(k, h->n);
	memmove(h->entries, h->entries + k, (h->n - k) * sizeof(HistoryEntry));
	h->n -= k;
}

void history_prune(History *h, uint64_t now)
{
	uint64_t cutoff = now > HISTORY_KEEP_USEC ? now - HISTORY_KEEP_USEC : 0;
	size_t older = 0;
	while (older < h->n && h->entries[older].at < cutoff)
		older++;
	if (older == 0)
		return;
	/* The last of the older ones was in force at the cutoff: it stays, starting there. */
	drop_oldest(h, older - 1);
	h->entries[0].at = cutoff;
}

bool history_record(History *h, uint64_t now, HistoryState state, const char *signal,
                    const char *detail)
{
	if (h->n > 0) {
		const HistoryEntry *last = &h->entries[h->n - 1];
		if (last->state == state)
			return false;
		now = MAX(now, last->at); /* a wall clock set back does not reorder the file */
	}
	if (h->n >= HISTORY_ENTRIES_MAX)
		drop_oldest(h, h->n - HISTORY_ENTRIES_MAX + 1);
	HistoryEntry *e = &h->entries[h->n++];
	*e = (HistoryEntry){ .at = now, .state = state };
	text_sanitize(e->signal, sizeof(e->signal), strempty(signal));
	text_sanitize(e->detail, sizeof(e->detail), strempty(detail));
	history_prune(h, now);
	return true;
}

bool history_record_decision(History *h, uint64_t now, const Decision *d)
{
	const Reason *first = d->n_reasons > 0 ? &d->reasons[0] : NULL;
	return history_record(h, now, history_state_from_verdict(d->verdict),
	                      first ? signal_to_string(first->signal) : "",
	                      first                         ? first->detail
	                      : d->verdict == VERDICT_GRACE ? "boot grace"
	                                                    : "nothing active");
}

/* at in the local time zone, formatted as "%a %m-%d" (day), with " %H:%M" (minute) or as
 * "%H:%M" alone (clock). strftime() with literal formats only: -Wformat-nonliteral. */
typedef enum LocalFormat { LOCAL_DAY, LOCAL_MINUTE, LOCAL_CLOCK } LocalFormat;

static void format_local(char *buf, size_t size, LocalFormat which, uint64_t at)
{
	time_t t = (time_t)(at / USEC_PER_SEC);
	struct tm tm;
	size_t n = 0;
	if (localtime_r(&t, &tm))
		n = which == LOCAL_DAY      ? strftime(buf, size, "%a %m-%d", &tm)
		    : which == LOCAL_MINUTE ? strftime(buf, size, "%a %m-%d %H:%M", &tm)
		                            : strftime(buf, size, "%H:%M", &tm);
	if (n == 0)
		strscpy(buf, size, "?");
}

static void format_utc(char *buf, size_t size, uint64_t at)
{
	time_t t = (time_t)(at / USEC_PER_SEC);
	struct tm tm;
	if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		strscpy(buf, size, "?");
}

bool history_note_unclean_stop(History *h, uint64_t now, uint64_t last_alive)
{
	if (h->n == 0 || h->entries[h->n - 1].state == HISTORY_OFF)
		return false;
	uint64_t at = MIN(MAX(last_alive, h->entries[h->n - 1].at), now);
	char when[64], detail[HISTORY_DETAIL_MAX];
	format_utc(when, sizeof(when), at);
	snprintf(detail, sizeof(detail),
	         "trnidled did not stop cleanly; off from its last sign of life (%s) until it "
	         "started again",
	         when);
	return history_record(h, at, HISTORY_OFF, "", detail);
}

static json_object *entry_json(const HistoryEntry *e, bool with_time)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "at_usec", json_object_new_uint64(e->at));
	if (with_time) {
		char when[64];
		format_utc(when, sizeof(when), e->at);
		json_object_object_add(o, "time", json_object_new_string(when));
		json_object_object_add(o, "verdict",
		                       json_object_new_string(history_state_to_string(e->state)));
	} else
		json_object_object_add(o, "state",
		                       json_object_new_string(history_state_to_string(e->state)));
	json_object_object_add(o, "signal", json_object_new_string(e->signal));
	json_object_object_add(o, "detail", json_object_new_string(e->detail));
	return o;
}

/* How many of the oldest entries must go for the rest to fit in HISTORY_BYTES_MAX. */
static size_t entries_over_budget(const History *h)
{
	size_t used = 64; /* the object around the array */
	for (size_t i = h->n; i > 0; i--) {
		json_object *o = entry_json(&h->entries[i - 1], false);
		used += strlen(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) + 1;
		json_object_put(o);
		if (used > HISTORY_BYTES_MAX)
			return i;
	}
	return 0;
}

char *history_serialize(History *h, uint64_t now)
{
	history_prune(h, now);
	drop_oldest(h, entries_over_budget(h));
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	json_object_object_add(o, "version", json_object_new_int(HISTORY_VERSION));
	for (size_t i = 0; i < h->n; i++)
		json_object_array_add(a, entry_json(&h->entries[i], false));
	json_object_object_add(o, "entries", a);
	char *text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return text;
}

static int parse_entry(json_object *j, HistoryEntry *e)
{
	uint64_t at;
	const char *state = json_get_str(j, "state"), *signal = json_get_str(j, "signal"),
	           *detail = json_get_str(j, "detail");
	if (!json_get_u64(j, "at_usec", &at) || !state || !signal || !detail)
		return -EBADMSG;
	*e = (HistoryEntry){ .at = at };
	if (history_state_from_string(state, &e->state) < 0)
		return -EBADMSG;
	text_sanitize(e->signal, sizeof(e->signal), signal);
	text_sanitize(e->detail, sizeof(e->detail), detail);
	return 0;
}

static int parse_entries(json_object *a, History *h, char *err, size_t errlen)
{
	size_t n = json_object_array_length(a);
	if (n > HISTORY_ENTRIES_MAX) {
		snprintf(err, errlen, "%zu entries, more than %d", n, HISTORY_ENTRIES_MAX);
		return -EBADMSG;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *j = json_object_array_get_idx(a, i);
		if (!json_object_is_type(j, json_type_object) ||
		    parse_entry(j, &h->entries[i]) < 0) {
			snprintf(err, errlen, "invalid entry #%zu", i);
			return -EBADMSG;
		}
		if (i > 0 && h->entries[i].at < h->entries[i - 1].at) {
			snprintf(err, errlen, "entry #%zu is older than the one before it", i);
			return -EBADMSG;
		}
	}
	h->n = n;
	return 0;
}

int history_parse(const char *text, History *ret, char *err, size_t errlen)
{
	json_object *o = json_parse_whole(text, err, errlen), *version, *a;
	if (!o)
		return -EBADMSG;
	int r = -EBADMSG;
	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "version", &version) ||
	    !json_object_is_type(version, json_type_int) ||
	    json_object_get_int(version) != HISTORY_VERSION ||
	    !json_object_object_get_ex(o, "entries", &a) ||
	    !json_object_is_type(a, json_type_array))
		snprintf(err, errlen, "missing or invalid fields (version %d expected)",
		         HISTORY_VERSION);
	else {
		History *h = malloc(sizeof(*h));
		r = h ? parse_entries(a, h, err, errlen) : -ENOMEM;
		if (r == 0)
			memcpy(ret, h, sizeof(*h));
		free(h);
	}
	json_object_put(o);
	return r;
}

/* The index of the entry in force at t (the last one that began at or before it), or the first
 * one when all began later. Entries are in time order: a binary search, since the timeline asks
 * for every cell. */
static size_t entry_at(const History *h, uint64_t t)
{
	size_t lo = 0, hi = h->n; /* the answer is the last index < hi with at <= t */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (h->entries[mid].at <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 ? lo - 1 : 0;
}

json_object *history_to_json(const History *h, uint64_t since)
{
	json_object *a = json_object_new_array();
	for (size_t i = h->n > 0 ? entry_at(h, since) : 0; i < h->n; i++)
		json_object_array_add(a, entry_json(&h->entries[i], true));
	return a;
}

static uint64_t entry_end(const History *h, size_t i, uint64_t now)
{
	return i + 1 < h->n ? h->entries[i + 1].at : MAX(now, h->entries[i].at);
}

/* The state that filled most of [from, to), or ' ' where there is no record. */
static char cell_char(const History *h, uint64_t from, uint64_t to, uint64_t now)
{
	uint64_t covered[_HISTORY_STATE_MAX] = { 0 };
	to = MIN(to, now);
	for (size_t i = entry_at(h, from); i < h->n && h->entries[i].at < to && from < to; i++) {
		uint64_t a = MAX(h->entries[i].at, from), b = MIN(entry_end(h, i, now), to);
		if (a < b)
			covered[h->entries[i].state] += b - a;
	}
	int best = -1;
	for (int s = 0; s < _HISTORY_STATE_MAX; s++)
		if (covered[s] > 0 && (best < 0 || covered[s] > covered[best]))
			best = s;
	return best < 0 ? ' ' : state_cells[best];
}

/* Local midnight of the day that holds at, moved by days. */
static uint64_t local_day_start(uint64_t at, int days)
{
	time_t t = (time_t)(at / USEC_PER_SEC);
	struct tm tm;
	if (!localtime_r(&t, &tm))
		return at;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_mday += days;
	tm.tm_isdst = -1;
	time_t start = mktime(&tm);
	return start < 0 ? 0 : (uint64_t)start * USEC_PER_SEC;
}

static void render_days(FILE *f, const History *h, uint64_t since, uint64_t now)
{
	fprintf(f, "%-10s", "");
	for (int hour = 0; hour < 24; hour += 2)
		fprintf(f, hour < 22 ? "%02d      " : "%02d\n", hour);
	/* Days before the first record would be blank lines. */
	uint64_t first = MAX(since, h->entries[0].at);
	for (uint64_t day = local_day_start(first, 0); day <= now; day = local_day_start(day, 1)) {
		char label[32];
		format_local(label, sizeof(label), LOCAL_DAY, day);
		fprintf(f, "%-10s", label);
		for (int c = 0; c < CELLS_PER_DAY; c++) {
			uint64_t from = day + (uint64_t)c * CELL_USEC;
			fputc(from < since ? ' ' : cell_char(h, from, from + CELL_USEC, now), f);
		}
		fputc('\n', f);
		if (local_day_start(day, 1) <= day)
			break; /* a broken time zone must not loop */
	}
	fprintf(f,
	        "%-10s# active  . idle  H held  g boot grace  _ off or stopped  "
	        "(blank: no record; a cell is 15 min, the state that filled most of it)\n",
	        "");
}

typedef struct Stretch {
	size_t entry;
	uint64_t from, to;
} Stretch;

static uint64_t stretch_len(const Stretch *s)
{
	return s->to - s->from;
}

/* Keeps top sorted longest first, at most STRETCHES_SHOWN of them. */
static void stretch_insert(Stretch *top, size_t *n, Stretch s)
{
	size_t k;
	if (*n < STRETCHES_SHOWN)
		k = (*n)++;
	else if (stretch_len(&s) > stretch_len(&top[STRETCHES_SHOWN - 1]))
		k = STRETCHES_SHOWN - 1;
	else
		return;
	for (; k > 0 && stretch_len(&top[k - 1]) < stretch_len(&s); k--)
		top[k] = top[k - 1];
	top[k] = s;
}

static void render_stretches(FILE *f, const History *h, uint64_t since, uint64_t now)
{
	Stretch top[STRETCHES_SHOWN];
	size_t n = 0;
	for (size_t i = 0; i < h->n; i++) {
		uint64_t from = MAX(h->entries[i].at, since), to = entry_end(h, i, now);
		if (h->entries[i].state == HISTORY_ACTIVE && from < to)
			stretch_insert(top, &n, (Stretch){ .entry = i, .from = from, .to = to });
	}
	if (n == 0) {
		fprintf(f, "\nNo active stretch in this time.\n");
		return;
	}
	fprintf(f, "\nLongest active stretches (what kept the machine up as each began):\n");
	for (size_t i = 0; i < n; i++) {
		const HistoryEntry *e = &h->entries[top[i].entry];
		char span[64], from[32], to[32];
		timespan_format(span, sizeof(span),
		                stretch_len(&top[i]) / USEC_PER_MINUTE * USEC_PER_MINUTE);
		format_local(from, sizeof(from), LOCAL_MINUTE, top[i].from);
		format_local(to, sizeof(to), LOCAL_CLOCK, top[i].to);
		bool goes_on = top[i].entry + 1 == h->n;
		fprintf(f, "  %-12s %s-%s  %s%s%s\n",
		        stretch_len(&top[i]) < USEC_PER_MINUTE ? "<1min" : span, from,
		        goes_on ? "now" : to, e->signal, e->signal[0] ? ": " : "", e->detail);
	}
}

void history_render(FILE *f, const History *h, uint64_t since, uint64_t now)
{
	since = MIN(since, now);
	if (h->n == 0) {
		fprintf(f, "No history recorded yet.\n");
		return;
	}
	render_days(f, h, since, now);
	render_stretches(f, h, since, now);
}

int history_load(const char *dir, History *ret, char *err, size_t errlen)
{
	char path[4096];
	_cleanup_free_ char *text = NULL;
	mode_t mode = 0;
	snprintf(path, sizeof(path), "%s/" HISTORY_FILE_NAME, dir);
	ssize_t n = read_regular_file(path, HISTORY_FILE_READ_MAX, &text, &mode);
	if (n == -ENOENT)
		return -ENOENT;
	if (n == -EBADFD)
		snprintf(err, errlen, "not a regular file (%s)", file_type_name(mode));
	else if (n == -EFBIG)
		snprintf(err, errlen, "larger than %d KiB", HISTORY_FILE_READ_MAX / 1024);
	else if (n < 0)
		snprintf(err, errlen, "%s", strerror((int)-n));
	if (n < 0)
		return -EBADMSG;
	return history_parse(text, ret, err, errlen) < 0 ? -EBADMSG : 0;
}

int history_save(const char *dir, const char *text)
{
	return file_save_atomic(dir, HISTORY_FILE_NAME, text, true); /* kept across reboots */
}

int history_set_aside(const char *dir)
{
	char from[4096], to[4096];
	snprintf(from, sizeof(from), "%s/" HISTORY_FILE_NAME, dir);
	snprintf(to, sizeof(to), "%s/" HISTORY_FILE_NAME ".corrupt", dir);
	return rename(from, to) < 0 ? -errno : 0;
}
