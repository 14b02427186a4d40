/* The daemon's side of the SNS notifications (notify.h): who was on the machine last, and the
 * three moments people are told about. */
#include <unistd.h>

#include "manager.h"
#include "notify.h"

void manager_note_sessions(Manager *m, const Sample *s)
{
	if (notify_last_user(s, m->last_user, sizeof(m->last_user)))
		m->last_user_at = manager_realtime(m);
}

void manager_notify(Manager *m, NotifyEvent event, const Decision *d)
{
	const char *action = manager_armed_action(m);
	char host[256] = "", why[512];
	/* Action=none stops nothing: nobody needs to be told. */
	if (!m->config.notify_topic_arn || streq(action, "none"))
		return;
	(void)gethostname(host, sizeof(host) - 1);
	decision_summary(d, why, sizeof(why));
	NotifyFacts f = { .event = event,
		          .host = host,
		          .action = action,
		          .dry_run = m->opt.dry_run,
		          .now = manager_realtime(m),
		          .action_in = event == NOTIFY_WARNING ? m->config.warn : 0,
		          .why = why,
		          .last_user = m->last_user,
		          .last_user_at = m->last_user_at };
	aws_runtime_notify(m->aws, &f);
}
