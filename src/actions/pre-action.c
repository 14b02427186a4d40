#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>

#include "log.h"
#include "pre-action.h"

extern char **environ;

#define OUTPUT_MAX      4096
#define KILL_GRACE_USEC (5 * USEC_PER_SEC)

struct PreAction {
	pid_t pid;
	int fd;
	sd_event_source *child, *io, *timer;
	char output[OUTPUT_MAX + 1];
	size_t size;
	bool truncated, timed_out;
	char name[256];
	usec_t started;
	pre_action_done_t done;
	void *userdata;
};

static usec_t mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000;
}

PreAction *pre_action_free(PreAction *p)
{
	if (!p)
		return NULL;
	sd_event_source_disable_unref(p->child);
	sd_event_source_disable_unref(p->io);
	sd_event_source_disable_unref(p->timer);
	if (p->fd >= 0)
		close(p->fd);
	free(p);
	return NULL;
}

static void drain(PreAction *p)
{
	char buf[4096];
	ssize_t n;
	while (p->fd >= 0 && (n = read(p->fd, buf, sizeof(buf))) > 0) {
		size_t keep = MIN((size_t)n, OUTPUT_MAX - p->size);
		memcpy(p->output + p->size, buf, keep);
		p->size += keep;
		p->truncated = p->truncated || keep < (size_t)n;
	}
	p->output[p->size] = '\0';
}

static int on_output(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	PreAction *p = userdata;
	drain(p);
	if (revents & (EPOLLHUP | EPOLLERR))
		sd_event_source_set_enabled(s, SD_EVENT_OFF);
	return 0;
}

static void finish(PreAction *p, const siginfo_t *si)
{
	char status[96], took[32], f_exit[64], *f_output = NULL;
	drain(p);
	while (p->size > 0 && p->output[p->size - 1] == '\n')
		p->output[--p->size] = '\0';
	for (char *c = p->output; *c; c++)
		if (*c == '\n' && c[1])
			*c = '|'; /* one journal line; the field keeps the raw text */
	snprintf(took, sizeof(took), "%.1fs", (double)(mono() - p->started) / USEC_PER_SEC);
	if (si->si_code == CLD_EXITED)
		snprintf(status, sizeof(status), "exited with status %d", si->si_status);
	else
		snprintf(status, sizeof(status), "was killed by signal %s%s",
		         strsignal(si->si_status), p->timed_out ? " at the timeout" : "");
	snprintf(f_exit, sizeof(f_exit), "TRNIDLED_PRE_ACTION_EXIT=%d",
	         si->si_code == CLD_EXITED ? si->si_status : 128 + si->si_status);
	if (asprintf(&f_output, "TRNIDLED_PRE_ACTION_OUTPUT=%s", p->output) < 0)
		f_output = NULL;
	const char *fields[] = { f_exit, f_output, NULL };
	bool ok = si->si_code == CLD_EXITED && si->si_status == 0;
	log_event(ok ? LOG_INFO : LOG_WARNING, NULL, fields,
	          "pre-action command %s %s after %s%s; output: %s%s", p->name, status, took,
	          ok ? "" : " (the action goes ahead anyway)", p->size ? p->output : "(none)",
	          p->truncated ? " [truncated]" : "");
	free(f_output);
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata)
{
	PreAction *p = userdata;
	finish(p, si);
	sd_event_source_set_enabled(p->timer, SD_EVENT_OFF);
	sd_event_source_set_enabled(p->io, SD_EVENT_OFF);
	/* done may free p through its owner: nothing touches p afterwards. */
	p->done(p->userdata);
	return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	PreAction *p = userdata;
	if (!p->timed_out) {
		p->timed_out = true;
		log_warning("pre-action command %s still runs at PreActionTimeoutSec=; sending "
		            "SIGTERM to its process group",
		            p->name);
		(void)kill(-p->pid, SIGTERM);
		sd_event_source_set_time(s, usec + KILL_GRACE_USEC);
		sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	} else {
		log_warning("pre-action command %s ignored SIGTERM; sending SIGKILL", p->name);
		(void)kill(-p->pid, SIGKILL);
	}
	return 0;
}

static char **child_env(const char *reason, const char *action, bool dry_run)
{
	char **env = NULL, buf[256];
	for (char **e = environ; e && *e; e++)
		if (!startswith(*e, "TRNIDLED_") && strv_push(&env, *e) < 0)
			return strv_free(env);
	snprintf(buf, sizeof(buf), "TRNIDLED_REASON=%s", reason);
	if (strv_push(&env, buf) < 0)
		return strv_free(env);
	snprintf(buf, sizeof(buf), "TRNIDLED_ACTION=%s", action);
	if (strv_push(&env, buf) < 0 ||
	    strv_push(&env, dry_run ? "TRNIDLED_DRY_RUN=1" : "TRNIDLED_DRY_RUN=0") < 0)
		return strv_free(env);
	return env;
}

static int spawn(PreAction *p, char *const *argv, char **env, int out)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none;
	sigset_t def;
	int r;

	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE); /* the daemon ignores it; the command must not inherit that */
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, out, STDERR_FILENO);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &def);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
	                                        POSIX_SPAWN_SETPGROUP);
	r = -posix_spawn(&p->pid, argv[0], &fa, &attr, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return r;
}

int pre_action_start(sd_event *e, char *const *argv, usec_t timeout, const char *reason,
                     const char *action, bool dry_run, pre_action_done_t done, void *userdata,
                     PreAction **ret)
{
	int pipefd[2] = { -1, -1 }, r;
	_cleanup_strv_free_ char **env = child_env(reason, action, dry_run);
	PreAction *p = calloc(1, sizeof(*p));
	if (!p || !env) {
		free(p);
		log_error("pre-action command: out of memory, skipping it");
		return -ENOMEM;
	}
	*p = (PreAction){ .fd = -1, .done = done, .userdata = userdata, .started = mono() };
	strscpy(p->name, sizeof(p->name), argv[0]);
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	r = spawn(p, argv, env, pipefd[1]);
	close(pipefd[1]);
	p->fd = pipefd[0];
	if (r < 0)
		goto fail;
	(void)fcntl(p->fd, F_SETFL, O_NONBLOCK);
	log_info("running pre-action command %s (pid %d, reason %s, timeout %llus)", p->name,
	         (int)p->pid, reason, (unsigned long long)(timeout / USEC_PER_SEC));
	if ((r = sd_event_add_child(e, &p->child, p->pid, WEXITED, on_child, p)) < 0 ||
	    (r = sd_event_add_io(e, &p->io, p->fd, EPOLLIN, on_output, p)) < 0 ||
	    (r = sd_event_add_time_relative(e, &p->timer, CLOCK_MONOTONIC, timeout, 0, on_timeout,
	                                    p)) < 0) {
		(void)kill(-p->pid, SIGKILL);
		(void)waitpid(p->pid, NULL, 0);
		goto fail;
	}
	*ret = p;
	return 0;
fail:
	log_warning("pre-action command %s could not be started: %s; going ahead without it",
	            p->name, strerror(-r));
	pre_action_free(p);
	return r;
}
