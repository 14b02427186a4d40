/* The neuron-process and ml-process matchers, table-driven over what /proc shows. */
#include "check-main.h"
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "proc-match.h"

static char *const neuron_patterns[] = { "neuronx-cc",
	                                 "neuron-cc",
	                                 "neuron_parallel_compile",
	                                 "neuron-profile",
	                                 "walrus_driver",
	                                 "hlo2penguin",
	                                 "hlo-opt",
	                                 NULL };
static char *const ml_patterns[] = { "train.py",   "inference.py", "run_*.py", "torchrun",
	                             "accelerate", "deepspeed",    NULL };

typedef struct MatchCase {
	const char *name;
	const char *comm;
	const char *argv[10];
	const char *exe;
	bool neuron;
	bool ml;
} MatchCase;

static const MatchCase cases[] = {
	{ "compiler script run by python3",
	  "python3",
	  { "python3", "/opt/venv/bin/neuronx-cc", "compile", "model.hlo", NULL },
	  "/usr/bin/python3.11",
	  true,
	  false },
	{ "compiler as a shebang script",
	  "neuronx-cc",
	  { "/opt/venv/bin/python3", "/opt/venv/bin/neuronx-cc", "compile", NULL },
	  "/usr/bin/python3.11",
	  true,
	  false },
	{ "python options before the script",
	  "python3",
	  { "python3", "-u", "-W", "ignore", "-X", "dev", "/x/bin/neuronx-cc", NULL },
	  NULL,
	  true,
	  false },
	{ "grep for the compiler's name",
	  "grep",
	  { "grep", "neuronx-cc", "notes.txt", NULL },
	  "/usr/bin/grep",
	  false,
	  false },
	{ "cat of a file named like the compiler",
	  "cat",
	  { "cat", "/tmp/x/neuronx-cc", NULL },
	  "/usr/bin/cat",
	  false,
	  false },
	{ "python -c mentioning the compiler",
	  "python3",
	  { "python3", "-c", "import os", "neuronx-cc", NULL },
	  NULL,
	  false,
	  false },
	{ "compiler child binary",
	  "walrus_driver",
	  { "/opt/starfish/bin/walrus_driver", NULL },
	  "/opt/starfish/bin/walrus_driver",
	  true,
	  false },
	{ "binary deleted under a running process",
	  "hlo-opt",
	  { NULL },
	  "/opt/starfish/bin/hlo-opt (deleted)",
	  true,
	  false },
	{ "comm truncated to 15 characters", "neuron_parallel", { NULL }, NULL, true, false },
	{ "parallel compile wrapping torchrun",
	  "neuron_parallel",
	  { "/bin/bash", "/usr/local/bin/neuron_parallel_compile", "torchrun", "train.py", NULL },
	  "/usr/bin/bash",
	  true,
	  false },
	{ "python3 train.py",
	  "python3",
	  { "python3", "train.py", "--epochs", "3", NULL },
	  "/usr/bin/python3.11",
	  false,
	  true },
	{ "python3 with a path to train.py",
	  "python3",
	  { "/usr/bin/python3", "/home/u/train.py", NULL },
	  NULL,
	  false,
	  true },
	{ "vim train.py", "vim", { "vim", "train.py", NULL }, "/usr/bin/vim.basic", false, false },
	{ "less train.py", "less", { "less", "train.py", NULL }, "/usr/bin/less", false, false },
	{ "python3 editing-helper with train.py as argument",
	  "python3",
	  { "python3", "lint.py", "train.py", NULL },
	  NULL,
	  false,
	  false },
	{ "torchrun launching train.py",
	  "torchrun",
	  { "/usr/bin/python3", "/usr/local/bin/torchrun", "--nproc_per_node=2", "train.py", NULL },
	  "/usr/bin/python3.11",
	  false,
	  true },
	{ "run_*.py glob", "python3", { "python3", "run_clm.py", NULL }, NULL, false, true },
	{ "run_ glob needs .py", "python3", { "python3", "run_clm.sh", NULL }, NULL, false, false },
	{ "python -m module",
	  "python3",
	  { "python3", "-m", "deepspeed", "x", NULL },
	  NULL,
	  false,
	  true },
	{ "env wrapper",
	  "env",
	  { "/usr/bin/env", "A=1", "python3", "train.py", NULL },
	  NULL,
	  false,
	  true },
	{ "bash script.sh", "bash", { "bash", "-x", "run_job.sh", NULL }, NULL, false, false },
	{ "kernel thread", "kworker/0:1", { NULL }, NULL, false, false },
	{ "no argv at all", "python3", { NULL }, NULL, false, false },
	{ "python reading program on stdin",
	  "python3",
	  { "python3", "-", "train.py", NULL },
	  NULL,
	  false,
	  false },
};

START_TEST(test_match)
{
	const MatchCase *t = &cases[_i];
	char *const *argv = t->argv[0] ? (char *const *)t->argv : NULL;
	ck_assert_msg(neuron_process_match(t->comm, argv, t->exe, neuron_patterns) == t->neuron,
	              "%s: neuron", t->name);
	ck_assert_msg(ml_process_match(t->comm, argv, t->exe, ml_patterns) == t->ml, "%s: ml",
	              t->name);
}
END_TEST

START_TEST(test_pattern_named)
{
	char *argv[] = { "python3", "/x/bin/neuronx-cc", NULL };
	ck_assert_str_eq(process_match_pattern("python3", argv, NULL, neuron_patterns),
	                 "neuronx-cc");
	ck_assert_ptr_null(process_match_pattern("python3", argv, NULL, NULL));
	char *const with_path[] = { "/opt/*/neuronx-cc", NULL };
	ck_assert(process_match("python3", argv, NULL, (char *const *)with_path) == false);
	char *argv2[] = { "python3", "/opt/v/neuronx-cc", NULL };
	ck_assert(process_match("python3", argv2, NULL, (char *const *)with_path));

	/* What fnmatch() says, by the short ways too: literal, leading class, escape, '?'. */
	char *const globs[] = { "[tv]rain*", "\\job", "ba?", "exact", NULL };
	ck_assert(process_match("train_gpt", NULL, NULL, globs));
	ck_assert(process_match("vrain", NULL, NULL, globs));
	ck_assert(process_match("\\job", NULL, NULL, globs) == false);
	ck_assert(process_match("job", NULL, NULL, globs));
	ck_assert(process_match("bar", NULL, NULL, globs));
	ck_assert(process_match("exact", NULL, NULL, globs));
	ck_assert(process_match("exactly", NULL, NULL, globs) == false);
	ck_assert(process_match("exac", NULL, NULL, globs) == false);
	ck_assert(process_match("xact", NULL, NULL, globs) == false);
}
END_TEST

START_TEST(test_monitor_tools)
{
	char *mon[] = { "/opt/aws/neuron/bin/neuron-monitor", NULL };
	ck_assert(neuron_monitor_tool("neuron-monitor", mon));
	ck_assert(neuron_monitor_tool("neuron-ls", NULL));
	char *py[] = { "python3", "train.py", NULL };
	ck_assert(!neuron_monitor_tool("python3", py));
}
END_TEST

START_TEST(test_candidates)
{
	/* Who gets a cmdline read: interpreters and names a pattern could stand behind. */
	ck_assert(process_match_candidate("python3", ml_patterns));
	ck_assert(process_match_candidate("torchrun", ml_patterns));
	ck_assert(process_match_candidate("neuron_parallel", neuron_patterns));
	ck_assert(process_match_candidate("run_translation", ml_patterns)); /* run_*.py, cut */
	ck_assert(!process_match_candidate("memfd:sealed-91", ml_patterns));
	ck_assert(!process_match_candidate("memfd:sealed-91", neuron_patterns));
	ck_assert(!process_match_candidate("sshd", ml_patterns));
	ck_assert(!process_match_candidate("bash", ml_patterns));
	char *const sh_patterns[] = { "train.py", "job.sh", NULL };
	ck_assert(process_match_candidate("bash", sh_patterns));
	char *bash_job[] = { "bash", "-x", "job.sh", NULL };
	ck_assert(process_match("bash", bash_job, NULL, sh_patterns));
}
END_TEST

/* --- On a process table: what every signal asks (proc_match) ------------------------------ */

typedef struct FakeProc {
	pid_t pid;
	const char *comm;
	unsigned flags;
	const char *exe; /* link target; NULL: none */
	const char *cmdline;
	size_t cmdline_len;
} FakeProc;

#define CMD(s) s, sizeof(s) - 1

static const FakeProc fake_procs[] = {
	/* PyTorch names its main thread, torchrun's agent is renamed: still python. */
	{ 10, "pt_main_thread", 0, "/usr/bin/python3.11",
	  CMD("python3\0train.py\0--epochs\0"
	      "3\0") },
	{ 11, "pt_elastic", 0, "/usr/bin/python3.11",
	  CMD("/usr/bin/python3\0/usr/local/bin/torchrun\0--nproc_per_node=2\0train.py\0") },
	{ 12, "nxc-worker", 0, "/usr/bin/python3.11",
	  CMD("python3\0/opt/venv/bin/neuronx-cc\0compile\0model.hlo\0") },
	{ 13, "vim", 0, "/usr/bin/vim.basic", CMD("vim\0train.py\0") },
	{ 14, "sleep", 0, "/usr/bin/sleep", CMD("sleep\0train.py\0") },
	{ 15, "worker", 0, "/usr/bin/sleep", CMD("train.py\0") }, /* renamed, argv0 too */
	{ 16, "kworker/0:1", 0x00200000, NULL, CMD("") },
	{ 17, "bash", 0, "/usr/bin/bash", CMD("bash\0train.py\0") },
};

static void fake_proc_write(const char *root, const FakeProc *p)
{
	char dir[512], path[600], line[256];
	snprintf(dir, sizeof(dir), "%s/%d", root, (int)p->pid);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(line, sizeof(line),
	         "%d (%s) S 1 %d %d 0 -1 %u 0 0 0 0 1 1 0 0 20 0 1 0 77 0 0 0 0\n", (int)p->pid,
	         p->comm, (int)p->pid, (int)p->pid, p->flags);
	snprintf(path, sizeof(path), "%s/stat", dir);
	FILE *f = fopen(path, "we");
	ck_assert_ptr_nonnull(f);
	fputs(line, f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/cmdline", dir);
	f = fopen(path, "we");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(p->cmdline, 1, p->cmdline_len, f), p->cmdline_len);
	fclose(f);
	snprintf(path, sizeof(path), "%s/exe", dir);
	if (p->exe)
		ck_assert_int_eq(symlink(p->exe, path), 0);
}

static const char *matched(const ProcTable *t, pid_t pid, char *const *patterns)
{
	const char *m;
	int r = proc_match(t, proc_table_find(t, pid), patterns, &m);
	ck_assert_int_ge(r, 0);
	ck_assert_int_eq(r, m != NULL);
	return m;
}

START_TEST(test_renamed_processes_on_a_table)
{
	char root[] = "/tmp/test-proc-match.XXXXXX", err[256];
	ck_assert_ptr_nonnull(mkdtemp(root));
	for (size_t i = 0; i < ELEMENTSOF(fake_procs); i++)
		fake_proc_write(root, &fake_procs[i]);
	ProcTable t;
	ck_assert_int_eq(proc_table_scan(root, &t, err, sizeof(err)), 0);

	ck_assert_str_eq(matched(&t, 10, ml_patterns), "train.py");
	ck_assert_str_eq(matched(&t, 11, ml_patterns), "torchrun");
	ck_assert_str_eq(matched(&t, 12, neuron_patterns), "neuronx-cc");
	ck_assert_ptr_null(matched(&t, 12, ml_patterns));
	ck_assert_ptr_null(matched(&t, 13, ml_patterns)); /* vim train.py: an argument */
	ck_assert_ptr_null(matched(&t, 14, ml_patterns));
	ck_assert_ptr_null(matched(&t, 16, ml_patterns));
	ck_assert_ptr_null(matched(&t, 17, ml_patterns)); /* a shell's script only for *.sh */
	/* A renamed program is read; its argv0 names what it runs as. */
	ck_assert_str_eq(matched(&t, 15, ml_patterns), "train.py");

	/* Costs: a program its comm names, a kernel thread and a shell got no cmdline read. */
	ck_assert_uint_eq(proc_table_find(&t, 14)->view, 0);
	ck_assert_uint_eq(proc_table_find(&t, 16)->view, 0);
	ck_assert_uint_eq(proc_table_find(&t, 17)->view, 0);
	ck_assert_uint_eq(proc_table_find(&t, 10)->exe_class, EXE_CLASS_INTERPRETER);
	ck_assert_uint_eq(proc_table_find(&t, 13)->exe_class, EXE_CLASS_RENAMED);
	ck_assert_uint_eq(proc_table_find(&t, 14)->exe_class, EXE_CLASS_NAMED);
	ck_assert_uint_eq(proc_table_find(&t, 16)->exe_class, EXE_CLASS_NONE);
	ck_assert_uint_eq(proc_table_find(&t, 17)->exe_class, EXE_CLASS_SHELL);

	/* One view per check: a second question reads nothing again. */
	char *const *argv1, *const *argv2;
	size_t argc;
	const ProcEntry *e = proc_table_find(&t, 10);
	ck_assert_int_eq(proc_table_argv(&t, e, &argv1, &argc), 0);
	ck_assert_uint_eq(argc, 4);
	ck_assert_str_eq(argv1[3], "3");
	ck_assert_ptr_null(argv1[4]);
	char path[600];
	snprintf(path, sizeof(path), "%s/10/cmdline", root);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(proc_table_argv(&t, e, &argv2, &argc), 0);
	ck_assert_ptr_eq(argv1, argv2);
	const char *exe;
	ck_assert_int_eq(proc_table_exe(&t, e, &exe), 0);
	ck_assert_str_eq(exe, "/usr/bin/python3.11");
	ck_assert_int_eq(proc_table_exe(&t, proc_table_find(&t, 16), &exe), -ENOENT);
	ck_assert_ptr_null(exe);

	/* The next check's table: classes carried, the cmdline read anew (now gone: no match). */
	ProcTable next;
	ck_assert_int_eq(proc_table_scan(root, &next, err, sizeof(err)), 0);
	ck_assert_int_eq(proc_table_carry(&next, &t, err, sizeof(err)), 0);
	ck_assert_uint_eq(proc_table_find(&next, 13)->exe_class, EXE_CLASS_RENAMED);
	/* A candidate's executable too (the link is gone: it was not read again). */
	snprintf(path, sizeof(path), "%s/10/exe", root);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(proc_table_exe(&next, proc_table_find(&next, 10), &exe), 0);
	ck_assert_str_eq(exe, "/usr/bin/python3.11");
	const char *m;
	ck_assert_int_eq(proc_match(&next, proc_table_find(&next, 10), ml_patterns, &m), 0);
	proc_table_done(&next);
	proc_table_done(&t);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("proc-match");
	TCase *tc = tcase_create("match");
	tcase_add_loop_test(tc, test_match, 0, (int)ELEMENTSOF(cases));
	tcase_add_test(tc, test_pattern_named);
	tcase_add_test(tc, test_monitor_tools);
	tcase_add_test(tc, test_candidates);
	tcase_add_test(tc, test_renamed_processes_on_a_table);
	suite_add_tcase(s, tc);
	return s;
}
