/* The process table: the stat parser against hostile names and broken lines, the scan against
 * fixture trees (tests/data/proc-*) and the real /proc, the child index, per-process CPU. */
#include "check-main.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "proc-table.h"

static const char *data_dir(void)
{
	const char *d = getenv("TESTS_DATA");
	return d ? d : "tests/data";
}

#define TAIL " 4194560 100 0 0 0 300 20 0 0 20 0 1 0 777 1000 200 0 0\n"

typedef struct ParseCase {
	const char *text;
	int r;
	const char *comm;
	char state;
	pid_t ppid;
	int tty_nr;
} ParseCase;

static const ParseCase parse_cases[] = {
	{ "4121 (python3) R 4000 4121 4000 34817 4121" TAIL, 0, "python3", 'R', 4000, 34817 },
	{ "5 (a) b (c) S 1 5 5 0 -1" TAIL, 0, "a) b (c", 'S', 1, 0 },
	{ "6 (x\ny) S 1 (z) D 2 6 6 0 -1" TAIL, 0, "x\ny) S 1 (z", 'D', 2, 0 },
	{ "7 () S 1 7 7 0 -1" TAIL, 0, "", 'S', 1, 0 },
	{ "8 ()) Z 1 8 8 0 -1" TAIL, 0, ")", 'Z', 1, 0 },
	{ "9 (((( I 2 0 0 0 -1" TAIL, -EBADMSG, NULL, 0, 0, 0 }, /* no ')' at all */
	{ "10 (ssm-session-worker) S 1 10 10 0 -1" TAIL, 0, "ssm-session-wor", 'S', 1, 0 },
	{ "", -EBADMSG, NULL, 0, 0, 0 },
	{ "(init) S 0 1 1 0 -1" TAIL, -EBADMSG, NULL, 0, 0, 0 },
	{ "0 (swapper) S 0 0 0 0 -1" TAIL, -EBADMSG, NULL, 0, 0, 0 },
	{ "-3 (neg) S 1 1 1 0 -1" TAIL, -EBADMSG, NULL, 0, 0, 0 },
	{ "11 (short) S 1 11 11 0 -1 4194560 100 0\n", -EBADMSG, NULL, 0, 0, 0 },
	{ "12 (nostate)", -EBADMSG, NULL, 0, 0, 0 },
	{ "13 (sp)  S 1 13 13 0 -1" TAIL, -EBADMSG, NULL, 0, 0, 0 },
	{ "14 (x) S 1x 14 14 0 -1" TAIL, -EBADMSG, NULL, 0, 0, 0 },
	{ "15 (x) S -1 15 15 0 -1" TAIL, -EBADMSG, NULL, 0, 0, 0 },
	{ "16 (x) S 99999999999999999999999 1 1 0 -1" TAIL, -EBADMSG, NULL, 0, 0, 0 },
	{ "17 x) S 1 17 17 0 -1" TAIL, -EBADMSG, NULL, 0, 0, 0 },
	{ "99999999999 (big) S 1 1 1 0 -1" TAIL, -EBADMSG, NULL, 0, 0, 0 },
};

START_TEST(test_parse)
{
	const ParseCase *t = &parse_cases[_i];
	ProcEntry e = { .uid = 4242 };
	int r = proc_stat_parse(t->text, &e);
	ck_assert_msg(r == t->r, "'%s': got %d", t->text, r);
	if (r < 0) {
		ck_assert_uint_eq(e.uid, 4242); /* untouched on failure */
		return;
	}
	ck_assert_str_eq(e.comm, t->comm);
	ck_assert_int_eq(e.state, t->state);
	ck_assert_int_eq(e.ppid, t->ppid);
	ck_assert_int_eq(e.tty_nr, t->tty_nr);
	ck_assert_uint_eq(e.cpu_ticks, 320);
	ck_assert_uint_eq(e.starttime, 777);
	ck_assert_uint_eq(e.uid, 4242); /* the parser does not know owners */
}
END_TEST

START_TEST(test_parse_children_ticks_and_kernel_threads)
{
	/* A loop of short commands: its own 15 ticks and 3200 of children it reaped. */
	ProcEntry e;
	ck_assert_int_eq(proc_stat_parse("21 (sh) S 1 21 21 0 -1 4194560 0 0 0 0 10 5 3000 200 20 "
	                                 "0 1 0 777 1000 200 0 0\n",
	                                 &e),
	                 0);
	ck_assert_uint_eq(e.cpu_ticks, 3215);
	ck_assert(!e.kthread);
	ck_assert_int_eq(
	        proc_stat_parse("22 (kworker/0:1) I 2 0 0 0 -1 69238880 0 0 0 0 0 0 0 0 20 0 "
	                        "1 0 9 0 0 0 0\n",
	                        &e),
	        0);
	ck_assert(e.kthread);
	/* The four together must not overflow. */
	ck_assert_int_eq(proc_stat_parse("23 (x) S 1 23 23 0 -1 0 0 0 0 0 1 1 "
	                                 "18446744073709551615 1 20 0 1 0 9 0 0 0 0\n",
	                                 &e),
	                 -EBADMSG);
}
END_TEST

START_TEST(test_parse_negative_tpgid_and_pgrp)
{
	ProcEntry e;
	ck_assert_int_eq(proc_stat_parse("20 (bash) S 19 20 20 34816 -1" TAIL, &e), 0);
	ck_assert_int_eq(e.tpgid, -1);
	ck_assert_int_eq(e.pgrp, 20);
	ck_assert_int_eq(e.session, 20);
}
END_TEST

static ProcTable scan_ok(const char *root)
{
	ProcTable t;
	char err[256] = "";
	int r = proc_table_scan(root, &t, err, sizeof(err));
	ck_assert_msg(r == 0, "%s: %d %s", root, r, err);
	return t;
}

START_TEST(test_scan_hostile_fixture)
{
	char root[512];
	snprintf(root, sizeof(root), "%s/proc-hostile", data_dir());
	ProcTable t = scan_ok(root);

	/* 400 has no stat (exited during the scan): skipped, not an error. */
	ck_assert_uint_eq(t.n, 8);
	for (size_t i = 1; i < t.n; i++)
		ck_assert_int_lt(t.entries[i - 1].pid, t.entries[i].pid);
	ck_assert_ptr_null(proc_table_find(&t, 400));
	ck_assert_ptr_null(proc_table_find(&t, 7));

	const ProcEntry *sshd = proc_table_find(&t, 100);
	ck_assert_ptr_nonnull(sshd);
	ck_assert_str_eq(sshd->comm, "sshd");
	ck_assert_str_eq(proc_table_find(&t, 200)->comm, "a) b (c");
	ck_assert_str_eq(proc_table_find(&t, 201)->comm, "x\ny) S 1 (z");
	ck_assert_int_eq(proc_table_find(&t, 201)->ppid, 200);
	ck_assert_str_eq(proc_table_find(&t, 202)->comm, "");
	ck_assert_str_eq(proc_table_find(&t, 203)->comm, ")");
	ck_assert_str_eq(proc_table_find(&t, 300)->comm, "a-name-longer-t");
	ck_assert_int_eq(proc_table_find(&t, 200)->tty_nr, 34816);

	ck_assert_uint_eq(sshd->n_children, 1);
	ck_assert_int_eq(t.entries[t.child_index[sshd->first_child]].pid, 200);
	size_t out[16];
	size_t n = proc_table_descendants(&t, sshd, out, ELEMENTSOF(out));
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(t.entries[out[0]].pid, 200);
	ck_assert_int_eq(t.entries[out[3]].pid, 203); /* grandchild after the children */
	/* A short buffer still gets the count. */
	ck_assert_uint_eq(proc_table_descendants(&t, sshd, out, 2), 4);

	ck_assert(proc_table_is_descendant(&t, proc_table_find(&t, 203), sshd));
	ck_assert(!proc_table_is_descendant(&t, proc_table_find(&t, 300), sshd));
	ck_assert(!proc_table_is_descendant(&t, sshd, sshd));
	ck_assert_ptr_eq(proc_table_parent(&t, proc_table_find(&t, 203)), proc_table_find(&t, 201));
	ck_assert_ptr_null(proc_table_parent(&t, proc_table_find(&t, 1)));
	proc_table_done(&t);
}
END_TEST

START_TEST(test_scan_errors_name_the_path)
{
	ProcTable t;
	char root[512], err[256] = "";
	snprintf(root, sizeof(root), "%s/proc-badstat", data_dir());
	ck_assert_int_eq(proc_table_scan(root, &t, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "/77/stat"));
	ck_assert_ptr_nonnull(strstr(err, "cannot parse"));

	ck_assert_int_eq(proc_table_scan("/nonexistent/proc", &t, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/proc"));
	ck_assert_ptr_nonnull(strstr(err, "No such file"));
}
END_TEST

static void write_file(const char *dir, const char *name, const char *text, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "we");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	fclose(f);
}

static void write_proc(const char *root, pid_t pid, pid_t ppid, uid_t uid)
{
	char dir[512], line[256];
	snprintf(dir, sizeof(dir), "%s/%d", root, (int)pid);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(line, sizeof(line), "%d (p%d) S %d %d %d 0 -1" TAIL, (int)pid, (int)pid, (int)ppid,
	         (int)pid, (int)pid);
	write_file(dir, "stat", line, strlen(line));
	ck_assert_int_eq(chown(dir, uid, 0), 0);
}

static void rm_tree(const char *root)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_scan_owner_and_cycles)
{
	char root[] = "/tmp/test-proc-table.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(root));
	write_proc(root, 10, 11, 1234); /* 10 and 11 are each other's parent */
	write_proc(root, 11, 10, 0);
	write_proc(root, 12, 11, 5678);
	write_proc(root, 13, 13, 0); /* its own parent */

	ProcTable t = scan_ok(root);
	ck_assert_uint_eq(t.n, 4);
	if (geteuid() == 0) {
		/* The owner is read when asked, not by the scan, and then kept for the check. */
		char dir[600];
		snprintf(dir, sizeof(dir), "%s/12", root);
		ck_assert_int_eq(chown(dir, 4321, 0), 0);
		ck_assert_uint_eq(proc_table_uid(&t, proc_table_find(&t, 10)), 1234);
		ck_assert_uint_eq(proc_table_uid(&t, proc_table_find(&t, 12)), 4321);
		ck_assert_int_eq(chown(dir, 5678, 0), 0);
		ck_assert_uint_eq(proc_table_uid(&t, proc_table_find(&t, 12)), 4321);
	}
	/* Gone before anyone asked: -ESRCH, and no owner. */
	char gone[600];
	uid_t uid;
	snprintf(gone, sizeof(gone), "rm -rf '%s/13'", root);
	ck_assert_int_eq(system(gone), 0);
	ck_assert_int_eq(proc_table_owner(&t, proc_table_find(&t, 13), &uid), -ESRCH);
	ck_assert_uint_eq(uid, (uid_t)-1);
	pid_t first = 0;
	ck_assert_uint_eq(proc_table_owners_failed(&t, &first), 0); /* gone is no failure */
	/* Still there but unreadable (here a link to itself: ELOOP): a failure, counted for the
	 * sampler's probe error, never an owner made up. */
	snprintf(gone, sizeof(gone), "rm -rf '%s/11' && ln -s 11 '%s/11'", root, root);
	ck_assert_int_eq(system(gone), 0);
	ck_assert_int_eq(proc_table_owner(&t, proc_table_find(&t, 11), &uid), -EIO);
	ck_assert_uint_eq(proc_table_owners_failed(&t, &first), 1);
	ck_assert_int_eq(first, 11);
	snprintf(gone, sizeof(gone), "rm '%s/11'", root);
	ck_assert_int_eq(system(gone), 0);
	write_proc(root, 11, 10, 0);
	size_t out[8];
	ck_assert_uint_eq(proc_table_descendants(&t, proc_table_find(&t, 10), out, 8), 2);
	ck_assert_uint_eq(proc_table_descendants(&t, proc_table_find(&t, 13), out, 8), 0);
	ck_assert(!proc_table_is_descendant(&t, proc_table_find(&t, 12), proc_table_find(&t, 13)));
	ck_assert(proc_table_is_descendant(&t, proc_table_find(&t, 12), proc_table_find(&t, 10)));
	proc_table_done(&t);

	/* cmdline without the final NUL (a rewritten argv), and an empty one (kernel thread). */
	char dir[600], buf[64], joined[64];
	size_t argc;
	snprintf(dir, sizeof(dir), "%s/10", root);
	write_file(dir, "cmdline", "tmux\0new\0-s\0exp\n3", 18);
	ck_assert_int_eq(proc_cmdline_read(root, 10, buf, sizeof(buf), &argc), 0);
	ck_assert_uint_eq(argc, 4);
	ck_assert_str_eq(buf, "tmux");
	proc_cmdline_join(buf, argc, joined, sizeof(joined));
	ck_assert_str_eq(joined, "tmux new -s exp 3");
	snprintf(dir, sizeof(dir), "%s/11", root);
	write_file(dir, "cmdline", "", 0);
	ck_assert_int_eq(proc_cmdline_read(root, 11, buf, sizeof(buf), &argc), 0);
	ck_assert_uint_eq(argc, 0);
	proc_cmdline_join(buf, argc, joined, sizeof(joined));
	ck_assert_str_eq(joined, "");
	/* A short buffer cuts but stays terminated. */
	snprintf(dir, sizeof(dir), "%s/12", root);
	write_file(dir, "cmdline", "python3\0train.py\0", 17);
	ck_assert_int_eq(proc_cmdline_read(root, 12, buf, 11, &argc), 0);
	ck_assert_uint_eq(argc, 2);
	ck_assert_str_eq(buf, "python3");
	ck_assert_str_eq(buf + 8, "t");
	ck_assert_int_eq(proc_cmdline_read(root, 99, buf, sizeof(buf), &argc), -ESRCH);

	/* exe: " (deleted)" is dropped; a missing link of a live process is -ENOENT. */
	snprintf(dir, sizeof(dir), "%s/10/exe", root);
	ck_assert_int_eq(symlink("/usr/bin/ssm-session-worker (deleted)", dir), 0);
	ck_assert_int_eq(proc_exe_read(root, 10, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/usr/bin/ssm-session-worker");
	ck_assert_str_eq(path_basename(buf), "ssm-session-worker");
	ck_assert_int_eq(proc_exe_read(root, 11, buf, sizeof(buf)), -ENOENT);
	ck_assert_int_eq(proc_exe_read(root, 99, buf, sizeof(buf)), -ESRCH);
	rm_tree(root);
}
END_TEST

START_TEST(test_scan_real_proc_finds_self)
{
	ProcTable t = scan_ok("/proc");
	const ProcEntry *self = proc_table_find(&t, getpid());
	ck_assert_ptr_nonnull(self);
	ck_assert_int_eq(self->ppid, getppid());
	ck_assert_uint_eq(proc_table_uid(&t, self), geteuid());
	ck_assert_int_eq(self->state, 'R');
	ck_assert_ptr_nonnull(proc_table_find(&t, getppid()));
	ck_assert(proc_table_is_descendant(&t, self, proc_table_find(&t, getppid())));

	char buf[4096], exe[4096];
	size_t argc;
	ck_assert_int_eq(proc_cmdline_read("/proc", getpid(), buf, sizeof(buf), &argc), 0);
	ck_assert_uint_ge(argc, 1);
	ck_assert_ptr_nonnull(strstr(buf, "test-proc-table"));
	ck_assert_int_eq(proc_exe_read("/proc", getpid(), exe, sizeof(exe)), 0);
	ck_assert_str_eq(path_basename(exe), "test-proc-table");
	proc_table_done(&t);
}
END_TEST

START_TEST(test_cpu_percent)
{
	ProcEntry before[] = {
		{ .pid = 5, .cpu_ticks = 1000, .starttime = 50 },
		{ .pid = 6, .cpu_ticks = 500, .starttime = 60 },
	};
	ProcEntry after[] = {
		{ .pid = 5, .cpu_ticks = 1000 + 6000, .starttime = 50 }, /* 60 s of 60 s */
		{ .pid = 6, .cpu_ticks = 300, .starttime = 9000 }, /* pid reused: all its ticks */
		{ .pid = 7, .cpu_ticks = 600, .starttime = 9100 }, /* new */
	};
	ProcTable prev = { .entries = before, .n = 2, .taken = 100 * USEC_PER_SEC };
	ProcTable now = { .entries = after, .n = 3, .taken = 160 * USEC_PER_SEC };
	ck_assert_double_eq_tol(proc_cpu_percent(&prev, &now, &after[0], 100), 100.0, 1e-9);
	ck_assert_double_eq_tol(proc_cpu_percent(&prev, &now, &after[1], 100), 5.0, 1e-9);
	ck_assert_double_eq_tol(proc_cpu_percent(&prev, &now, &after[2], 100), 10.0, 1e-9);
	/* No previous table or no time passed: nothing to average over. */
	ProcTable empty = { .taken = 100 * USEC_PER_SEC };
	ck_assert_double_eq(proc_cpu_percent(&empty, &now, &after[0], 100), 0.0);
	ck_assert_double_eq(proc_cpu_percent(NULL, &now, &after[0], 100), 0.0);
	now.taken = prev.taken;
	ck_assert_double_eq(proc_cpu_percent(&prev, &now, &after[0], 100), 0.0);
	/* A counter that went backwards (a fixture, or a bug) is 0, not a huge number. */
	ProcEntry back = { .pid = 5, .cpu_ticks = 10, .starttime = 50 };
	now.taken = 160 * USEC_PER_SEC;
	ck_assert_double_eq(proc_cpu_percent(&prev, &now, &back, 100), 0.0);
}
END_TEST

/* The previous check's table hands each process's executable class on while pid, start time
 * and comm stay, and reports CPU ticks that went back. */
START_TEST(test_carry)
{
	ProcEntry before[] = {
		{ .pid = 5, .comm = "python3", .cpu_ticks = 100, .starttime = 50, .exe_class = 6 },
		{ .pid = 6, .comm = "bash", .cpu_ticks = 100, .starttime = 60, .exe_class = 5 },
		{ .pid = 7, .comm = "sleep", .cpu_ticks = 100, .starttime = 70, .exe_class = 3 },
		{ .pid = 9, .comm = "gone", .cpu_ticks = 100, .starttime = 90, .exe_class = 3 },
	};
	ProcEntry after[] = {
		{ .pid = 5,
		  .comm = "pt_main_thread",
		  .cpu_ticks = 200,
		  .starttime = 50 }, /* renamed */
		{ .pid = 6, .comm = "bash", .cpu_ticks = 100, .starttime = 60 },
		{ .pid = 7, .comm = "sleep", .cpu_ticks = 100, .starttime = 7000 }, /* pid reused */
		{ .pid = 8, .comm = "new", .cpu_ticks = 1, .starttime = 80 },
	};
	ProcTable prev = { .entries = before, .n = 4, .proc_root = "/proc" };
	ProcTable now = { .entries = after, .n = 4, .proc_root = "/proc" };
	char err[256] = "";
	ck_assert_int_eq(proc_table_carry(&now, &prev, err, sizeof(err)), 0);
	ck_assert_uint_eq(after[0].exe_class, EXE_CLASS_UNREAD); /* comm changed: judged again */
	ck_assert_uint_eq(after[1].exe_class, 5);
	ck_assert_uint_eq(after[2].exe_class, EXE_CLASS_UNREAD);
	ck_assert_uint_eq(after[3].exe_class, EXE_CLASS_UNREAD);
	ck_assert_int_eq(proc_table_carry(&now, NULL, err, sizeof(err)), 0);

	after[1].cpu_ticks = 99;
	ck_assert_int_eq(proc_table_carry(&now, &prev, err, sizeof(err)), -ERANGE);
	ck_assert_str_eq(err, "/proc/6/stat: CPU time went back from 100 to 99 ticks");
	/* A reused pid's fewer ticks are another process's. */
	after[1].cpu_ticks = 100;
	after[2].cpu_ticks = 1;
	ck_assert_int_eq(proc_table_carry(&now, &prev, err, sizeof(err)), 0);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("proc-table");
	TCase *tc = tcase_create("proc-table");
	tcase_add_loop_test(tc, test_parse, 0, ELEMENTSOF(parse_cases));
	tcase_add_test(tc, test_parse_children_ticks_and_kernel_threads);
	tcase_add_test(tc, test_parse_negative_tpgid_and_pgrp);
	tcase_add_test(tc, test_carry);
	tcase_add_test(tc, test_scan_hostile_fixture);
	tcase_add_test(tc, test_scan_errors_name_the_path);
	tcase_add_test(tc, test_scan_owner_and_cycles);
	tcase_add_test(tc, test_scan_real_proc_finds_self);
	tcase_add_test(tc, test_cpu_percent);
	suite_add_tcase(s, tc);
	return s;
}
