/* The session judges (terminal, ssh, ssm, multiplexer, jupyter) driven with hand-made facts, and the
 * session probe's pure helpers. */
#include "check-main.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "core.h"
#include "test-util.h"
#include "probe-sessions.h"

#define SEC  USEC_PER_SEC
#define HOUR USEC_PER_HOUR

static Config cfg(void)
{
	Config c;
	ck_assert_int_eq(config_init_defaults(&c), 0);
	c.cpu_percent = 100;
	c.memory_percent = 100;
	ck_assert_uint_eq(c.session_idle, HOUR); /* the documented default */
	ck_assert(c.busy_percent == 5);
	return c;
}

static Sample with_sessions(void)
{
	Sample s = { .cpu = { .valid = true, .busy_percent = 1 },
		     .memory = { .valid = true, .used_percent = 10 } };
	s.sessions.valid = true;
	return s;
}

static TerminalFacts term(unsigned pts, SessionOwner owner, usec_t idle)
{
	TerminalFacts t = {
		.pts = pts, .owner = owner, .owner_pid = 40, .leader_pid = 41, .idle = idle
	};
	strscpy(t.user, sizeof(t.user), "alice");
	strscpy(t.leader_comm, sizeof(t.leader_comm), "bash");
	return t;
}

static MultiplexerFacts mux(void)
{
	MultiplexerFacts m = { .kind = SESSION_OWNER_TMUX,
		               .pid = 4000,
		               .n_panes = 1,
		               .pane_pts = 3,
		               .pane_idle = 3 * HOUR,
		               .client_idle = USEC_INFINITY };
	strscpy(m.user, sizeof(m.user), "ubuntu");
	strscpy(m.name, sizeof(m.name), "exp3");
	return m;
}

static BusyProc busy_proc(pid_t pid, const char *comm, double percent)
{
	BusyProc b = { .pid = pid, .percent = percent };
	strscpy(b.comm, sizeof(b.comm), comm);
	return b;
}

typedef struct TermCase {
	const char *name;
	SessionOwner owner;
	usec_t idle;
	usec_t session_idle;
	double busy; /* CPU of the busiest process on it */
	bool active;
} TermCase;

static const TermCase term_cases[] = {
	{ "ssh pts in use", SESSION_OWNER_SSHD, 59 * 60 * SEC, HOUR, 0, true },
	{ "ssh pts exactly at the limit", SESSION_OWNER_SSHD, HOUR, HOUR, 0, false },
	{ "ssh pts old", SESSION_OWNER_SSHD, 2 * HOUR, HOUR, 0, false },
	{ "other pts in use", SESSION_OWNER_OTHER, 10 * SEC, HOUR, 0, true },
	{ "SessionIdleSec=0: an old pts counts", SESSION_OWNER_OTHER, 30 * HOUR, 0, 0, true },
	{ "tmux pane is not a plain terminal", SESSION_OWNER_TMUX, 1 * SEC, HOUR, 0, false },
	{ "screen window is not a plain terminal", SESSION_OWNER_SCREEN, 1 * SEC, HOUR, 0, false },
	{ "old ssh pts running a silent job", SESSION_OWNER_SSHD, 3 * HOUR, HOUR, 99, true },
	{ "old pts, a job just above BusyPercent", SESSION_OWNER_OTHER, 3 * HOUR, HOUR, 5.5, true },
	{ "old pts, CPU exactly at BusyPercent", SESSION_OWNER_OTHER, 3 * HOUR, HOUR, 5, false },
	{ "old pts, an idle top", SESSION_OWNER_SSHD, 3 * HOUR, HOUR, 0.3, false },
	{ "busy tmux pane is judged with its server", SESSION_OWNER_TMUX, 3 * HOUR, HOUR, 99,
	  false },
};

START_TEST(test_terminal_rule)
{
	const TermCase *t = &term_cases[_i];
	Config c = cfg();
	c.session_idle = t->session_idle;
	Sample s = with_sessions();
	TerminalFacts tf = term(7, t->owner, t->idle);
	if (t->busy > 0)
		tf.busy = busy_proc(4242, "python3", t->busy);
	s.sessions.terminals[s.sessions.n_terminals++] = tf;
	Decision d = test_decide_once(&s, &c);
	ck_assert_msg((d.verdict == VERDICT_ACTIVE) == t->active, "%s", t->name);
	if (t->active) {
		ck_assert_int_eq(d.reasons[0].signal, SIGNAL_TERMINAL);
		ck_assert_msg(strstr(d.reasons[0].detail, "pts/7 of alice (") != NULL, "%s",
		              d.reasons[0].detail);
	}
	config_free(&c);
}
END_TEST

START_TEST(test_terminal_detail)
{
	Config c = cfg();
	Sample s = with_sessions();
	s.sessions.terminals[s.sessions.n_terminals++] = term(2, SESSION_OWNER_SSHD, 125 * SEC);
	Decision d = test_decide_once(&s, &c);
	ck_assert_str_eq(d.reasons[0].detail,
	                 "pts/2 of alice (SSH session, bash pid 41): input or output 2min 5s ago");

	/* A job that prints nothing for hours: the process is named, not the age. */
	s.sessions.terminals[0].idle = 3 * HOUR;
	s.sessions.terminals[0].busy = busy_proc(4242, "python3", 99.6);
	d = test_decide_once(&s, &c);
	ck_assert_str_eq(
	        d.reasons[0].detail,
	        "pts/2 of alice (SSH session, bash pid 41): python3 (pid 4242) at 100% CPU");

	/* BusyPercent=0: any CPU at all on the terminal counts. */
	s.sessions.terminals[0].busy = busy_proc(4242, "top", 0.3);
	ck_assert_int_eq(test_decide_once(&s, &c).verdict, VERDICT_IDLE);
	c.busy_percent = 0;
	ck_assert_int_eq(test_decide_once(&s, &c).verdict, VERDICT_ACTIVE);
	config_free(&c);
}
END_TEST

START_TEST(test_dropped_terminals)
{
	/* Dropped terminals are older than every listed one, so their age cannot count; a busy
	 * process on one still does. */
	Config c = cfg();
	Sample s = with_sessions();
	s.sessions.terminals[s.sessions.n_terminals++] = term(2, SESSION_OWNER_SSHD, 3 * HOUR);
	s.sessions.n_terminals_dropped = 70;
	ck_assert_int_eq(test_decide_once(&s, &c).verdict, VERDICT_IDLE);
	s.sessions.dropped_terminals_busy = busy_proc(900, "make", 80);
	Decision d = test_decide_once(&s, &c);
	ck_assert_int_eq(d.verdict, VERDICT_ACTIVE);
	ck_assert_str_eq(d.reasons[0].detail,
	                 "70 more terminals, one with make (pid 900) at 80% CPU");
	config_free(&c);
}
END_TEST

START_TEST(test_invalid_sessions_say_nothing)
{
	/* A failed probe leaves valid false; its probe-error is the reason, not stale facts. */
	Config c = cfg();
	Sample s = with_sessions();
	s.sessions.terminals[s.sessions.n_terminals++] = term(2, SESSION_OWNER_SSHD, 1 * SEC);
	s.sessions.valid = false;
	ck_assert_int_eq(test_decide_once(&s, &c).verdict, VERDICT_IDLE);
	config_free(&c);
}
END_TEST

/* Decides one scheduled check at now (CLOCK_BOOTTIME), carrying the state over. */
static Decision decide_at(const Sample *s, const Config *c, CoreState *st, usec_t now)
{
	Decision d;
	core_decide(s, c, st, now, DECIDE_CHECK, st, &d);
	return d;
}

static ConnectionTraffic moved(uint64_t bytes, usec_t window, usec_t started)
{
	return (ConnectionTraffic){
		.valid = true, .bytes = bytes, .window = window, .started = started
	};
}

#define MINUTE (60 * SEC)

/* A connection without a terminal counts while it carries more than keepalives within
 * SessionIdleSec (its start counts as a use), or while a process under it works. */
START_TEST(test_ssh_without_terminal)
{
	Config c = cfg();
	ck_assert_uint_eq(c.keepalive_bytes_per_sec, 1000); /* the documented default */
	Sample s = with_sessions();
	CoreState st;
	core_state_init(&st);
	SshConnectionFacts *x = &s.sessions.ssh[s.sessions.n_ssh++];
	*x = (SshConnectionFacts){ .pid = 812, .uid = 1000 };
	strscpy(x->user, sizeof(x->user), "bob");

	/* Checks began at 6min; connected at 10min; keepalives only (100 B/s) since. */
	s.sessions.n_ssh = 0;
	decide_at(&s, &c, &st, 6 * MINUTE);
	s.sessions.n_ssh = 1;
	x->traffic = moved(6000, MINUTE, 10 * MINUTE);
	Decision d = decide_at(&s, &c, &st, 20 * MINUTE);
	ck_assert_int_eq(d.verdict, VERDICT_ACTIVE);
	ck_assert_int_eq(d.reasons[0].signal, SIGNAL_SSH);
	ck_assert_str_eq(d.reasons[0].detail,
	                 "bob over SSH without a terminal (sshd pid 812): connected 10min ago");
	x->traffic = moved(3100000, MINUTE, 10 * MINUTE);
	d = decide_at(&s, &c, &st, 30 * MINUTE);
	ck_assert_str_eq(d.reasons[0].detail, "bob over SSH without a terminal (sshd pid 812): "
	                                      "3.1 MB in the last 1min");
	x->traffic = moved(60000, MINUTE, 10 * MINUTE); /* exactly keepalive level */
	d = decide_at(&s, &c, &st, HOUR);
	ck_assert_int_eq(d.verdict, VERDICT_ACTIVE);
	ck_assert_str_eq(d.reasons[0].detail, "bob over SSH without a terminal (sshd pid 812): "
	                                      "3.1 MB in 1min, 30min ago");
	d = decide_at(&s, &c, &st, HOUR + 31 * MINUTE);
	ck_assert_int_eq(d.verdict, VERDICT_IDLE);
	ck_assert_uint_eq(d.n_reasons, 0);
	ck_assert_uint_eq(d.n_not_counting, 1);
	ck_assert_str_eq(d.not_counting[0].detail,
	                 "bob over SSH without a terminal (sshd pid 812): only keepalives for "
	                 "1h 1min (before: 3.1 MB in 1min)");

	/* A short window (--once) is judged as a minute: one keepalive burst is not use. */
	x->traffic = moved(20000, SEC, 10 * MINUTE);
	ck_assert_int_eq(decide_at(&s, &c, &st, 2 * HOUR).verdict, VERDICT_IDLE);
	x->traffic = moved(60001, SEC, 10 * MINUTE);
	ck_assert_int_eq(decide_at(&s, &c, &st, 2 * HOUR).verdict, VERDICT_ACTIVE);
	x->traffic = moved(0, MINUTE, 10 * MINUTE);

	/* The same pid, another process: a new connection. */
	x->traffic.started = 3 * HOUR - 5 * MINUTE;
	d = decide_at(&s, &c, &st, 3 * HOUR);
	ck_assert_str_eq(d.reasons[0].detail,
	                 "bob over SSH without a terminal (sshd pid 812): connected 5min ago");
	d = decide_at(&s, &c, &st, 5 * HOUR);
	ck_assert_int_eq(d.verdict, VERDICT_IDLE);
	ck_assert_str_eq(d.not_counting[0].detail,
	                 "bob over SSH without a terminal (sshd pid 812): only keepalives since "
	                 "it connected 2h 5min ago");

	/* Work under it counts, whatever the traffic. */
	x->busy = busy_proc(900, "python3", 50);
	d = decide_at(&s, &c, &st, 5 * HOUR);
	ck_assert_str_eq(d.reasons[0].detail, "bob over SSH without a terminal (sshd pid 812): "
	                                      "python3 (pid 900) at 50% CPU");
	x->busy = (BusyProc){ 0 };
	x->work = (WorkProc){ .pid = 901, .comm = "neuronx-cc", .signal = SIGNAL_NEURON_PROCESS };
	d = decide_at(&s, &c, &st, 5 * HOUR);
	ck_assert_str_eq(d.reasons[0].detail, "bob over SSH without a terminal (sshd pid 812): "
	                                      "neuronx-cc (pid 901) is a Neuron process");
	x->work = (WorkProc){ 0 };

	/* The old rule on request; SessionIdleSec=0 keeps every session. */
	c.connections_always_active = true;
	d = decide_at(&s, &c, &st, 5 * HOUR);
	ck_assert_str_eq(d.reasons[0].detail, "bob over SSH without a terminal (sshd pid 812): "
	                                      "connected (ConnectionsAlwaysActive=yes)");
	c.connections_always_active = false;
	c.session_idle = 0;
	ck_assert_int_eq(decide_at(&s, &c, &st, 5 * HOUR).verdict, VERDICT_ACTIVE);
	c.session_idle = HOUR;

	s.sessions.n_ssh = 0;
	s.sessions.n_ssh_dropped = 3; /* not examined: fail-safe */
	d = decide_at(&s, &c, &st, 5 * HOUR);
	ck_assert_int_eq(d.verdict, VERDICT_ACTIVE);
	ck_assert_uint_eq(st.n_connections, 0); /* gone connections are forgotten */

	/* The daemon restarted: what an old connection did before is unknown, so it counts
	 * from the first check on (--once, without a past, goes by its age). */
	core_state_init(&st);
	s.sessions.n_ssh = 1;
	s.sessions.n_ssh_dropped = 0;
	x->traffic = moved(0, MINUTE, HOUR);
	d = decide_at(&s, &c, &st, 3 * HOUR);
	ck_assert_str_eq(d.reasons[0].detail, "bob over SSH without a terminal (sshd pid 812): "
	                                      "open when checks began 0s ago");
	ck_assert_int_eq(decide_at(&s, &c, &st, 3 * HOUR + 59 * MINUTE).verdict, VERDICT_ACTIVE);
	/* A failed probe forgets nothing. */
	s.sessions.valid = false;
	decide_at(&s, &c, &st, 3 * HOUR + 30 * MINUTE);
	s.sessions.valid = true;
	ck_assert_uint_eq(st.n_connections, 1);
	d = decide_at(&s, &c, &st, 4 * HOUR);
	ck_assert_int_eq(d.verdict, VERDICT_IDLE);
	ck_assert_str_eq(d.not_counting[0].detail,
	                 "bob over SSH without a terminal (sshd pid 812): only keepalives since "
	                 "checks began 1h ago");
	x->traffic.started = 500 * SEC; /* --once at 1000s: connected 8min ago */
	ck_assert_int_eq(test_decide_once(&s, &c).verdict, VERDICT_ACTIVE);
	config_free(&c);
}
END_TEST

START_TEST(test_vscode_server)
{
	Config c = cfg();
	Sample s = with_sessions();
	VscodeServerFacts *v = &s.sessions.vscode[s.sessions.n_vscode++];
	*v = (VscodeServerFacts){ .pid = 880, .uid = 1000, .busy = busy_proc(950, "node", 40) };
	strscpy(v->user, sizeof(v->user), "alice");
	Decision d = test_decide_once(&s, &c);
	ck_assert_int_eq(d.verdict, VERDICT_ACTIVE);
	ck_assert_int_eq(d.reasons[0].signal, SIGNAL_SSH);
	ck_assert_str_eq(d.reasons[0].detail,
	                 "VS Code server of alice (pid 880): node (pid 950) at 40% CPU");
	v->busy = busy_proc(950, "node", 1); /* an open window, nothing running */
	ck_assert_int_eq(test_decide_once(&s, &c).verdict, VERDICT_IDLE);
	config_free(&c);
}
END_TEST

START_TEST(test_ssm_rules)
{
	Config c = cfg();
	Sample s = with_sessions();
	SsmSessionFacts *m = &s.sessions.ssm[s.sessions.n_ssm++];
	*m = (SsmSessionFacts){ .pid = 55, .idle = USEC_INFINITY };
	strscpy(m->user, sizeof(m->user), "ssm-user");

	Decision d = test_decide_once(&s, &c); /* port forwarding: counts while it exists */
	ck_assert_int_eq(d.verdict, VERDICT_ACTIVE);
	ck_assert_int_eq(d.reasons[0].signal, SIGNAL_SSM);
	ck_assert_ptr_nonnull(strstr(d.reasons[0].detail, "without a terminal"));

	m->n_terminals = 1;
	m->pts = 4;
	m->idle = 10 * SEC;
	d = test_decide_once(&s, &c);
	ck_assert_int_eq(d.verdict, VERDICT_ACTIVE);
	ck_assert_str_eq(d.reasons[0].detail, "SSM session of ssm-user (ssm-session-worker pid "
	                                      "55): pts/4 input or output 10s ago");

	m->idle = 2 * HOUR; /* an abandoned shell */
	ck_assert_int_eq(test_decide_once(&s, &c).verdict, VERDICT_IDLE);
	m->busy = busy_proc(60, "python3", 50); /* ... unless it runs a silent job */
	d = test_decide_once(&s, &c);
	ck_assert_int_eq(d.verdict, VERDICT_ACTIVE);
	ck_assert_str_eq(d.reasons[0].detail, "SSM session of ssm-user (ssm-session-worker pid "
	                                      "55): python3 (pid 60) at 50% CPU");
	m->busy = busy_proc(60, "python3", 4);
	ck_assert_int_eq(test_decide_once(&s, &c).verdict, VERDICT_IDLE);
	/* Its terminal is judged with the session, not again as a plain terminal. */
	s.sessions.terminals[s.sessions.n_terminals++] = term(4, SESSION_OWNER_SSM, 2 * HOUR);
	ck_assert_int_eq(test_decide_once(&s, &c).verdict, VERDICT_IDLE);
	config_free(&c);
}
END_TEST

typedef struct MuxCase {
	const char *name;
	usec_t pane_idle;
	size_t clients;
	usec_t client_idle;
	double busy;
	Signal work;
	bool active;
	const char *detail;
} MuxCase;

static const MuxCase mux_cases[] = {
	{ "detached, idle shell, old", 3 * HOUR, 0, USEC_INFINITY, 0, _SIGNAL_MAX, false, NULL },
	{ "detached, pane output 20s ago", 20 * SEC, 0, USEC_INFINITY, 0, _SIGNAL_MAX, true,
	  "tmux of ubuntu (server pid 4000, first session 'exp3'): pane pts/3 input or output "
	  "20s ago" },
	{ "busy process inside", 3 * HOUR, 0, USEC_INFINITY, 93, _SIGNAL_MAX, true,
	  "tmux of ubuntu (server pid 4000, first session 'exp3'): python3 (pid 4121) at 93% "
	  "CPU" },
	{ "CPU exactly at the threshold", 3 * HOUR, 0, USEC_INFINITY, 5, _SIGNAL_MAX, false, NULL },
	{ "attached from an active terminal", 3 * HOUR, 1, 30 * SEC, 0, _SIGNAL_MAX, true,
	  "tmux of ubuntu (server pid 4000, first session 'exp3'): attached from pts/9, input "
	  "or output 30s ago" },
	{ "attached from an idle terminal", 3 * HOUR, 1, 2 * HOUR, 0, _SIGNAL_MAX, false, NULL },
	{ "Neuron compiler inside, no CPU", 3 * HOUR, 0, USEC_INFINITY, 0, SIGNAL_NEURON_PROCESS,
	  true,
	  "tmux of ubuntu (server pid 4000, first session 'exp3'): neuronx-cc (pid 4200) is a "
	  "Neuron process" },
	{ "ML process inside", 3 * HOUR, 0, USEC_INFINITY, 0, SIGNAL_ML_PROCESS, true, NULL },
};

START_TEST(test_multiplexer_rule)
{
	const MuxCase *t = &mux_cases[_i];
	Config c = cfg();
	Sample s = with_sessions();
	MultiplexerFacts m = mux();
	m.pane_idle = t->pane_idle;
	m.n_clients = t->clients;
	m.client_pts = 9;
	m.client_idle = t->client_idle;
	if (t->busy > 0)
		m.busy = busy_proc(4121, "python3", t->busy);
	if (t->work != _SIGNAL_MAX) {
		m.work = (WorkProc){ .pid = 4200, .signal = t->work };
		strscpy(m.work.comm, sizeof(m.work.comm), "neuronx-cc");
	}
	s.sessions.multiplexers[s.sessions.n_multiplexers++] = m;
	/* The pane's pts itself never counts as a plain terminal. */
	s.sessions.terminals[s.sessions.n_terminals++] = term(3, SESSION_OWNER_TMUX, t->pane_idle);
	Decision d = test_decide_once(&s, &c);
	ck_assert_msg((d.verdict == VERDICT_ACTIVE) == t->active, "%s", t->name);
	if (t->active) {
		ck_assert_uint_eq(d.n_reasons, 1);
		ck_assert_int_eq(d.reasons[0].signal, SIGNAL_MULTIPLEXER);
	}
	if (t->detail)
		ck_assert_str_eq(d.reasons[0].detail, t->detail);
	config_free(&c);
}
END_TEST

START_TEST(test_multiplexer_zero_idle_and_screen)
{
	Config c = cfg();
	Sample s = with_sessions();
	MultiplexerFacts m = mux();
	m.kind = SESSION_OWNER_SCREEN;
	m.pid = 77;
	s.sessions.multiplexers[s.sessions.n_multiplexers++] = m;
	ck_assert_int_eq(test_decide_once(&s, &c).verdict, VERDICT_IDLE);
	c.session_idle = 0; /* the seed's rule: an open terminal always counts */
	Decision d = test_decide_once(&s, &c);
	ck_assert_int_eq(d.verdict, VERDICT_ACTIVE);
	ck_assert_str_eq(d.reasons[0].detail,
	                 "screen session 'exp3' of ubuntu (pid 77): pane pts/3 open "
	                 "(SessionIdleSec=0)");
	/* A server with no pane at all (its last window closing) is not kept up by the rule. */
	s.sessions.multiplexers[0].n_panes = 0;
	ck_assert_int_eq(test_decide_once(&s, &c).verdict, VERDICT_IDLE);
	config_free(&c);
}
END_TEST

typedef struct KernelCase {
	const char *name;
	pid_t server_pid;
	double busy;
	Signal work;
	bool active;
	const char *detail;
} KernelCase;

static const KernelCase kernel_cases[] = {
	{ "idle kernel under jupyter-lab", 700, 0.2, _SIGNAL_MAX, false, NULL },
	{ "kernel running a cell", 700, 97, _SIGNAL_MAX, true,
	  "kernel of alice (pid 812, under jupyter-lab pid 700): python3 (pid 812) at 97% CPU" },
	{ "kernel at BusyPercent exactly", 700, 5, _SIGNAL_MAX, false, NULL },
	{ "VS Code kernel (no server) running a cell", 0, 40, _SIGNAL_MAX, true,
	  "kernel of alice (pid 812): python3 (pid 812) at 40% CPU" },
	{ "kernel that started the Neuron compiler", 700, 0, SIGNAL_NEURON_PROCESS, true,
	  "kernel of alice (pid 812, under jupyter-lab pid 700): neuronx-cc (pid 900) is a "
	  "Neuron process" },
};

START_TEST(test_jupyter_rule)
{
	const KernelCase *t = &kernel_cases[_i];
	Config c = cfg();
	Sample s = with_sessions();
	JupyterKernelFacts k = { .pid = 812, .uid = 1000, .server_pid = t->server_pid };
	strscpy(k.user, sizeof(k.user), "alice");
	if (t->server_pid)
		strscpy(k.server, sizeof(k.server), "jupyter-lab");
	k.busy = busy_proc(812, "python3", t->busy);
	if (t->work != _SIGNAL_MAX) {
		k.work = (WorkProc){ .pid = 900, .signal = t->work };
		strscpy(k.work.comm, sizeof(k.work.comm), "neuronx-cc");
	}
	s.sessions.kernels[s.sessions.n_kernels++] = k;
	Decision d = test_decide_once(&s, &c);
	ck_assert_msg((d.verdict == VERDICT_ACTIVE) == t->active, "%s", t->name);
	if (t->active) {
		ck_assert_uint_eq(d.n_reasons, 1);
		ck_assert_int_eq(d.reasons[0].signal, SIGNAL_JUPYTER);
	}
	if (t->detail)
		ck_assert_str_eq(d.reasons[0].detail, t->detail);
	config_free(&c);
}
END_TEST

START_TEST(test_jupyter_dropped_kernels)
{
	Config c = cfg();
	Sample s = with_sessions();
	s.sessions.n_kernels_dropped = 2; /* not examined: fail-safe */
	Decision d = test_decide_once(&s, &c);
	ck_assert_int_eq(d.verdict, VERDICT_ACTIVE);
	ck_assert_str_eq(d.reasons[0].detail, "2 more Jupyter kernels not examined");
	config_free(&c);
}
END_TEST

/* One fake /proc/PID with a stat line (session, controlling terminal) and a command line
 * ('\n' for NUL). */
static void fake_proc_on(pid_t pid, const char *comm, pid_t ppid, pid_t session, int tty_nr,
                         const char *cmdline)
{
	char rel[64], text[512], argv[512];
	snprintf(rel, sizeof(rel), "proc/%d", (int)pid);
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/%s", test_tmpdir, rel);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	int n = snprintf(text, sizeof(text),
	                 "%d (%s) S %d %d %d %d -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 500 1000 "
	                 "200 0 0\n",
	                 (int)pid, comm, (int)ppid, (int)pid, (int)session, tty_nr);
	snprintf(rel, sizeof(rel), "proc/%d/stat", (int)pid);
	test_write_file(rel, text, (size_t)n);
	size_t len = strlen(cmdline);
	memcpy(argv, cmdline, len + 1);
	for (size_t k = 0; k < len; k++)
		if (argv[k] == '\n')
			argv[k] = '\0';
	snprintf(rel, sizeof(rel), "proc/%d/cmdline", (int)pid);
	test_write_file(rel, argv, len);
}

/* A process alone in its session, without a terminal. */
static void fake_proc(pid_t pid, const char *comm, pid_t ppid, const char *cmdline)
{
	fake_proc_on(pid, comm, ppid, pid, 0, cmdline);
}

/* Scans test_tmpdir/proc and runs the session probe on it; returns its result. */
static int probe_fixture(SessionFacts *f, usec_t realtime, char *err, size_t errlen)
{
	char proc[512];
	snprintf(proc, sizeof(proc), "%s/proc", test_tmpdir);
	ProcTable t, prev = { 0 };
	ck_assert_int_eq(proc_table_scan(proc, &t, err, errlen), 0);
	Config c = cfg();
	SessionsInput in = { .procs = &t,
		             .prev = &prev,
		             .proc_root = proc,
		             .dev_root = "/dev",
		             .realtime = realtime,
		             .ticks_per_sec = 100,
		             .config = &c };
	int r = sessions_probe(&in, f, err, errlen);
	proc_table_done(&t);
	config_free(&c);
	return r;
}

/* Creates test_tmpdir/REL (and its parents). */
static void fixture_mkdir(const char *rel)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", test_tmpdir, rel);
	for (char *p = path + strlen(test_tmpdir) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		(void)mkdir(path, 0755);
		*p = '/';
	}
	ck_assert(mkdir(path, 0755) == 0 || errno == EEXIST);
}

/* A pts in a fixture root (ROOT/dev/pts/N) last used at `used`, and /proc/PID/root to it. */
static void fake_pts(pid_t pid, const char *root, unsigned pts, time_t used)
{
	char rel[128], path[512];
	snprintf(rel, sizeof(rel), "%s/dev/pts", root);
	fixture_mkdir(rel);
	snprintf(rel, sizeof(rel), "%s/dev/pts/%u", root, pts);
	test_write_file(rel, "", 0);
	snprintf(path, sizeof(path), "%s/%s", test_tmpdir, rel);
	struct timespec times[2] = { { .tv_sec = used }, { .tv_sec = used } };
	ck_assert_int_eq(utimensat(AT_FDCWD, path, times, 0), 0);
	char link[512], target[512];
	snprintf(link, sizeof(link), "%s/proc/%d/root", test_tmpdir, (int)pid);
	snprintf(target, sizeof(target), "%s/%s", test_tmpdir, root);
	ck_assert_int_eq(symlink(target, link), 0);
}

static const TerminalFacts *terminal_of(const SessionFacts *f, pid_t session)
{
	for (size_t i = 0; i < f->n_terminals; i++)
		if (f->terminals[i].session == session)
			return &f->terminals[i];
	return NULL;
}

#define PTS(n) ((136 << 8) | (n))

/* Terminals are looked up where their processes see them: two pts/0 of two devpts instances
 * (the host's and a container's) are two terminals, each with its own age. */
START_TEST(test_terminals_where_their_processes_see_them)
{
	char err[256] = "";
	fixture_mkdir("proc");
	fake_proc(1, "systemd", 0, "/sbin/init\n");
	fake_proc_on(500, "bash", 1, 500, PTS(0), "-bash\n");
	fake_proc_on(501, "vim", 500, 500, PTS(0), "vim\n");
	fake_proc_on(600, "bash", 1, 600, PTS(0), "bash\n");
	fake_pts(500, "host", 0, 1000);
	fake_pts(501, "host", 0, 1000);
	fake_pts(600, "container", 0, 1000 + 7000);
	SessionFacts *f = malloc(sizeof(*f));
	ck_assert_int_eq(probe_fixture(f, 10000 * SEC, err, sizeof(err)), 0);
	ck_assert_uint_eq(f->n_terminals, 2);
	const TerminalFacts *t = terminal_of(f, 500);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(t->pts, 0);
	ck_assert_uint_eq(t->idle, 9000 * SEC);
	ck_assert_int_eq(t->leader_pid, 500);
	t = terminal_of(f, 600);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(t->idle, 2000 * SEC);
	free(f);
}
END_TEST

/* The pts a process holds open is the very terminal: it wins over a decoy of the same number
 * in the process's root (a container's own pts/N seen from a shell nsenter'ed into it). */
START_TEST(test_terminal_held_open_wins)
{
	char err[256] = "", path[512];
	int master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
		fprintf(stderr, "no pty here (%s): skipped\n", strerror(errno));
		return;
	}
	const char *name = ptsname(master);
	struct stat st;
	ck_assert_int_eq(stat(name, &st), 0);
	unsigned n = minor(st.st_rdev);
	fixture_mkdir("proc");
	fake_proc_on(800, "bash", 1, 800, PTS(n), "bash\n");
	fake_pts(800, "decoy", n, 1000); /* an old file under the same number */
	fixture_mkdir("proc/800/fd");
	snprintf(path, sizeof(path), "%s/proc/800/fd/0", test_tmpdir);
	ck_assert_int_eq(symlink(name, path), 0);
	SessionFacts *f = malloc(sizeof(*f));
	usec_t now = (usec_t)time(NULL) * SEC;
	ck_assert_int_eq(probe_fixture(f, now, err, sizeof(err)), 0);
	ck_assert_uint_eq(f->n_terminals, 1);
	ck_assert_uint_lt(f->terminals[0].idle, HOUR); /* the real pts, opened just now */
	free(f);
	close(master);
}
END_TEST

/* A live process's terminal that cannot be found is a probe error naming the path, never a
 * closed terminal. */
START_TEST(test_terminal_not_found_is_an_error)
{
	char err[256] = "";
	fixture_mkdir("proc");
	fake_proc_on(700, "bash", 1, 700, PTS(3), "bash\n");
	fake_pts(700, "elsewhere", 0, 1000); /* its root has pts/0, not pts/3 */
	SessionFacts *f = malloc(sizeof(*f));
	ck_assert_int_eq(probe_fixture(f, 10000 * SEC, err, sizeof(err)), -ENOENT);
	ck_assert(!f->valid);
	ck_assert_ptr_nonnull(strstr(err, "/proc/700/root/dev/pts/3: No such file or directory"));
	free(f);
}
END_TEST

static bool ssh_has(const SessionFacts *f, pid_t pid)
{
	for (size_t i = 0; i < f->n_ssh; i++)
		if (f->ssh[i].pid == pid)
			return true;
	return false;
}

/* Every sshd per-connection process of a login without a terminal is a connection, in both
 * title schemes; the listener, privileged monitors and pre-authentication helpers are not. */
START_TEST(test_sshd_connections_by_title)
{
	static const struct {
		pid_t pid;
		const char *comm, *title;
		bool connection;
	} procs[] = {
		{ 100, "sshd", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups", false },
		/* OpenSSH 9.2: a root tunnel is one process; a user's, a monitor and a child. */
		{ 200, "sshd", "sshd: root", true },
		{ 210, "sshd", "sshd: alice [priv]", false },
		{ 211, "sshd", "sshd: alice", true },
		{ 220, "sshd", "sshd: bob@notty", true },
		{ 230, "sshd", "sshd: carol@pts/3", false },
		{ 231, "sshd", "sshd: carol@pts/3,notty", true },
		{ 240, "sshd", "sshd: unknown [priv]", false },
		{ 241, "sshd", "sshd: unknown [net]", false },
		{ 242, "sshd", "sshd: dave [net]", false },
		{ 243, "sshd", "sshd: [accepted]", false },
		{ 244, "sshd", "sshd: erin [preauth]", false },
		/* OpenSSH 9.8 and later: sshd-session. */
		{ 300, "sshd", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups", false },
		{ 310, "sshd-session", "sshd-session: alice [priv]", false },
		{ 311, "sshd-session", "sshd-session: alice", true },
		{ 320, "sshd-session", "sshd-session: root", true },
		{ 330, "sshd-session", "sshd-session: bob@notty", true },
		{ 340, "sshd-session", "sshd-session: carol@pts/0", false },
		{ 350, "sshd-session", "sshd-session: unknown [net]", false },
		/* Not sshd titles at all. */
		{ 400, "sshd", "/usr/sbin/sshd\n-D", false },
		{ 410, "sshd", "sshd: ", false },
		{ 420, "sshd", "sshd: @notty", false },
	};
	char err[256] = "";
	fixture_mkdir("proc");
	for (size_t i = 0; i < ELEMENTSOF(procs); i++)
		fake_proc(procs[i].pid, procs[i].comm, 1, procs[i].title);
	SessionFacts *f = malloc(sizeof(*f));
	ck_assert_int_eq(probe_fixture(f, 0, err, sizeof(err)), 0);
	for (size_t i = 0; i < ELEMENTSOF(procs); i++)
		ck_assert_msg(ssh_has(f, procs[i].pid) == procs[i].connection, "%s",
		              procs[i].title);
	free(f);
}
END_TEST

/* VS Code servers by their main script: Remote-SSH's server-main.js, code-server's entry.js
 * (whose second entry.js under it is the same server). */
START_TEST(test_vscode_servers_found_by_command_line)
{
	char err[256] = "";
	fixture_mkdir("proc");
	fake_proc(1, "systemd", 0, "/sbin/init\n");
	fake_proc(1000, "node", 1,
	          "/home/u/.vscode-server/cli/servers/Stable-abc/server/node\n"
	          "/home/u/.vscode-server/cli/servers/Stable-abc/server/out/server-main.js\n"
	          "--start-server\n--enable-remote-auto-shutdown\n");
	fake_proc(1001, "node", 1000,
	          "/home/u/.vscode-server/cli/servers/Stable-abc/server/node\n"
	          "/home/u/.vscode-server/cli/servers/Stable-abc/server/out/bootstrap-fork\n"
	          "--type=extensionHost\n");
	fake_proc(1100, "node", 1,
	          "/usr/bin/node\n/usr/lib/node_modules/code-server/out/node/entry.js\n");
	fake_proc(1101, "node", 1100,
	          "/usr/bin/node\n/usr/lib/node_modules/code-server/out/node/entry.js\n");
	fake_proc(1200, "node", 1, "node\napp.js\nserver-main.js\n");
	SessionFacts *f = malloc(sizeof(*f));
	ck_assert_int_eq(probe_fixture(f, 0, err, sizeof(err)), 0);
	ck_assert_uint_eq(f->n_vscode, 2);
	ck_assert_int_eq(f->vscode[0].pid, 1000);
	ck_assert_int_eq(f->vscode[1].pid, 1100);
	free(f);
}
END_TEST

static const JupyterKernelFacts *kernel_of(const SessionFacts *f, pid_t pid)
{
	for (size_t i = 0; i < f->n_kernels; i++)
		if (f->kernels[i].pid == pid)
			return &f->kernels[i];
	return NULL;
}

START_TEST(test_kernels_found_by_command_line)
{
	char proc[512], dev[512], err[256] = "";
	snprintf(proc, sizeof(proc), "%s/proc", test_tmpdir);
	snprintf(dev, sizeof(dev), "%s/dev", test_tmpdir);
	ck_assert_int_eq(mkdir(proc, 0755), 0);
	ck_assert_int_eq(mkdir(dev, 0755), 0);
	fake_proc(1, "systemd", 0, "/sbin/init\n");
	/* jupyter lab execs jupyter-lab, a python script: comm is its name. */
	fake_proc(700, "jupyter-lab", 1,
	          "/usr/bin/python3\n/usr/local/bin/jupyter-lab\n--no-browser\n");
	fake_proc(812, "python3", 700,
	          "/usr/bin/python3\n-m\nipykernel_launcher\n-f\n/run/kernel-1.json\n");
	/* VS Code: a kernel under its node server, with --f=. */
	fake_proc(880, "node", 1, "/home/u/.vscode-server/node\nserver-main.js\n");
	fake_proc(900, "python", 880,
	          "/opt/venv/bin/python\n-m\nipykernel_launcher\n--ip=127.0.0.1\n"
	          "--f=/home/u/kernel-v2-1.json\n");
	/* python3 -m jupyterlab keeps the interpreter's name; an older kernel runs by path. */
	fake_proc(960, "python3", 1, "python3\n-m\njupyterlab\n");
	fake_proc(961, "python3", 960,
	          "python3\n/usr/lib/python3/dist-packages/ipykernel_launcher.py\n-f\nk.json\n");
	/* Not kernels: the name as an argument, code given inline. */
	fake_proc(970, "python3", 1, "python3\nlint.py\nipykernel_launcher.py\n");
	fake_proc(971, "python3", 1, "python3\n-c\nimport ipykernel_launcher\n");
	fake_proc(972, "grep", 1, "grep\nipykernel_launcher\nnotes.txt\n");

	ProcTable t;
	ck_assert_int_eq(proc_table_scan(proc, &t, err, sizeof(err)), 0);
	Config c = cfg();
	ProcTable prev = { 0 };
	SessionsInput in = { .procs = &t,
		             .prev = &prev,
		             .proc_root = proc,
		             .dev_root = dev,
		             .realtime = 0,
		             .ticks_per_sec = 100,
		             .config = &c };
	SessionFacts *f = malloc(sizeof(*f));
	ck_assert_int_eq(sessions_probe(&in, f, err, sizeof(err)), 0);
	ck_assert_uint_eq(f->n_kernels, 3);

	const JupyterKernelFacts *k = kernel_of(f, 812);
	ck_assert_ptr_nonnull(k);
	ck_assert_int_eq(k->server_pid, 700);
	ck_assert_str_eq(k->server, "jupyter-lab");
	k = kernel_of(f, 900);
	ck_assert_ptr_nonnull(k);
	ck_assert_int_eq(k->server_pid, 0); /* VS Code's node is no Jupyter server */
	k = kernel_of(f, 961);
	ck_assert_ptr_nonnull(k);
	ck_assert_int_eq(k->server_pid, 960);
	ck_assert_str_eq(k->server, "jupyterlab");
	ck_assert_ptr_null(kernel_of(f, 970));
	ck_assert_ptr_null(kernel_of(f, 971));

	free(f);
	proc_table_done(&t);
	config_free(&c);
}
END_TEST

START_TEST(test_pts_from_tty_nr)
{
	ck_assert_int_eq(pts_from_tty_nr(0), -1);
	ck_assert_int_eq(pts_from_tty_nr(34816), 0);                        /* 136:0 */
	ck_assert_int_eq(pts_from_tty_nr(34817), 1);                        /* 136:1 */
	ck_assert_int_eq(pts_from_tty_nr((137 << 8) | 5), 261);             /* 137:5 */
	ck_assert_int_eq(pts_from_tty_nr((136 << 8) | (1 << 20) | 2), 258); /* minor 258 */
	ck_assert_int_eq(pts_from_tty_nr(1025), -1);                        /* tty1 (4:1) */
	ck_assert_int_eq(pts_from_tty_nr((4 << 8) | 64), -1);               /* ttyS0 */
	ck_assert_int_eq(pts_from_tty_nr(-1), -1);
}
END_TEST

START_TEST(test_tmux_socket_and_names)
{
	char key[256], name[64];
	char *plain[] = { "tmux", "new", "-d", "-s", "exp3", NULL };
	char *label[] = { "tmux", "-L", "work", "attach", NULL };
	char *label_glued[] = { "tmux", "-2Lwork", "attach", NULL };
	char *path[] = { "tmux", "-f", "/dev/null", "-S", "/tmp/x.sock", "attach", NULL };
	char *after_cmd[] = { "tmux", "new", "-S", "nope", NULL };
	tmux_socket_key(plain, 1000, key, sizeof(key));
	ck_assert_str_eq(key, "/tmp/tmux-1000/default");
	tmux_socket_key(label, 0, key, sizeof(key));
	ck_assert_str_eq(key, "/tmp/tmux-0/work");
	tmux_socket_key(label_glued, 0, key, sizeof(key));
	ck_assert_str_eq(key, "/tmp/tmux-0/work");
	tmux_socket_key(path, 0, key, sizeof(key));
	ck_assert_str_eq(key, "/tmp/x.sock");
	tmux_socket_key(after_cmd, 5, key, sizeof(key)); /* options end at the command */
	ck_assert_str_eq(key, "/tmp/tmux-5/default");

	multiplexer_session_name(SESSION_OWNER_TMUX, plain, name, sizeof(name));
	ck_assert_str_eq(name, "exp3");
	multiplexer_session_name(SESSION_OWNER_TMUX, label, name, sizeof(name));
	ck_assert_str_eq(name, "");
	char *screen[] = { "SCREEN", "-dmS", "train", "python3", "t.py", NULL };
	multiplexer_session_name(SESSION_OWNER_SCREEN, screen, name, sizeof(name));
	ck_assert_str_eq(name, "train");
	char *screen_bare[] = { "SCREEN", NULL };
	multiplexer_session_name(SESSION_OWNER_SCREEN, screen_bare, name, sizeof(name));
	ck_assert_str_eq(name, "");
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("core-sessions");
	TCase *tc = tcase_create("core-sessions");
	tcase_add_loop_test(tc, test_terminal_rule, 0, ELEMENTSOF(term_cases));
	tcase_add_test(tc, test_terminal_detail);
	tcase_add_test(tc, test_dropped_terminals);
	tcase_add_test(tc, test_invalid_sessions_say_nothing);
	tcase_add_test(tc, test_ssh_without_terminal);
	tcase_add_test(tc, test_vscode_server);
	tcase_add_test(tc, test_ssm_rules);
	tcase_add_loop_test(tc, test_multiplexer_rule, 0, ELEMENTSOF(mux_cases));
	tcase_add_test(tc, test_multiplexer_zero_idle_and_screen);
	tcase_add_loop_test(tc, test_jupyter_rule, 0, ELEMENTSOF(kernel_cases));
	tcase_add_test(tc, test_jupyter_dropped_kernels);
	tcase_add_test(tc, test_pts_from_tty_nr);
	tcase_add_test(tc, test_tmux_socket_and_names);
	suite_add_tcase(s, tc);

	TCase *probe = tcase_create("sessions-probe");
	tcase_add_checked_fixture(probe, test_tmpdir_setup, test_tmpdir_teardown);
	tcase_add_test(probe, test_kernels_found_by_command_line);
	tcase_add_test(probe, test_terminals_where_their_processes_see_them);
	tcase_add_test(probe, test_terminal_not_found_is_an_error);
	tcase_add_test(probe, test_terminal_held_open_wins);
	tcase_add_test(probe, test_sshd_connections_by_title);
	tcase_add_test(probe, test_vscode_servers_found_by_command_line);
	suite_add_tcase(s, probe);
	return s;
}
