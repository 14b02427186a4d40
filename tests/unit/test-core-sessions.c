/* The session judges (terminal, ssh, ssm, multiplexer, jupyter) driven with hand-made facts; the
 * session probe itself is tested in test-probe-sessions.c. */
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
	suite_add_tcase(s, tc);
	return s;
}
