/* The daemon's side of the verdict history (history.h): the file in STATE_DIR, loaded at
 * start, written when a check changes the verdict and when the daemon stops. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "history.h"
#include "log.h"
#include "manager.h"

/* When the daemon last showed it was alive: every check touches the history file (below). 0
 * when unknown. */
static uint64_t last_sign_of_life(const Manager *m)
{
	char path[4096];
	struct stat st;
	snprintf(path, sizeof(path), "%s/history", m->opt.state_dir);
	if (stat(path, &st) < 0)
		return 0;
	return (uint64_t)st.st_mtim.tv_sec * USEC_PER_SEC + (uint64_t)st.st_mtim.tv_nsec / 1000;
}

/* A check that changed nothing still marks the file's time, so that after a crash the "off"
 * stretch starts at the last check, not at the last change hours before (the state file,
 * written only on change, cannot tell). One utimensat(), no data written, no fsync. */
static void heartbeat(const Manager *m)
{
	char path[4096];
	if (m->history_readonly)
		return;
	snprintf(path, sizeof(path), "%s/history", m->opt.state_dir);
	if (!m->opt.inputs.realtime) {
		(void)utimensat(AT_FDCWD, path, NULL, 0);
		return;
	}
	usec_t now = manager_realtime(m);
	struct timespec ts = { .tv_sec = (time_t)(now / USEC_PER_SEC),
		               .tv_nsec = (long)(now % USEC_PER_SEC) * 1000 };
	(void)utimensat(AT_FDCWD, path, (const struct timespec[2]){ ts, ts }, 0);
}

static void save_history(Manager *m)
{
	if (m->history_readonly)
		return;
	_cleanup_free_ char *text = history_serialize(m->history, manager_realtime(m));
	int r = text ? history_save(m->opt.state_dir, text) : -ENOMEM;
	if (r < 0 && !m->history_save_failed)
		log_warning("cannot save the verdict history to %s/history: %s; it is kept in "
		            "memory",
		            m->opt.state_dir, strerror(-r));
	if (r >= 0 && m->history_save_failed)
		log_notice("verdict history saved to %s/history again", m->opt.state_dir);
	m->history_save_failed = r < 0;
	if (r >= 0 && m->opt.inputs.realtime)
		heartbeat(m); /* the write stamped the real time; the manager's clock is another */
}

/* A history file that cannot be read is never written over: it is moved to history.corrupt
 * for a person to look at and a new one begins; when even that fails, the history stays in
 * memory only until the daemon restarts. */
static void set_aside(Manager *m, const char *why)
{
	int r = history_set_aside(m->opt.state_dir);
	if (r >= 0) {
		log_error("cannot use the verdict history %s/history: %s; moved it to "
		          "%s/history.corrupt and starting a new one",
		          m->opt.state_dir, why, m->opt.state_dir);
		return;
	}
	m->history_readonly = true;
	log_error("cannot use the verdict history %s/history: %s; cannot move it aside either "
	          "(%s): not writing over it, the history of this run stays in memory",
	          m->opt.state_dir, why, strerror(-r));
}

int manager_history_start(Manager *m)
{
	char why[256] = "";
	m->history = calloc(1, sizeof(History));
	if (!m->history)
		return -ENOMEM;
	/* systemd's StateDirectory= makes it for the service; a run by hand may need it. */
	if (mkdir(m->opt.state_dir, 0755) < 0 && errno != EEXIST)
		log_warning("cannot create the state directory %s: %s", m->opt.state_dir,
		            strerror(errno));
	int r = history_load(m->opt.state_dir, m->history, why, sizeof(why));
	if (r == -EBADMSG)
		set_aside(m, why);
	if (history_note_unclean_stop(m->history, manager_realtime(m), last_sign_of_life(m)))
		save_history(m);
	return 0;
}

void manager_history_record(Manager *m, const Decision *d)
{
	if (!m->history)
		return;
	if (history_record_decision(m->history, manager_realtime(m), d))
		save_history(m);
	else
		heartbeat(m);
}

void manager_history_stop(Manager *m, const char *why)
{
	if (m->history && history_record(m->history, manager_realtime(m), HISTORY_OFF, "", why))
		save_history(m);
}
