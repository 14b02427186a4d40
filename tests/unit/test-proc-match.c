/* The neuron-process and ml-process matchers, table-driven over what /proc shows. */
#include "check-main.h"

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

Suite *make_suite(void)
{
	Suite *s = suite_create("proc-match");
	TCase *tc = tcase_create("match");
	tcase_add_loop_test(tc, test_match, 0, (int)ELEMENTSOF(cases));
	tcase_add_test(tc, test_pattern_named);
	tcase_add_test(tc, test_monitor_tools);
	tcase_add_test(tc, test_candidates);
	suite_add_tcase(s, tc);
	return s;
}
