/* The verdict history: the last 7 days of verdict changes (active, idle, held, grace, off), kept
 * in STATE_DIR/history across restarts and reboots and served as io.trnidle.History. Everything here but
 * history_load() and history_save() is pure: times are CLOCK_REALTIME microseconds handed in by
 * the caller, never read here, so the unit tests drive the clock. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "core.h"

typedef enum HistoryState {
	HISTORY_ACTIVE,
	HISTORY_IDLE,
	HISTORY_HELD,
	HISTORY_GRACE,
	HISTORY_OFF, /* the daemon did not run: stopped, powered off, crashed */
	_HISTORY_STATE_MAX,
} HistoryState;

#define HISTORY_KEEP_USEC     (7ULL * 24 * 3600 * USEC_PER_SEC)
#define HISTORY_ENTRIES_MAX   1024
#define HISTORY_BYTES_MAX     (192 * 1024) /* of the file; oldest entries go first */
#define HISTORY_SIGNAL_MAX    32
#define HISTORY_DETAIL_MAX    200
#define HISTORY_FILE_READ_MAX (512 * 1024)

typedef struct HistoryEntry {
	uint64_t at; /* CLOCK_REALTIME µs when this state began */
	HistoryState state;
	char signal[HISTORY_SIGNAL_MAX]; /* the deciding signal ("" when none decided) */
	char detail[HISTORY_DETAIL_MAX];
} HistoryEntry;

/* Oldest first; times never go backwards (a wall clock set back is clamped to the last). */
typedef struct History {
	HistoryEntry entries[HISTORY_ENTRIES_MAX];
	size_t n;
} History;

const char *history_state_to_string(HistoryState s);
int history_state_from_string(const char *s, HistoryState *ret);
HistoryState history_state_from_verdict(Verdict v);

/* Records a state at now when it differs from the last entry's. Returns true when an entry
 * was added (the file needs saving), false when the state goes on. Drops what is out of
 * bounds (older than 7 days, beyond HISTORY_ENTRIES_MAX). */
bool history_record(History *h, uint64_t now, HistoryState state, const char *signal,
                    const char *detail);
/* history_record() of a check's decision: its verdict and first reason. */
bool history_record_decision(History *h, uint64_t now, const Decision *d);

/* At start-up: when the last entry is not "off", the daemon did not stop cleanly (a crash, a
 * kill, power lost); the time it was last seen alive (last_alive, e.g. the state file's last
 * write; 0 when unknown) starts an "off" entry, clamped between the last entry and now.
 * Returns true when an entry was added. */
bool history_note_unclean_stop(History *h, uint64_t now, uint64_t last_alive);

/* Drops entries older than HISTORY_KEEP_USEC before now, but keeps the one in force at that
 * point (moved to it), so the state at the start of the window stays known. */
void history_prune(History *h, uint64_t now);

/* The file's text, after history_prune(now) and dropping the oldest entries until it fits in
 * HISTORY_BYTES_MAX (those are dropped from *h too, so memory and file agree). malloc'd, or
 * NULL on OOM. */
char *history_serialize(History *h, uint64_t now);
/* Parses the file's text into *ret. Returns 0, or -EBADMSG with a reason in err (*ret then
 * untouched). */
int history_parse(const char *text, History *ret, char *err, size_t errlen);

/* The entries since since (and the one in force at since), as the Varlink reply's array. */
json_object *history_to_json(const History *h, uint64_t since);

/* The timeline for people: a line per local day from since's day to now, a cell per 15
 * minutes, a legend, and the longest active stretches with what kept the machine up. Uses
 * the local time zone (TZ). */
void history_render(FILE *f, const History *h, uint64_t since, uint64_t now);

/* The file, DIR/history (the state directory). history_load(): -ENOENT when there is none, -EBADMSG (with
 * the reason in err) when it cannot be used. history_save(): atomic (temporary + rename). */
int history_load(const char *dir, History *ret, char *err, size_t errlen);
int history_save(const char *dir, const char *text);
/* Moves a history that cannot be read to DIR/history.corrupt, for a person to look at;
 * the daemon then starts a new one. */
int history_set_aside(const char *dir);
