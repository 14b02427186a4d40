#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "macro.h"
#include "state.h"

#define STATE_VERSION  1
#define STATE_SIZE_MAX (256 * 1024)

char *state_serialize(const CoreState *s, const Decision *last, const char *boot_id)
{
	json_object *o = json_object_new_object();
	json_object *holds = json_object_new_array();

	json_object_object_add(o, "version", json_object_new_int(STATE_VERSION));
	json_object_object_add(o, "boot_id", json_object_new_string(boot_id));
	json_object_object_add(o, "idle_checks", json_object_new_int64(s->idle_checks));
	json_object_object_add(o, "next_hold_id", json_object_new_uint64(s->next_hold_id));
	for (size_t i = 0; i < s->n_holds; i++) {
		const Hold *h = &s->holds[i];
		json_object *j = json_object_new_object();
		json_object_object_add(j, "id", json_object_new_uint64(h->id));
		json_object_object_add(j, "uid", json_object_new_int64(h->uid));
		json_object_object_add(j, "owner", json_object_new_string(h->owner));
		json_object_object_add(j, "until_usec", json_object_new_uint64(h->until));
		json_object_object_add(j, "reason", json_object_new_string(h->reason));
		json_object_array_add(holds, j);
	}
	json_object_object_add(o, "holds", holds);
	if (last) {
		json_object *reasons = json_object_new_array();
		for (size_t i = 0; i < last->n_reasons; i++) {
			json_object *r = json_object_new_object();
			json_object_object_add(
			        r, "signal",
			        json_object_new_string(signal_to_string(last->reasons[i].signal)));
			json_object_object_add(r, "detail",
			                       json_object_new_string(last->reasons[i].detail));
			json_object_array_add(reasons, r);
		}
		json_object_object_add(o, "last_verdict",
		                       json_object_new_string(verdict_to_string(last->verdict)));
		json_object_object_add(o, "last_reasons", reasons);
	}
	char *text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return text;
}

bool json_get_u64(json_object *o, const char *key, uint64_t *ret)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return false;
	int64_t i = json_object_get_int64(v);
	if (i < 0)
		return false;
	*ret = (uint64_t)i;
	return true;
}

const char *json_get_str(json_object *o, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int parse_hold(json_object *j, Hold *h)
{
	uint64_t id, uid, until;
	const char *reason = json_get_str(j, "reason"), *owner = json_get_str(j, "owner");
	if (!json_object_is_type(j, json_type_object) || !json_get_u64(j, "id", &id) ||
	    !json_get_u64(j, "uid", &uid) || !json_get_u64(j, "until_usec", &until) || !reason ||
	    uid > UINT32_MAX)
		return -EBADMSG;
	*h = (Hold){ .id = id, .uid = (uid_t)uid, .until = until };
	text_sanitize(h->owner, sizeof(h->owner), strempty(owner));
	text_sanitize(h->reason, sizeof(h->reason), reason);
	return 0;
}

static void parse_last(json_object *o, Decision *last)
{
	const char *verdict = json_get_str(o, "last_verdict");
	json_object *reasons;
	*last = (Decision){ .verdict = VERDICT_ACTIVE };
	for (int v = 0; verdict && v < _VERDICT_MAX; v++)
		if (streq(verdict, verdict_to_string((Verdict)v)))
			last->verdict = (Verdict)v;
	if (!json_object_object_get_ex(o, "last_reasons", &reasons) ||
	    !json_object_is_type(reasons, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(reasons) && i < REASONS_MAX; i++) {
		json_object *r = json_object_array_get_idx(reasons, i);
		const char *sig = json_get_str(r, "signal"), *detail = json_get_str(r, "detail");
		Signal s;
		if (!sig || !detail || signal_from_string(sig, &s) < 0)
			continue;
		last->reasons[last->n_reasons].signal = s;
		strscpy(last->reasons[last->n_reasons].detail, REASON_DETAIL_MAX, detail);
		last->n_reasons++;
	}
}

json_object *json_parse_whole(const char *text, char *err, size_t errlen)
{
	/* The whole text must be one object: a valid object followed by anything else (two
	 * writers, a torn write) is as corrupt as a truncated one. */
	json_tokener *tok = json_tokener_new();
	if (!tok) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* With its NUL, so that the end of the text also ends a bare number. */
	size_t len = strlen(text);
	json_object *o = json_tokener_parse_ex(tok, text, (int)len + 1);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	/* The tokener may count the NUL itself as used (it ends a // comment, for one): never
	 * look past it. Found by fuzz-state. */
	size_t used = MIN(json_tokener_get_parse_end(tok), len);
	json_tokener_free(tok);
	if (!o || jerr != json_tokener_success) {
		json_object_put(o);
		snprintf(err, errlen, "not JSON: %s",
		         jerr == json_tokener_continue ? "truncated"
		                                       : json_tokener_error_desc(jerr));
		return NULL;
	}
	if (text[used + strspn(text + used, " \t\r\n")] != '\0') {
		json_object_put(o);
		snprintf(err, errlen, "not JSON: trailing data after the object");
		return NULL;
	}
	return o;
}

int state_parse(const char *text, const char *boot_id, CoreState *ret, Decision *ret_last,
                char *err, size_t errlen)
{
	CoreState s;
	uint64_t version, idle, next_id;
	json_object *holds;
	int r = -EBADMSG;

	core_state_init(&s);
	json_object *o = json_parse_whole(text, err, errlen);
	if (!o)
		return -EBADMSG;
	const char *bid = json_get_str(o, "boot_id");
	if (!json_object_is_type(o, json_type_object) || !json_get_u64(o, "version", &version) ||
	    version != STATE_VERSION || !bid || !json_get_u64(o, "idle_checks", &idle) ||
	    !json_get_u64(o, "next_hold_id", &next_id) ||
	    !json_object_object_get_ex(o, "holds", &holds) ||
	    !json_object_is_type(holds, json_type_array) || idle > UINT32_MAX) {
		snprintf(err, errlen, "missing or invalid fields");
		goto out;
	}
	if (!streq(bid, boot_id)) {
		snprintf(err, errlen, "written during another boot (%s)", bid);
		r = -ESTALE;
		goto out;
	}
	s.idle_checks = (unsigned)idle;
	s.next_hold_id = next_id;
	for (size_t i = 0; i < json_object_array_length(holds); i++) {
		if (s.n_holds >= HOLDS_MAX ||
		    parse_hold(json_object_array_get_idx(holds, i), &s.holds[s.n_holds]) < 0) {
			snprintf(err, errlen, "invalid hold #%zu", i);
			goto out;
		}
		if (s.holds[s.n_holds].id >= s.next_hold_id)
			s.next_hold_id = s.holds[s.n_holds].id + 1;
		s.n_holds++;
	}
	if (ret_last)
		parse_last(o, ret_last);
	*ret = s;
	r = 0;
out:
	json_object_put(o);
	return r;
}

unsigned state_cap_holds(CoreState *s, usec_t now, usec_t (*max_for)(uid_t uid, void *userdata),
                         void *userdata)
{
	unsigned cut = 0;
	for (size_t i = 0; i < s->n_holds; i++) {
		Hold *h = &s->holds[i];
		usec_t max = max_for(h->uid, userdata);
		usec_t limit = max > USEC_INFINITY - now ? USEC_INFINITY : now + max;
		if (h->until > limit) {
			h->until = limit;
			cut++;
		}
	}
	return cut;
}

/* Not durable: the file lives in the runtime directory (tmpfs under systemd) and only the same
 * boot reads it (its boot id), and a daemon that crashes leaves the page cache as it was. A
 * flush would buy nothing past a kernel crash, at a disk write for every idle check where the
 * directory is on a disk. */
int state_save(const char *dir, const char *text)
{
	return file_save_atomic(dir, "state", text, false);
}

int file_save_atomic(const char *dir, const char *name, const char *text, bool durable)
{
	char tmp[4096], path[4096];
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	/* A fresh file every time: whatever else was left at this name (a FIFO would block the
	 * open) is not written through. */
	(void)unlink(tmp);
	_cleanup_close_ int fd =
	        open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t k = write(fd, text + off, len - off);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			int e = -errno;
			(void)unlink(tmp);
			return e;
		}
		off += (size_t)k;
	}
	if ((durable && fsync(fd) < 0) || rename(tmp, path) < 0) {
		int e = -errno;
		(void)unlink(tmp);
		return e;
	}
	return 0;
}

int state_load_text(const char *dir, char **ret, char *err, size_t errlen)
{
	char path[4096];
	mode_t mode = 0;
	snprintf(path, sizeof(path), "%s/state", dir);
	ssize_t n = read_regular_file(path, STATE_SIZE_MAX, ret, &mode);
	if (n == -EBADFD)
		snprintf(err, errlen, "not a regular file (%s)", file_type_name(mode));
	else if (n == -EFBIG)
		snprintf(err, errlen, "larger than %d KiB", STATE_SIZE_MAX / 1024);
	else if (n < 0)
		snprintf(err, errlen, "%s", strerror((int)-n));
	return n < 0 ? (int)n : 0;
}

size_t state_merge_holds(CoreState *into, const CoreState *from)
{
	size_t lost = 0;
	into->next_hold_id = MAX(into->next_hold_id, from->next_hold_id);
	for (size_t i = 0; i < from->n_holds; i++) {
		if (into->n_holds >= HOLDS_MAX) {
			lost++;
			continue;
		}
		Hold h = from->holds[i];
		for (size_t k = 0; k < into->n_holds; k++)
			if (into->holds[k].id == h.id) {
				h.id = into->next_hold_id++;
				break;
			}
		into->holds[into->n_holds++] = h;
	}
	return lost;
}

int boot_id_read(const char *proc_root, char *buf, size_t size)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/sys/kernel/random/boot_id", proc_root);
	ssize_t n = read_small_file(path, buf, size);
	if (n < 0)
		return (int)n;
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}
