/* The action interface (include/action.h): an Action of each kind behind one start/cancel,
 * the none action, and the terminal warning. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "action-impl.h"

static const ActionOps *const kinds[_ACTION_KIND_MAX] = {
	[ACTION_NONE] = &action_none_ops,
	[ACTION_POWEROFF] = &action_poweroff_ops,
	[ACTION_STOP_INSTANCE] = &action_stop_instance_ops,
};

int action_start(const ActionRequest *req, Action **ret)
{
	if (req->kind >= _ACTION_KIND_MAX || !kinds[req->kind])
		return -EINVAL;
	Action *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->req = *req;
	strscpy(a->why, sizeof(a->why), strempty(req->why));
	a->req.why = a->why;
	a->ops = kinds[req->kind];
	int r = a->ops->start(a);
	if (r < 0) {
		action_cancel(a);
		return r;
	}
	*ret = a;
	return 0;
}

Action *action_cancel(Action *a)
{
	if (!a)
		return NULL;
	a->ops->cancel(a);
	a->timer = sd_event_source_disable_unref(a->timer);
	a->slot = sd_bus_slot_unref(a->slot);
	aws_call_cancel(a->call);
	action_cancel(a->fallback);
	free(a);
	return NULL;
}

void action_go_on(Action *a)
{
	if (a && a->ops->go_on)
		a->ops->go_on(a);
}

void action_finish(Action *a, int r, const ActionResult *res)
{
	a->req.report(a->req.userdata, a->req.kind, r, res);
	a->req.done(a->req.userdata);
}

/* ---- none: says what it would do, from the loop ------------------------------------------ */

static int none_end(sd_event_source *s, void *userdata)
{
	Action *a = userdata;
	ActionResult res = { .path = "none" };
	snprintf(res.message, sizeof(res.message), "would power off (Action=none): %s", a->why);
	action_finish(a, 0, &res);
	return 0;
}

static int none_start(Action *a)
{
	return sd_event_add_defer(a->req.event, &a->timer, none_end, a);
}

static void nothing_to_cancel(Action *a)
{
}

const ActionOps action_none_ops = { .start = none_start, .cancel = nothing_to_cancel };

int wall_terminals(const char *dev_root, const char *message)
{
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/pts", dev_root);
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		char path[512];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		/* Never block on a stuck terminal, never make it our controlling tty. */
		_cleanup_close_ int fd = open(path, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
		struct stat before;
		if (fd < 0 || fstat(fd, &before) < 0)
			continue;
		if (write(fd, message, strlen(message)) > 0)
			n++;
		/* Our own write moved the terminal's output time, and the terminal signal reads
		 * that time as use: left alone, every warning would make a forgotten terminal look
		 * busy and cancel its own action, for another SessionIdleSec. Put the times back. */
		const struct timespec times[2] = { before.st_atim, before.st_mtim };
		(void)futimens(fd, times);
	}
	closedir(d);
	return n;
}
