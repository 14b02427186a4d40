/* The local AwsAsync: the blocking in-process AwsClient (curl) run by one worker thread, each
 * outcome handed back to the event loop through an eventfd.
 *
 * Why a thread and not curl's multi_socket API on sd-event: the IMDS flows are sequential
 * (token PUT, the GET, a fresh token on 401, the role list, its credentials, then the EC2 or
 * CloudWatch POST); as callbacks each becomes a state machine, doubling code that is tested
 * and fuzzed as it is. The thread runs that code unchanged, one call at a time, and is the only
 * one to touch the client and its cached token and keys; the loop only queues calls and reads
 * outcomes. It starts on the first call, so a machine that never asks AWS has none. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "aws-async.h"

typedef struct LocalAsync {
	AwsAsync base;
	const Config *config; /* the manager's: read on the loop's thread only */
	Config settings;      /* the worker's copy of the [AWS] and [Metrics] keys it reads:
	                       * endpoints, namespace, NotifyTopicArn= */
	AwsClient *client;    /* the worker's */
	sd_event_source *io;
	int efd;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	AwsCall *queue, *finished; /* both under lock */
	bool quit;
} LocalAsync;

static void settings_free(Config *s)
{
	free(s->imds_endpoint);
	free(s->ec2_endpoint);
	free(s->monitoring_endpoint);
	free(s->metrics_namespace);
	free(s->notify_topic_arn);
	free(s->sns_endpoint);
	*s = (Config){ 0 };
}

static char *strdup_or_null(const char *s, bool *oom)
{
	char *d = s ? strdup(s) : NULL;
	if (s && !d)
		*oom = true;
	return d;
}

static int settings_copy(const Config *from, Config *to)
{
	bool oom = false;
	*to = (Config){ 0 };
	to->imds_endpoint = strdup_or_null(from->imds_endpoint, &oom);
	to->ec2_endpoint = strdup_or_null(from->ec2_endpoint, &oom);
	to->monitoring_endpoint = strdup_or_null(from->monitoring_endpoint, &oom);
	to->metrics_namespace = strdup_or_null(from->metrics_namespace, &oom);
	to->notify_topic_arn = strdup_or_null(from->notify_topic_arn, &oom);
	to->sns_endpoint = strdup_or_null(from->sns_endpoint, &oom);
	if (oom)
		settings_free(to);
	return oom ? -ENOMEM : 0;
}

static void append(AwsCall **list, AwsCall *call)
{
	while (*list)
		list = &(*list)->next;
	call->next = NULL;
	*list = call;
}

static void run_one(LocalAsync *l, AwsCall *call)
{
	if (call->op == AWS_OP_RELOAD && call->impl) {
		/* The client holds l->settings' address: new values, same place. */
		settings_free(&l->settings);
		l->settings = *(Config *)call->impl;
		free(call->impl);
		call->impl = NULL;
	}
	aws_call_run(l->client, call);
}

static void *worker(void *userdata)
{
	LocalAsync *l = userdata;
	pthread_mutex_lock(&l->lock);
	for (;;) {
		while (!l->queue && !l->quit)
			pthread_cond_wait(&l->wake, &l->lock);
		if (l->quit)
			break;
		AwsCall *call = l->queue;
		l->queue = call->next;
		pthread_mutex_unlock(&l->lock);
		run_one(l, call);
		pthread_mutex_lock(&l->lock);
		append(&l->finished, call);
		uint64_t one = 1;
		(void)!write(l->efd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

static int on_finished(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	LocalAsync *l = userdata;
	uint64_t n;
	(void)!read(fd, &n, sizeof(n));
	pthread_mutex_lock(&l->lock);
	AwsCall *list = l->finished;
	l->finished = NULL;
	pthread_mutex_unlock(&l->lock);
	while (list) {
		AwsCall *next = list->next;
		aws_call_finish(list); /* may submit more: the lock is not held */
		list = next;
	}
	return 0;
}

static int local_submit(AwsAsync *a, AwsCall *call)
{
	LocalAsync *l = (LocalAsync *)a;
	if (call->op == AWS_OP_RELOAD) {
		Config *fresh = malloc(sizeof(*fresh));
		if (!fresh || settings_copy(l->config, fresh) < 0) {
			free(fresh);
			return -ENOMEM;
		}
		call->impl = fresh;
	}
	if (!l->started) {
		int r = -pthread_create(&l->thread, NULL, worker, l);
		if (r < 0) {
			if (call->impl)
				settings_free(call->impl);
			free(call->impl);
			return r;
		}
		l->started = true;
	}
	pthread_mutex_lock(&l->lock);
	append(&l->queue, call);
	pthread_cond_signal(&l->wake);
	pthread_mutex_unlock(&l->lock);
	return 0;
}

static void local_run_blocking(AwsAsync *a, AwsCall *call)
{
	LocalAsync *l = (LocalAsync *)a;
	if (l->started) {
		/* Only before the worker runs: the client is its own from then on. */
		call->r = -EBUSY;
		snprintf(call->err, sizeof(call->err), "a blocking AWS call after the start");
		return;
	}
	run_one(l, call);
}

static void free_list(AwsCall *list)
{
	while (list) {
		AwsCall *next = list->next;
		if (list->impl) {
			settings_free(list->impl);
			free(list->impl);
		}
		free(list);
		list = next;
	}
}

static void local_free(AwsAsync *a)
{
	LocalAsync *l = (LocalAsync *)a;
	if (l->started) {
		pthread_mutex_lock(&l->lock);
		l->quit = true;
		pthread_cond_signal(&l->wake);
		pthread_mutex_unlock(&l->lock);
		/* A call under way ends within curl's next progress callback, not its timeout. */
		http_abort_all(true);
		pthread_join(l->thread, NULL);
		http_abort_all(false);
	}
	free_list(l->queue);
	free_list(l->finished);
	sd_event_source_disable_unref(l->io);
	if (l->efd >= 0)
		close(l->efd);
	aws_client_free(l->client);
	settings_free(&l->settings);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->wake);
	free(l);
}

static const AwsAsyncOps local_ops = {
	.submit = local_submit,
	.run_blocking = local_run_blocking,
	.free = local_free,
};

int aws_async_new_local(sd_event *e, const Config *config, AwsAsync **ret)
{
	LocalAsync *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->base.ops = &local_ops;
	l->config = config;
	l->efd = -1;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->wake, NULL);
	int r = settings_copy(config, &l->settings);
	if (r >= 0 && !(l->client = aws_client_new_local(&l->settings)))
		r = -ENOMEM;
	if (r >= 0 && (l->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		r = -errno;
	if (r >= 0)
		r = sd_event_add_io(e, &l->io, l->efd, EPOLLIN, on_finished, l);
	if (r < 0) {
		local_free(&l->base);
		return r;
	}
	*ret = &l->base;
	return 0;
}
