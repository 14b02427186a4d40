/* The session rules: terminals, SSH and SSM, tmux and screen, Jupyter kernels, VS Code servers
 * and connections without a terminal, judged by their age, CPU, work and traffic. Part of the
 * pure core (core.c calls these judges). */
#include <inttypes.h>
#include <stdio.h>

#include "core-judges.h"
#include "timespan.h"

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
void judge_terminals(const Sample *s, const Config *c, Decision *d)
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

void judge_ssh(const Sample *s, const Config *c, Decision *d)
{
	const SessionFacts *f = &s->sessions;
	if (f->valid && f->n_ssh_dropped > 0)
		reason_add(d, SIGNAL_SSH, "%zu more SSH connections without a terminal",
		           f->n_ssh_dropped);
}

void judge_ssm(const Sample *s, const Config *c, Decision *d)
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

void judge_multiplexers(const Sample *s, const Config *c, Decision *d)
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
void judge_jupyter(const Sample *s, const Config *c, Decision *d)
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
void judge_vscode(const Sample *s, const Config *c, Decision *d)
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
static void note_keepalives_only(Decision *d, Signal signal, const char *who,
                                 const ConnectionUse *u, usec_t now)
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
		note_keepalives_only(d, signal, who, u, now);
		return;
	}
	reason_add(d, signal, "%s: %s", who, why);
}

void judge_connections(const Sample *s, const Config *c, const CoreState *old, CoreState *st,
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
