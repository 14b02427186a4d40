#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "sample.h"

static const char *const signal_names[_SIGNAL_MAX] = {
	[SIGNAL_CPU] = "cpu",
	[SIGNAL_MEMORY] = "memory",
	[SIGNAL_SSH] = "ssh",
	[SIGNAL_TERMINAL] = "terminal",
	[SIGNAL_SSM] = "ssm",
	[SIGNAL_MULTIPLEXER] = "multiplexer",
	[SIGNAL_NEURON_PROCESS] = "neuron-process",
	[SIGNAL_NEURON_DEVICE] = "neuron-device",
	[SIGNAL_ML_PROCESS] = "ml-process",
	[SIGNAL_INHIBITOR] = "inhibitor",
	[SIGNAL_HOLD] = "hold",
	[SIGNAL_PROBE_ERROR] = "probe-error",
	[SIGNAL_NETWORK] = "network",
	[SIGNAL_DISK] = "disk",
	[SIGNAL_JUPYTER] = "jupyter",
	[SIGNAL_SPOT_INTERRUPTION] = "spot-interruption",
	[SIGNAL_USER_PROCESS] = "user-process",
	[SIGNAL_CLOUD_INIT] = "cloud-init",
	[SIGNAL_PACKAGE_MANAGER] = "package-manager",
};

static const char *const session_owner_names[_SESSION_OWNER_MAX] = {
	[SESSION_OWNER_OTHER] = "other",   [SESSION_OWNER_SSHD] = "sshd",
	[SESSION_OWNER_SSM] = "ssm",       [SESSION_OWNER_TMUX] = "tmux",
	[SESSION_OWNER_SCREEN] = "screen",
};

const char *session_owner_to_string(SessionOwner o)
{
	return o >= 0 && o < _SESSION_OWNER_MAX ? session_owner_names[o] : "invalid";
}

const char *signal_to_string(Signal s)
{
	return s >= 0 && s < _SIGNAL_MAX ? signal_names[s] : "invalid";
}

int signal_from_string(const char *name, Signal *ret)
{
	for (int i = 0; i < _SIGNAL_MAX; i++)
		if (streq(name, signal_names[i])) {
			*ret = (Signal)i;
			return 0;
		}
	return -EINVAL;
}

void sample_add_error(Sample *s, const char *probe, const char *fmt, ...)
{
	if (s->n_errors >= PROBE_ERRORS_MAX) {
		s->n_errors_dropped++;
		return;
	}
	ProbeError *e = &s->errors[s->n_errors++];
	strscpy(e->probe, sizeof(e->probe), probe);
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	text_sanitize(e->message, sizeof(e->message), e->message); /* may quote a file's text */
}
