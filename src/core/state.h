/* The daemon's state in RUNTIME_DIR/state, so that a restart continues the idle streak and
 * keeps holds. Boot-clock values are only meaningful within one boot, so the file carries the
 * boot id and a file from another boot is ignored. */
#pragma once

#include <json-c/json.h>

#include "core.h"

/* Serialises state and the last decision (may be NULL). Returns a malloc'd string. */
char *state_serialize(const CoreState *s, const Decision *last, const char *boot_id);

/* Parses text into *ret (the last decision's verdict and reasons into *ret_last if given).
 * Returns 0; -EBADMSG with a reason in err for corrupt or truncated text; -ESTALE when the
 * file belongs to another boot. *ret is untouched on failure. */
int state_parse(const char *text, const char *boot_id, CoreState *ret, Decision *ret_last,
                char *err, size_t errlen);

/* Parses text that must be exactly one JSON value (nothing after it): NULL with the reason in
 * err when it is not. */
json_object *json_parse_whole(const char *text, char *err, size_t errlen);
/* Member key of o: a string (NULL otherwise); an integer >= 0 (false otherwise). */
const char *json_get_str(json_object *o, const char *key);
bool json_get_u64(json_object *o, const char *key, uint64_t *ret);

/* A state file is not trusted further than a new hold: each hold ends at the latest at now +
 * max_for(its uid). Returns how many were cut. */
unsigned state_cap_holds(CoreState *s, usec_t now, usec_t (*max_for)(uid_t uid, void *userdata),
                         void *userdata);

/* Atomic save: write a temporary file in dir, rename it over dir/state (not fsynced: see
 * state.c). */
int state_save(const char *dir, const char *text);
/* The same for any file dir/name (through dir/.name.tmp); durable: fsynced before the rename. */
int file_save_atomic(const char *dir, const char *name, const char *text, bool durable);
/* Reads dir/state into a malloc'd string, never blocking (only a regular file, up to 256 KiB).
 * -ENOENT when there is none; on any failure a reason in err. */
int state_load_text(const char *dir, char **ret, char *err, size_t errlen);

/* Adds the holds of from to into (a hold whose id is taken gets a new one). Returns how many
 * did not fit. */
size_t state_merge_holds(CoreState *into, const CoreState *from);

/* Reads /proc/sys/kernel/random/boot_id (under proc_root). */
int boot_id_read(const char *proc_root, char *buf, size_t size);
