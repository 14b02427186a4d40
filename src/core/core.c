/* The decision core. Pure: everything it knows comes in through its arguments. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "timespan.h"

static const char *const verdict_names[_VERDICT_MAX] = {
	[VERDICT_ACTIVE] = "active",
	[VERDICT_IDLE] = "idle",
	[VERDICT_GRACE] = "grace",
	[VERDICT_HELD] = "held",
};

const char *verdict_to_string(Verdict v)
{
	return v >= 0 && v < _VERDICT_MAX ? verdict_names[v] : "invalid";
}

void core_state_init(CoreState *s)
{
	memset(s, 0, sizeof(*s));
	s->next_hold_id = 1;
}

static _printf_(3, 4) void reason_add(Decision *d, Signal signal, const char *fmt, ...)
{
	if (d->n_reasons >= REASONS_MAX) {
		d->n_reasons_dropped++;
		return;
	}
	Reason *r = &d->reasons[d->n_reasons++];
	r->signal = signal;
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
	text_sanitize(r->detail, sizeof(r->detail), r->detail); /* the cut may split a character */
}

/* Each judge compares one signal's facts with the configuration and adds reasons. */

static void judge_cpu(const Sample *s, const Config *c, Decision *d)
{
	if (!s->cpu.valid || s->cpu.busy_percent <= c->cpu_percent)
		return;
	/* One decimal where whole numbers would read "10% > 10%". */
	int decimals = floor(s->cpu.busy_percent) <= c->cpu_percent ? 1 : 0;
	reason_add(d, SIGNAL_CPU, "%.*f%% > %g%%", decimals, s->cpu.busy_percent, c->cpu_percent);
}

static void judge_memory(const Sample *s, const Config *c, Decision *d)
{
	if (s->memory.valid && s->memory.used_percent > c->memory_percent)
		reason_add(d, SIGNAL_MEMORY, "%.*f%% used > %g%%",
		           floor(s->memory.used_percent) <= c->memory_percent ? 1 : 0,
		           s->memory.used_percent, c->memory_percent);
}

static void judge_probe_errors(const Sample *s, const Config *c, Decision *d)
{
	for (size_t i = 0; i < s->n_errors; i++)
		reason_add(d, SIGNAL_PROBE_ERROR, "%s: %s", s->errors[i].probe,
		           s->errors[i].message);
	if (s->n_errors_dropped > 0)
		reason_add(d, SIGNAL_PROBE_ERROR, "%zu more probe errors", s->n_errors_dropped);
}

static void describe_proc(const ProcRef *p, char *buf, size_t size)
{
	snprintf(buf, size, "pid %d %s", (int)p->pid, p->cmdline[0] ? p->cmdline : p->comm);
}

static void judge_matched(const MatchedProcs *m, Signal signal, Decision *d)
{
	if (!m->valid || m->n == 0)
		return;
	char who[160];
	describe_proc(&m->procs[0], who, sizeof(who));
	if (m->n > 1)
		reason_add(d, signal, "%s: %s (+%zu more)", m->procs[0].match, who, m->n - 1);
	else
		reason_add(d, signal, "%s: %s", m->procs[0].match, who);
}

static void judge_neuron_process(const Sample *s, const Config *c, Decision *d)
{
	judge_matched(&s->neuron_procs, SIGNAL_NEURON_PROCESS, d);
}

static void judge_ml_process(const Sample *s, const Config *c, Decision *d)
{
	judge_matched(&s->ml_procs, SIGNAL_ML_PROCESS, d);
}

static void neuron_holder_text(const NeuronDeviceFacts *f, char *buf, size_t size)
{
	if (f->n_holders == 0) {
		snprintf(buf, size, "%.1f GiB device memory in use, no holder visible here",
		         (double)f->mem_bytes / (1 << 30));
		return;
	}
	char who[160];
	describe_proc(&f->holders[0], who, sizeof(who));
	snprintf(buf, size, "held by %s", who);
	if (f->n_holders > 1)
		strappendf(buf, size, " (+%zu more)", f->n_holders - 1);
}

static void judge_neuron_device(const Sample *s, const Config *c, Decision *d)
{
	const NeuronDevicesFacts *n = &s->neuron_devices;
	for (size_t i = 0; n->valid && i < n->n; i++) {
		const NeuronDeviceFacts *f = &n->dev[i];
		bool in_use = f->n_holders > 0 || f->mem_bytes > 0;
		char holder[224], left[64];
		neuron_holder_text(f, holder, sizeof(holder));
		if (f->executed)
			reason_add(d, SIGNAL_NEURON_DEVICE, "%s executed since the last check%s%s",
			           f->name, in_use ? "; " : "", in_use ? holder : "");
		else if (!in_use)
			continue;
		else if (c->neuron_held_idle == 0)
			reason_add(d, SIGNAL_NEURON_DEVICE, "%s %s (HeldIdleSec=0: held is active)",
			           f->name, holder);
		else if (!f->observable)
			reason_add(d, SIGNAL_NEURON_DEVICE,
			           "%s %s; its counters cannot show execution while a process runs "
			           "(driver %s, no pe_cntrs), so held counts as active",
			           f->name, holder,
			           n->driver_version[0] ? n->driver_version : "unknown");
		else if (f->quiet_for < c->neuron_held_idle) {
			timespan_format(left, sizeof(left),
			                f->quiet_for / USEC_PER_SEC * USEC_PER_SEC);
			reason_add(d, SIGNAL_NEURON_DEVICE,
			           "%s %s; no execution for %s < HeldIdleSec", f->name, holder,
			           f->quiet_for < USEC_PER_SEC ? "0s" : left);
		}
	}
	/* Devices beyond the facts table were not examined: they may be working. */
	if (n->valid && n->n_dropped > 0)
		reason_add(d, SIGNAL_NEURON_DEVICE, "%zu more devices (not examined)",
		           n->n_dropped);
}

static void judge_rate(const RateFacts *r, double threshold, Signal signal, Decision *d)
{
	if (!r->valid || threshold <= 0 || r->kbps <= threshold)
		return;
	reason_add(d, signal, "%.0f KB/s > %g KB/s (most on %s)", r->kbps, threshold,
	           r->busiest[0] ? r->busiest : "?");
}

static void judge_network(const Sample *s, const Config *c, Decision *d)
{
	judge_rate(&s->network, c->network_kbps, SIGNAL_NETWORK, d);
}

static void judge_disk(const Sample *s, const Config *c, Decision *d)
{
	judge_rate(&s->disk, c->disk_kbps, SIGNAL_DISK, d);
}

/* A block-mode lock whose What includes idle or shutdown keeps the machine up. */
static bool inhibitor_blocks_idle(const InhibitorEntry *e)
{
	if (!streq(e->mode, "block"))
		return false;
	char what[sizeof(e->what)];
	strscpy(what, sizeof(what), e->what);
	char *save = NULL;
	for (char *w = strtok_r(what, ":", &save); w; w = strtok_r(NULL, ":", &save))
		if (streq(w, "idle") || streq(w, "shutdown"))
			return true;
	return false;
}

static void judge_inhibitor(const Sample *s, const Config *c, Decision *d)
{
	const InhibitorFacts *f = &s->inhibitor;
	for (size_t i = 0; f->valid && f->available && i < f->n; i++) {
		const InhibitorEntry *e = &f->list[i];
		if (inhibitor_blocks_idle(e))
			reason_add(d, SIGNAL_INHIBITOR, "%s (pid %u, uid %u): %s [%s]", e->who,
			           e->pid, e->uid, e->why[0] ? e->why : "no reason given", e->what);
	}
	/* Locks beyond the list were not examined: a block-mode one may well be idle's. */
	if (f->valid && f->available && f->n_dropped_block > 0)
		reason_add(d, SIGNAL_INHIBITOR, "%zu more block-mode locks (not examined)",
		           f->n_dropped_block);
}

/* Sessions. SessionIdleSec=0 turns the age rules off: every open terminal counts. */

static bool recent(usec_t idle, const Config *c)
{
	return c->session_idle == 0 || idle < c->session_idle;
}

static void age_format(char *buf, size_t size, usec_t idle, const Config *c)
{
	if (c->session_idle == 0) {
		snprintf(buf, size, "open (SessionIdleSec=0)");
		return;
	}
	char span[64] = "0s";
	if (idle >= USEC_PER_SEC)
		timespan_format(span, sizeof(span), idle / USEC_PER_SEC * USEC_PER_SEC);
	snprintf(buf, size, "input or output %s ago", span);
}

static const char *owner_phrase(SessionOwner o)
{
	switch (o) {
	case SESSION_OWNER_SSHD:
		return "SSH session";
	case SESSION_OWNER_SSM:
		return "SSM session";
	case SESSION_OWNER_TMUX:
		return "tmux pane";
	case SESSION_OWNER_SCREEN:
		return "screen window";
	default:
		return "terminal";
	}
}

static bool busy(const BusyProc *b, const Config *c)
{
	return b->pid != 0 && b->percent > c->busy_percent;
}

static void busy_format(char *buf, size_t size, const BusyProc *b)
{
	snprintf(buf, size, "%s (pid %d) at %.0f%% CPU", b->comm, (int)b->pid, b->percent);
}

/* Why a terminal (or an SSM session's shells) counts, or false: a busy process on it, whatever
 * its age (a job that prints nothing for hours is still work), or recent use. */
static bool terminal_why(const BusyProc *b, usec_t idle, const Config *c, char *buf, size_t size)
{
	if (busy(b, c)) {
		busy_format(buf, size, b);
		return true;
	}
	if (!recent(idle, c))
		return false;
	age_format(buf, size, idle, c);
	return true;
}

/* Panes and SSM shells are judged with their sessions, so that a detached multiplexer's pane
 * cannot keep the machine up as a plain terminal. */
static void judge_terminals(const Sample *s, const Config *c, Decision *d)
{
	const SessionFacts *f = &s->sessions;
	if (!f->valid)
		return;
	for (size_t i = 0; i < f->n_terminals; i++) {
		const TerminalFacts *t = &f->terminals[i];
		char why[128];
		if (t->owner != SESSION_OWNER_OTHER && t->owner != SESSION_OWNER_SSHD)
			continue;
		if (!terminal_why(&t->busy, t->idle, c, why, sizeof(why)))
			continue;
		reason_add(d, SIGNAL_TERMINAL, "pts/%u of %s (%s, %s pid %d): %s", t->pts, t->user,
		           owner_phrase(t->owner), t->leader_comm, (int)t->leader_pid, why);
	}
	/* Dropped terminals are older than every listed one, but may still run a job. */
	if (busy(&f->dropped_terminals_busy, c)) {
		char why[128];
		busy_format(why, sizeof(why), &f->dropped_terminals_busy);
		reason_add(d, SIGNAL_TERMINAL, "%zu more terminals, one with %s",
		           f->n_terminals_dropped, why);
	}
}

static void judge_ssh(const Sample *s, const Config *c, Decision *d)
{
	const SessionFacts *f = &s->sessions;
	if (f->valid && f->n_ssh_dropped > 0)
		reason_add(d, SIGNAL_SSH, "%zu more SSH connections without a terminal",
		           f->n_ssh_dropped);
}

static void judge_ssm(const Sample *s, const Config *c, Decision *d)
{
	const SessionFacts *f = &s->sessions;
	if (!f->valid)
		return;
	for (size_t i = 0; i < f->n_ssm; i++) {
		const SsmSessionFacts *m = &f->ssm[i];
		if (m->n_terminals == 0)
			continue; /* a connection: judge_connections() */
		char why[128];
		if (busy(&m->busy, c))
			busy_format(why, sizeof(why), &m->busy);
		else if (recent(m->idle, c)) {
			char age[96];
			age_format(age, sizeof(age), m->idle, c);
			snprintf(why, sizeof(why), "pts/%u %s", m->pts, age);
		} else
			continue;
		reason_add(d, SIGNAL_SSM, "SSM session of %s (ssm-session-worker pid %d): %s",
		           m->user, (int)m->pid, why);
	}
	if (f->n_ssm_dropped > 0)
		reason_add(d, SIGNAL_SSM, "%zu more SSM sessions", f->n_ssm_dropped);
}

/* "neuronx-cc (pid 4200) is a Neuron process", or false when there is no such process. */
static bool work_format(char *buf, size_t size, const WorkProc *w)
{
	if (w->pid == 0)
		return false;
	snprintf(buf, size, "%s (pid %d) is %s", w->comm, (int)w->pid,
	         w->signal == SIGNAL_NEURON_PROCESS ? "a Neuron process" : "an ML process");
	return true;
}

/* Neuron/ML work, else a busy process, or false: what keeps a kernel, a VS Code server or a
 * connection in use whatever its age. */
static bool work_or_busy(const WorkProc *w, const BusyProc *b, const Config *c, char *buf,
                         size_t size)
{
	if (work_format(buf, size, w))
		return true;
	if (!busy(b, c))
		return false;
	busy_format(buf, size, b);
	return true;
}

/* Why a multiplexer counts, or false: a job inside, CPU inside, an attached client in use,
 * a pane in use. */
static bool multiplexer_why(const MultiplexerFacts *m, const Config *c, char *buf, size_t size)
{
	char age[96];
	if (work_format(buf, size, &m->work))
		return true;
	if (busy(&m->busy, c)) {
		busy_format(buf, size, &m->busy);
		return true;
	}
	if (m->n_clients > 0 && recent(m->client_idle, c)) {
		age_format(age, sizeof(age), m->client_idle, c);
		snprintf(buf, size, "attached from pts/%u, %s", m->client_pts, age);
		return true;
	}
	if (m->n_panes > 0 && recent(m->pane_idle, c)) {
		age_format(age, sizeof(age), m->pane_idle, c);
		snprintf(buf, size, "pane pts/%u %s", m->pane_pts, age);
		return true;
	}
	return false;
}

static void judge_multiplexers(const Sample *s, const Config *c, Decision *d)
{
	const SessionFacts *f = &s->sessions;
	if (!f->valid)
		return;
	for (size_t i = 0; i < f->n_multiplexers; i++) {
		const MultiplexerFacts *m = &f->multiplexers[i];
		char why[160];
		if (!multiplexer_why(m, c, why, sizeof(why)))
			continue;
		/* A SCREEN process is one session; a tmux server may hold several, and /proc
		 * only shows the one its command line created. */
		if (m->kind == SESSION_OWNER_SCREEN)
			reason_add(d, SIGNAL_MULTIPLEXER, "screen session '%s' of %s (pid %d): %s",
			           m->name[0] ? m->name : "?", m->user, (int)m->pid, why);
		else if (m->name[0])
			reason_add(d, SIGNAL_MULTIPLEXER,
			           "tmux of %s (server pid %d, first session '%s'): %s", m->user,
			           (int)m->pid, m->name, why);
		else
			reason_add(d, SIGNAL_MULTIPLEXER, "tmux of %s (server pid %d): %s", m->user,
			           (int)m->pid, why);
	}
	if (f->n_multiplexers_dropped > 0)
		reason_add(d, SIGNAL_MULTIPLEXER, "%zu more tmux/screen servers not examined",
		           f->n_multiplexers_dropped);
}

/* A kernel counts while it (or what it started) computes or runs Neuron/ML work. An idle
 * kernel does not, whether or not a browser tab is open on it: a user at the notebook reaches
 * it through an SSH or SSM tunnel, which those signals count. */
static void judge_jupyter(const Sample *s, const Config *c, Decision *d)
{
	const SessionFacts *f = &s->sessions;
	if (!f->valid)
		return;
	for (size_t i = 0; i < f->n_kernels; i++) {
		const JupyterKernelFacts *k = &f->kernels[i];
		char why[128], server[64] = "";
		if (!work_or_busy(&k->work, &k->busy, c, why, sizeof(why)))
			continue;
		if (k->server_pid != 0)
			snprintf(server, sizeof(server), ", under %s pid %d", k->server,
			         (int)k->server_pid);
		reason_add(d, SIGNAL_JUPYTER, "kernel of %s (pid %d%s): %s", k->user, (int)k->pid,
		           server, why);
	}
	if (f->n_kernels_dropped > 0)
		reason_add(d, SIGNAL_JUPYTER, "%zu more Jupyter kernels not examined",
		           f->n_kernels_dropped);
}

/* A VS Code server counts while its extension host, a terminal's job or anything else it
 * started computes, or runs Neuron/ML work; its connection is judged by its traffic. */
static void judge_vscode(const Sample *s, const Config *c, Decision *d)
{
	const SessionFacts *f = &s->sessions;
	for (size_t i = 0; f->valid && i < f->n_vscode; i++) {
		const VscodeServerFacts *v = &f->vscode[i];
		char why[128];
		if (!work_or_busy(&v->work, &v->busy, c, why, sizeof(why)))
			continue;
		reason_add(d, SIGNAL_SSH, "VS Code server of %s (pid %d): %s", v->user, (int)v->pid,
		           why);
	}
	if (f->valid && f->n_vscode_dropped > 0)
		reason_add(d, SIGNAL_SSH, "%zu more VS Code servers not examined",
		           f->n_vscode_dropped);
}

/* Connections without a terminal (SSH, SSM port forwarding) count while they are used: more
 * than keepalive traffic within SessionIdleSec, or a busy process or Neuron/ML work under
 * them. The core remembers when each last carried traffic; one seen for the first time
 * counts as used when it connected. */

static void bytes_format(char *buf, size_t size, uint64_t bytes)
{
	if (bytes < 1000)
		snprintf(buf, size, "%" PRIu64 " B", bytes);
	else if (bytes < 1000 * 1000)
		snprintf(buf, size, "%.1f KB", (double)bytes / 1e3);
	else if (bytes < UINT64_C(1000) * 1000 * 1000)
		snprintf(buf, size, "%.1f MB", (double)bytes / 1e6);
	else
		snprintf(buf, size, "%.1f GB", (double)bytes / 1e9);
}

static void ago_format(char *buf, size_t size, usec_t span)
{
	if (span < USEC_PER_SEC)
		snprintf(buf, size, "0s");
	else
		timespan_format(buf, size, span / USEC_PER_SEC * USEC_PER_SEC);
}

/* More than keepalives over the window since the previous check. A window shorter than a
 * minute (--once, CheckNow) is judged as a minute: it may hold one keepalive whole. */
static bool traffic_used(const ConnectionTraffic *t, const Config *c)
{
	usec_t window = MAX(t->window, USEC_PER_MINUTE);
	return t->valid && (double)t->bytes > (double)c->keepalive_bytes_per_sec * (double)window /
	                                              USEC_PER_SEC;
}

/* Updates the memory of one connection into *st (from *old) and returns it. One seen for the
 * first time was used when it connected, or, when it is older than the daemon's first check
 * (a restart), then: its use before is unknown. */
static ConnectionUse connection_use(const CoreState *old, CoreState *st, pid_t pid,
                                    const ConnectionTraffic *t, const Config *c, usec_t now)
{
	ConnectionUse u = { .pid = pid,
		            .started = t->started,
		            .used = MAX(t->started, st->connections_since) };
	for (size_t i = 0; i < old->n_connections; i++)
		if (old->connections[i].pid == pid && old->connections[i].started == t->started)
			u = old->connections[i];
	if (traffic_used(t, c))
		u = (ConnectionUse){ .pid = pid,
			             .started = t->started,
			             .used = now,
			             .bytes = t->bytes,
			             .window = t->window };
	if (st->n_connections < CONNECTIONS_TRACKED_MAX)
		st->connections[st->n_connections++] = u;
	return u;
}

/* "3.1 MB in the last 1min", "4.0 KB in 1min, 12min ago", "connected 3min ago". */
static void use_format(char *buf, size_t size, const ConnectionUse *u, usec_t now)
{
	char span[32], ago[32], amount[32];
	ago_format(ago, sizeof(ago), now > u->used ? now - u->used : 0);
	if (u->bytes == 0) {
		snprintf(buf, size,
		         u->used == u->started ? "connected %s ago"
		                               : "open when checks began %s ago",
		         ago);
		return;
	}
	bytes_format(amount, sizeof(amount), u->bytes);
	ago_format(span, sizeof(span), u->window);
	if (u->used == now)
		snprintf(buf, size, "%s in the last %s", amount, span);
	else
		snprintf(buf, size, "%s in %s, %s ago", amount, span, ago);
}

/* A note that a connection carries only keepalives: "only keepalives for 1h 5min (before:
 * 4.0 KB in 1min)", "only keepalives since it connected 2h ago". */
static void not_counting_add(Decision *d, Signal signal, const char *who, const ConnectionUse *u,
                             usec_t now)
{
	if (d->n_not_counting >= NOT_COUNTING_MAX)
		return;
	Reason *r = &d->not_counting[d->n_not_counting++];
	char ago[64], span[64], amount[32];
	r->signal = signal;
	ago_format(ago, sizeof(ago), now > u->used ? now - u->used : 0);
	strscpy(r->detail, sizeof(r->detail), who);
	if (u->bytes == 0) {
		strappendf(r->detail, sizeof(r->detail), ": only keepalives since %s %s ago",
		           u->used == u->started ? "it connected" : "checks began", ago);
		return;
	}
	bytes_format(amount, sizeof(amount), u->bytes);
	ago_format(span, sizeof(span), u->window);
	strappendf(r->detail, sizeof(r->detail), ": only keepalives for %s (before: %s in %s)", ago,
	           amount, span);
}

/* Adds the reason a connection counts, or a note that it does not. */
static void connection_judge(const ConnectionUse *u, const BusyProc *b, const WorkProc *w,
                             Signal signal, const char *who, const Config *c, usec_t now,
                             Decision *d)
{
	char why[192];
	if (c->connections_always_active)
		snprintf(why, sizeof(why), "connected (ConnectionsAlwaysActive=yes)");
	else if (work_or_busy(w, b, c, why, sizeof(why)))
		;
	else if (c->session_idle == 0)
		snprintf(why, sizeof(why), "open (SessionIdleSec=0)");
	else if (now < u->used || now - u->used < c->session_idle)
		use_format(why, sizeof(why), u, now);
	else {
		not_counting_add(d, signal, who, u, now);
		return;
	}
	reason_add(d, signal, "%s: %s", who, why);
}

static void judge_connections(const Sample *s, const Config *c, const CoreState *old, CoreState *st,
                              usec_t now, DecideMode mode, Decision *d)
{
	const SessionFacts *f = &s->sessions;
	/* --once has no past: it judges by the window and the connection's age alone. */
	if (st->connections_since == 0 && mode == DECIDE_CHECK)
		st->connections_since = now;
	if (!f->valid)
		return; /* a probe error (activity): keep what is known for the next check */
	st->n_connections = 0;
	for (size_t i = 0; i < f->n_ssh; i++) {
		const SshConnectionFacts *x = &f->ssh[i];
		ConnectionUse u = connection_use(old, st, x->pid, &x->traffic, c, now);
		char who[128];
		snprintf(who, sizeof(who), "%s over SSH without a terminal (sshd pid %d)", x->user,
		         (int)x->pid);
		connection_judge(&u, &x->busy, &x->work, SIGNAL_SSH, who, c, now, d);
	}
	for (size_t i = 0; i < f->n_ssm; i++) {
		const SsmSessionFacts *m = &f->ssm[i];
		if (m->n_terminals > 0)
			continue;
		ConnectionUse u = connection_use(old, st, m->pid, &m->traffic, c, now);
		char who[128];
		snprintf(who, sizeof(who),
		         "SSM session of %s (ssm-session-worker pid %d) without a terminal (port "
		         "forwarding)",
		         m->user, (int)m->pid);
		connection_judge(&u, &(BusyProc){ 0 }, &(WorkProc){ 0 }, SIGNAL_SSM, who, c, now,
		                 d);
	}
}

/* The busiest process of a login user names the reason; the others above the threshold are
 * counted, so that one record stays one line. */
static void judge_user_process(const Sample *s, const Config *c, Decision *d)
{
	const UserProcFacts *f = &s->user_procs;
	if (!f->valid || c->user_busy_percent <= 0)
		return;
	size_t listed = MIN(f->n, (size_t)BUSY_USER_PROCS_MAX), above = 0;
	while (above < listed && f->procs[above].percent > c->user_busy_percent)
		above++;
	if (above == 0)
		return;
	const BusyUserProc *p = &f->procs[0];
	char more[64] = "";
	if (above > 1)
		snprintf(more, sizeof(more), ", and %zu more above %g%%%s", above - 1,
		         c->user_busy_percent,
		         above == listed && f->n > listed ? " (or more)" : "");
	reason_add(d, SIGNAL_USER_PROCESS, "%s (pid %d) of %s at %.0f%% CPU%s", p->comm,
	           (int)p->pid, p->user, p->percent, more);
}

/* EC2 stops or terminates the instance anyway; the idle action must not race it, and the
 * pre-action command has its own run for the notice. */
static void judge_spot(const Sample *s, const Config *c, Decision *d)
{
	if (!s->spot.pending)
		return;
	reason_add(d, SIGNAL_SPOT_INTERRUPTION,
	           "EC2 will %s this spot instance at %s; no idle action meanwhile", s->spot.action,
	           s->spot.time);
}

typedef void (*JudgeFn)(const Sample *s, const Config *c, Decision *d);

/* Order is the order of reasons in the verdict: a spot notice, then errors, since they need
 * attention. */
static const JudgeFn judges[] = {
	judge_spot,
	judge_probe_errors,
	judge_cpu,
	judge_memory,
	judge_terminals,
	judge_ssh,
	judge_vscode,
	judge_ssm,
	judge_multiplexers,
	judge_jupyter,
	judge_neuron_process,
	judge_neuron_device,
	judge_ml_process,
	judge_user_process,
	judge_inhibitor,
	judge_network,
	judge_disk,
};

static void holds_expire(CoreState *st, usec_t now)
{
	size_t w = 0;
	for (size_t i = 0; i < st->n_holds; i++)
		if (hold_running(&st->holds[i], now))
			st->holds[w++] = st->holds[i];
	st->n_holds = w;
}

static void judge_holds(const CoreState *st, usec_t now, Decision *d)
{
	for (size_t i = 0; i < st->n_holds; i++) {
		const Hold *h = &st->holds[i];
		char left[64];
		timespan_format(left, sizeof(left), (h->until - now) / USEC_PER_SEC * USEC_PER_SEC);
		reason_add(d, SIGNAL_HOLD, "#%llu by %s (uid %u), %s left%s%s",
		           (unsigned long long)h->id, h->owner[0] ? h->owner : "?",
		           (unsigned)h->uid, left, h->reason[0] ? ": " : "", h->reason);
	}
}

void core_decide(const Sample *sample, const Config *config, const CoreState *state, usec_t now,
                 DecideMode mode, CoreState *ret_state, Decision *ret)
{
	CoreState st = *state;
	Decision d = { .idle_checks_needed = config->idle_checks };

	for (size_t i = 0; i < ELEMENTSOF(judges); i++)
		judges[i](sample, config, &d);
	judge_connections(sample, config, state, &st, now, mode, &d);
	bool activity = d.n_reasons > 0;

	if (mode == DECIDE_ONCE) {
		d.verdict = activity ? VERDICT_ACTIVE : VERDICT_IDLE;
		*ret_state = st;
		*ret = d;
		return;
	}

	holds_expire(&st, now);
	judge_holds(&st, now, &d);

	if (now < config->boot_grace) {
		d.verdict = VERDICT_GRACE;
		st.idle_checks = 0;
	} else if (activity) {
		d.verdict = VERDICT_ACTIVE;
		st.idle_checks = 0;
	} else if (st.n_holds > 0) {
		d.verdict = VERDICT_HELD;
		st.idle_checks = 0;
	} else {
		d.verdict = VERDICT_IDLE;
		if (st.idle_checks < UINT32_MAX)
			st.idle_checks++;
		d.action_due = st.idle_checks >= config->idle_checks;
	}
	d.idle_checks = st.idle_checks;
	*ret = d;
	if (mode == DECIDE_PEEK) {
		/* It looks, it does not count: the next scheduled check still averages over its
		 * whole interval and counts the streak from where it stands. */
		ret->idle_checks = state->idle_checks;
		ret->action_due = false;
		if (ret_state != state)
			*ret_state = *state;
		return;
	}
	*ret_state = st;
}

int core_hold_add(CoreState *s, uid_t uid, const char *owner, usec_t now, usec_t duration,
                  usec_t max, const char *reason, uint64_t *ret_id)
{
	if (duration == 0 || duration > max)
		return -ERANGE;
	holds_expire(s, now);
	if (s->n_holds >= HOLDS_MAX)
		return -E2BIG;
	Hold *h = &s->holds[s->n_holds++];
	*h = (Hold){ .id = s->next_hold_id++, .uid = uid, .until = now + duration };
	text_sanitize(h->owner, sizeof(h->owner), strempty(owner));
	text_sanitize(h->reason, sizeof(h->reason), strempty(reason));
	*ret_id = h->id;
	return 0;
}

HoldAdmission core_hold_admit(const CoreState *s, uid_t uid, usec_t now, usec_t duration,
                              const HoldPolicy *policy, size_t *ret_own, size_t *ret_all)
{
	size_t own = 0, all = 0;
	for (size_t i = 0; i < s->n_holds; i++) {
		if (!hold_running(&s->holds[i], now))
			continue;
		all++;
		own += s->holds[i].uid == uid;
	}
	*ret_own = own;
	*ret_all = all;
	if (duration == 0 || duration > policy->max)
		return HOLD_BAD_DURATION;
	if (policy->per_user > 0 && own >= policy->per_user)
		return HOLD_TOO_MANY_OWN;
	if (all >= MIN(policy->table, (size_t)HOLDS_MAX))
		return HOLD_TABLE_FULL;
	return HOLD_ADMITTED;
}

int core_hold_release(CoreState *s, uint64_t id, uid_t uid)
{
	for (size_t i = 0; i < s->n_holds; i++) {
		if (s->holds[i].id != id)
			continue;
		if (uid != 0 && s->holds[i].uid != uid)
			return -EPERM;
		memmove(&s->holds[i], &s->holds[i + 1], (s->n_holds - i - 1) * sizeof(Hold));
		s->n_holds--;
		return 0;
	}
	return -ENOENT;
}

void decision_summary(const Decision *d, char *buf, size_t size)
{
	snprintf(buf, size, "%s: ", verdict_to_string(d->verdict));
	if (d->n_reasons > 0)
		strappendf(buf, size, "%s %s", signal_to_string(d->reasons[0].signal),
		           d->reasons[0].detail);
	else
		strappendf(buf, size,
		           d->verdict == VERDICT_GRACE ? "boot grace" : "nothing active");
	if (d->n_reasons > 1)
		strappendf(buf, size, " (+%zu more)", d->n_reasons - 1 + d->n_reasons_dropped);
	strappendf(buf, size, "; idle %u/%u%s", d->idle_checks, d->idle_checks_needed,
	           d->action_due ? ", action due" : "");
}

bool decision_active(const Decision *d)
{
	return d->verdict != VERDICT_IDLE;
}
