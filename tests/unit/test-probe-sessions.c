/* The session probe (src/probes/probe-sessions*.c) on fixture trees: a proc root of stat,
 * cmdline, exe and fd links and a dev root of pts nodes with chosen times, checked against the
 * SessionFacts it reports; and its pure helpers. */
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
	return c;
}

/* One fake /proc/PID with a stat line (state, session, controlling terminal, CPU ticks) and a
 * command line ('\n' for NUL). Written again, it replaces the stat line and the command line. */
static void fake_proc_full(pid_t pid, const char *comm, char state, pid_t ppid, pid_t session,
                           int tty_nr, unsigned utime, const char *cmdline)
{
	char rel[64], text[512], argv[512];
	snprintf(rel, sizeof(rel), "proc/%d", (int)pid);
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/%s", test_tmpdir, rel);
	ck_assert(mkdir(dir, 0755) == 0 || errno == EEXIST);
	int n = snprintf(text, sizeof(text),
	                 "%d (%s) %c %d %d %d %d -1 4194560 100 0 0 0 %u 0 0 0 20 0 1 0 500 1000 "
	                 "200 0 0\n",
	                 (int)pid, comm, state, (int)ppid, (int)pid, (int)session, tty_nr, utime);
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

static void fake_proc_on(pid_t pid, const char *comm, pid_t ppid, pid_t session, int tty_nr,
                         const char *cmdline)
{
	fake_proc_full(pid, comm, 'S', ppid, session, tty_nr, 0, cmdline);
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

/* A pts node of the fixture dev root, DEV/pts/N, as the kernel has it (a character device
 * 136:N), with its last input (atime) and output (mtime) and its owner; and fd 0 of pid
 * linked to it, as a shell holds its terminal. False when nodes cannot be made here. */
static bool fake_pts_node(pid_t pid, unsigned n, time_t input, time_t output, uid_t owner)
{
	char rel[128], path[512], link[512];
	fixture_mkdir("dev/pts");
	snprintf(path, sizeof(path), "%s/dev/pts/%u", test_tmpdir, n);
	if (access(path, F_OK) != 0 && mknod(path, S_IFCHR | 0620, makedev(136, n)) < 0)
		return false;
	struct timespec times[2] = { { .tv_sec = input }, { .tv_sec = output } };
	ck_assert_int_eq(utimensat(AT_FDCWD, path, times, 0), 0);
	ck_assert_int_eq(chown(path, owner, 5), 0);
	snprintf(rel, sizeof(rel), "proc/%d/fd", (int)pid);
	fixture_mkdir(rel);
	snprintf(link, sizeof(link), "%s/%s/0", test_tmpdir, rel);
	ck_assert_int_eq(symlink(path, link), 0);
	return true;
}

static const TerminalFacts *terminal_on(const SessionFacts *f, unsigned pts)
{
	for (size_t i = 0; i < f->n_terminals; i++)
		if (f->terminals[i].pts == pts)
			return &f->terminals[i];
	return NULL;
}

/* One machine's sessions at once: an SSH login on pts/1 running a job and attached to tmux,
 * whose pane is pts/2; an SSM session (known by its executable, its name cut to 15
 * characters) with a shell on pts/3; an SSH connection without a terminal that moved 6 KB in
 * the last minute; a zombie left on pts/4. Two scans a second apart give the job's CPU. */
START_TEST(test_session_tree)
{
	const time_t now = 100000;
	char proc[512], dev[512], err[256] = "", exe[600];
	snprintf(proc, sizeof(proc), "%s/proc", test_tmpdir);
	snprintf(dev, sizeof(dev), "%s/dev", test_tmpdir);
	fixture_mkdir("proc");
	fake_proc(1, "systemd", 0, "/sbin/init\n");
	fake_proc(100, "sshd", 1, "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups\n");
	fake_proc(200, "sshd-session", 100, "sshd-session: alice@pts/1\n");
	fake_proc_on(201, "bash", 200, 201, PTS(1), "-bash\n");
	fake_proc_on(202, "python3", 201, 201, PTS(1), "python3\nprep.py\n");
	fake_proc_on(203, "tmux: client", 201, 201, PTS(1), "tmux\nattach\n");
	fake_proc(300, "tmux: server", 1, "tmux\nnew\n-d\n-s\nexp\n");
	fake_proc_on(301, "bash", 300, 301, PTS(2), "-bash\n");
	fake_proc(400, "ssm-session-wor", 1, "ssm-session-wor\n");
	snprintf(exe, sizeof(exe), "%s/400/exe", proc);
	ck_assert_int_eq(symlink("/usr/bin/ssm-session-worker", exe), 0);
	fake_proc_on(401, "sh", 400, 401, PTS(3), "sh\n");
	fake_proc(500, "sshd-session", 100, "sshd-session: bob@notty\n");
	test_write_file("proc/500/io", "rchar: 4000\nwchar: 12000\nsyscr: 9\n", 35);
	fake_proc_full(600, "bash", 'Z', 1, 600, PTS(4), 0, "");
	if (!fake_pts_node(201, 1, now - 30, now - 2 * 3600, 1000)) {
		fprintf(stderr, "cannot make device nodes here (%s): skipped\n", strerror(errno));
		return;
	}
	ck_assert(fake_pts_node(301, 2, now - 3 * 3600, now - 600, 0));
	ck_assert(fake_pts_node(401, 3, now - 3 * 3600, now - 3 * 3600, 0));

	ProcTable prev, t;
	ck_assert_int_eq(proc_table_scan(proc, &prev, err, sizeof(err)), 0);
	fake_proc_full(202, "python3", 'R', 201, 201, PTS(1), 50, "python3\nprep.py\n");
	ck_assert_int_eq(proc_table_scan(proc, &t, err, sizeof(err)), 0);
	prev.taken = 1000 * SEC;
	t.taken = 1001 * SEC;
	ConnectionCounters before = { .c = { { .pid = 500, .starttime = 500, .bytes = 10000 } },
		                      .n = 1,
		                      .taken = 941 * SEC },
	                   after;
	Config c = cfg();
	SessionsInput in = { .procs = &t,
		             .prev = &prev,
		             .proc_root = proc,
		             .dev_root = dev,
		             .realtime = (usec_t)now * SEC,
		             .ticks_per_sec = 100,
		             .config = &c,
		             .prev_counters = &before,
		             .next_counters = &after,
		             .now = 1001 * SEC };
	SessionFacts *f = malloc(sizeof(*f));
	ck_assert_int_eq(sessions_probe(&in, f, err, sizeof(err)), 0);
	ck_assert(f->valid);

	ck_assert_uint_eq(f->n_terminals, 3); /* not the zombie's */
	const TerminalFacts *x = terminal_on(f, 1);
	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(x->owner, SESSION_OWNER_SSHD);
	ck_assert_int_eq(x->owner_pid, 200);
	ck_assert_int_eq(x->leader_pid, 201);
	ck_assert_str_eq(x->leader_comm, "bash");
	ck_assert_uint_eq(x->idle, 30 * SEC); /* input 30 s ago, output 2 h ago */
	ck_assert_uint_eq(x->uid, 1000);
	ck_assert_int_eq(x->busy.pid, 202);
	ck_assert_double_eq_tol(x->busy.percent, 50, 0.01);
	x = terminal_on(f, 2);
	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(x->owner, SESSION_OWNER_TMUX);
	ck_assert_int_eq(x->owner_pid, 300);
	ck_assert_uint_eq(x->idle, 600 * SEC);
	x = terminal_on(f, 3);
	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(x->owner, SESSION_OWNER_SSM);
	ck_assert_uint_eq(x->idle, 3 * HOUR);
	ck_assert_ptr_null(terminal_on(f, 4));

	ck_assert_uint_eq(f->n_multiplexers, 1);
	const MultiplexerFacts *m = &f->multiplexers[0];
	ck_assert_int_eq(m->kind, SESSION_OWNER_TMUX);
	ck_assert_int_eq(m->pid, 300);
	ck_assert_str_eq(m->name, "exp");
	ck_assert_uint_eq(m->n_panes, 1);
	ck_assert_uint_eq(m->pane_pts, 2);
	ck_assert_uint_eq(m->pane_idle, 600 * SEC);
	ck_assert_uint_eq(m->n_clients, 1);
	ck_assert_uint_eq(m->client_pts, 1);
	ck_assert_uint_eq(m->client_idle, 30 * SEC);

	ck_assert_uint_eq(f->n_ssm, 1);
	ck_assert_int_eq(f->ssm[0].pid, 400);
	ck_assert_uint_eq(f->ssm[0].n_terminals, 1);
	ck_assert_uint_eq(f->ssm[0].pts, 3);
	ck_assert_uint_eq(f->ssm[0].idle, 3 * HOUR);

	ck_assert_uint_eq(f->n_ssh, 1); /* alice's has a terminal; the listener is none */
	ck_assert_int_eq(f->ssh[0].pid, 500);
	ck_assert(f->ssh[0].traffic.valid);
	ck_assert_uint_eq(f->ssh[0].traffic.bytes, 6000);
	ck_assert_uint_eq(f->ssh[0].traffic.window, 60 * SEC);
	ck_assert_uint_eq(after.n, 1);
	ck_assert_uint_eq(after.c[0].bytes, 16000);
	ck_assert_uint_eq(after.taken, 1001 * SEC);

	free(f);
	proc_table_done(&t);
	proc_table_done(&prev);
	config_free(&c);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("probe-sessions");
	TCase *tc = tcase_create("helpers");
	tcase_add_test(tc, test_pts_from_tty_nr);
	tcase_add_test(tc, test_tmux_socket_and_names);
	suite_add_tcase(s, tc);

	TCase *probe = tcase_create("fixtures");
	tcase_add_checked_fixture(probe, test_tmpdir_setup, test_tmpdir_teardown);
	tcase_add_test(probe, test_kernels_found_by_command_line);
	tcase_add_test(probe, test_terminals_where_their_processes_see_them);
	tcase_add_test(probe, test_terminal_not_found_is_an_error);
	tcase_add_test(probe, test_terminal_held_open_wins);
	tcase_add_test(probe, test_sshd_connections_by_title);
	tcase_add_test(probe, test_vscode_servers_found_by_command_line);
	tcase_add_test(probe, test_session_tree);
	suite_add_tcase(s, probe);
	return s;
}
