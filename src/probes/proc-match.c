/* Process matchers for the neuron-process and ml-process signals (and the multiplexer signal,
 * which asks whether a process inside a session is such work). */
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <string.h>

#include "macro.h"
#include "proc-match.h"
#include "proc-table.h"

/* The kernel keeps at most 15 characters of a program name in comm. */
#define COMM_MAX 15

static bool has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* fnmatch(pattern, s, 0) == 0, the common answers first: every process of every check meets
 * every pattern, and fnmatch() was a quarter of the instructions the daemon ran itself.
 * Without flags (and in the C locale the daemon runs in) a pattern char other than * ? [ \
 * matches only itself. */
static bool glob_match(const char *pattern, const char *s)
{
	char c = pattern[0];
	bool special = c == '*' || c == '?' || c == '[' || c == '\\';
	if (!special && c != s[0])
		return false;
	if (!strpbrk(pattern, "*?[\\"))
		return streq(pattern, s);
	return fnmatch(pattern, s, 0) == 0;
}

static bool pattern_matches(const char *pattern, const char *path)
{
	if (!path || !*path)
		return false;
	const char *subject = strchr(pattern, '/') ? path : path_basename(path);
	return glob_match(pattern, subject);
}

/* comm holds only the first 15 characters: "neuron_parallel" stands for
 * "neuron_parallel_compile". */
static bool comm_matches(const char *pattern, const char *comm)
{
	if (!comm || !*comm)
		return false;
	if (glob_match(pattern, comm))
		return true;
	return strlen(comm) == COMM_MAX && !has_glob(pattern) && strlen(pattern) > COMM_MAX &&
	       strneq(pattern, comm, COMM_MAX);
}

typedef enum Interpreter {
	INTERP_NONE,
	INTERP_PYTHON,
	INTERP_SHELL,
	INTERP_PERL,
	INTERP_NODE,
	INTERP_RUBY,
	INTERP_ENV,
} Interpreter;

static Interpreter interpreter_of(const char *path)
{
	static const struct {
		const char *glob;
		Interpreter kind;
	} table[] = {
		{ "python", INTERP_PYTHON }, { "python[0-9]*", INTERP_PYTHON },
		{ "pypy*", INTERP_PYTHON },  { "sh", INTERP_SHELL },
		{ "bash", INTERP_SHELL },    { "dash", INTERP_SHELL },
		{ "zsh", INTERP_SHELL },     { "ksh", INTERP_SHELL },
		{ "perl", INTERP_PERL },     { "perl[0-9]*", INTERP_PERL },
		{ "node", INTERP_NODE },     { "nodejs", INTERP_NODE },
		{ "ruby", INTERP_RUBY },     { "ruby[0-9]*", INTERP_RUBY },
		{ "env", INTERP_ENV },
	};
	if (!path)
		return INTERP_NONE;
	const char *name = path_basename(path);
	for (size_t i = 0; i < ELEMENTSOF(table); i++)
		if (glob_match(table[i].glob, name))
			return table[i].kind;
	return INTERP_NONE;
}

/* Options whose value is the next argument ("-W ignore"), per interpreter. */
static bool option_takes_value(Interpreter kind, const char *opt)
{
	static const char *const python[] = { "-W", "-X", "-Q", "--check-hash-based-pycs", NULL };
	static const char *const shell[] = { "-o", "+o", "-O", "+O", NULL };
	static const char *const perl[] = { "-I", "-M", "-m", NULL };
	static const char *const node[] = { "-r", "--require", "--import", "--loader", NULL };
	static const char *const ruby[] = { "-I", "-r", NULL };
	static const char *const env[] = { "-u", "--unset", "-C", "--chdir", NULL };
	const char *const *list = NULL;
	switch (kind) {
	case INTERP_PYTHON:
		list = python;
		break;
	case INTERP_SHELL:
		list = shell;
		break;
	case INTERP_PERL:
		list = perl;
		break;
	case INTERP_NODE:
		list = node;
		break;
	case INTERP_RUBY:
		list = ruby;
		break;
	case INTERP_ENV:
		list = env;
		break;
	case INTERP_NONE:
		return false;
	}
	for (; *list; list++)
		if (streq(opt, *list))
			return true;
	return false;
}

/* Options after which no script file follows: the program is given inline or on stdin. */
static bool option_is_inline_code(Interpreter kind, const char *opt)
{
	switch (kind) {
	case INTERP_PYTHON:
		return opt[0] == '-' && opt[1] != '-' && strchr(opt + 1, 'c');
	case INTERP_SHELL:
		return opt[0] == '-' && opt[1] != '-' && strchr(opt + 1, 'c');
	case INTERP_PERL:
	case INTERP_RUBY:
		return streq(opt, "-e") || streq(opt, "-E");
	case INTERP_NODE:
		return streq(opt, "-e") || streq(opt, "-p") || streq(opt, "--eval") ||
		       streq(opt, "--print");
	default:
		return false;
	}
}

static const char *match_program(const char *comm, char *const *argv, const char *exe,
                                 char *const *patterns);

/* The script (or python -m module) an interpreter runs, checked against the patterns. */
static const char *match_script(Interpreter kind, char *const *argv, char *const *patterns)
{
	for (size_t i = 1; argv[i]; i++) {
		const char *a = argv[i];
		if (kind == INTERP_ENV && strchr(a, '=') && a[0] != '-')
			continue; /* VAR=value */
		if (streq(a, "--")) {
			a = argv[i + 1];
			if (!a)
				return NULL;
		} else if (a[0] == '-' || (kind == INTERP_SHELL && a[0] == '+')) {
			if (streq(a, "-"))
				return NULL; /* program on stdin */
			if (option_is_inline_code(kind, a))
				return NULL;
			if (kind == INTERP_PYTHON && a[1] == 'm') {
				/* python3 -m module: the module stands for the script. */
				const char *module = a[2] ? a + 2 : argv[i + 1];
				if (!module)
					return NULL;
				for (char *const *p = patterns; *p; p++)
					if (glob_match(*p, module))
						return *p;
				return NULL;
			}
			if (option_takes_value(kind, a) && argv[i + 1])
				i++;
			continue;
		}
		if (kind == INTERP_ENV)
			return match_program(NULL, argv + i, NULL, patterns);
		for (char *const *p = patterns; *p; p++)
			if (pattern_matches(*p, a))
				return *p;
		return NULL;
	}
	return NULL;
}

static const char *match_program(const char *comm, char *const *argv, const char *exe,
                                 char *const *patterns)
{
	const char *argv0 = argv && argv[0] ? argv[0] : NULL;
	for (char *const *p = patterns; *p; p++)
		if (comm_matches(*p, comm) || pattern_matches(*p, argv0) ||
		    pattern_matches(*p, exe))
			return *p;
	if (!argv0)
		return NULL;
	Interpreter kind = interpreter_of(argv0);
	if (kind == INTERP_NONE)
		kind = interpreter_of(exe);
	if (kind == INTERP_NONE)
		return NULL;
	return match_script(kind, argv, patterns);
}

const char *process_match_pattern(const char *comm, char *const *argv, const char *exe,
                                  char *const *patterns)
{
	if (!patterns)
		return NULL;
	/* A deleted binary's link reads "/path (deleted)". */
	char exe_buf[4096];
	if (exe) {
		const char *suffix = " (deleted)";
		size_t l = strlen(exe), ls = strlen(suffix);
		if (l > ls && l - ls < sizeof(exe_buf) && streq(exe + l - ls, suffix)) {
			memcpy(exe_buf, exe, l - ls);
			exe_buf[l - ls] = '\0';
			exe = exe_buf;
		}
	}
	return match_program(comm, argv, exe, patterns);
}

bool process_match(const char *comm, char *const *argv, const char *exe, char *const *patterns)
{
	return process_match_pattern(comm, argv, exe, patterns) != NULL;
}

bool neuron_process_match(const char *comm, char *const *argv, const char *exe,
                          char *const *patterns)
{
	return process_match(comm, argv, exe, patterns);
}

bool ml_process_match(const char *comm, char *const *argv, const char *exe, char *const *patterns)
{
	return process_match(comm, argv, exe, patterns);
}

bool neuron_monitor_tool(const char *comm, char *const *argv)
{
	static char *const tools[] = { "neuron-monitor", "neuron-ls", "neuron-top", NULL };
	return process_match(comm, argv, NULL, tools);
}

/* A comm cut to 15 characters may stand for a longer name a pattern matches: it is a prefix of
 * a literal pattern, or starts with a glob pattern's literal head ("run_" of "run_*.py"). */
static bool truncated_comm_may_match(const char *comm, const char *pattern)
{
	size_t head = strcspn(pattern, "*?[");
	if (pattern[head] == '\0')
		return strneq(pattern, comm, COMM_MAX);
	return head > 0 && strneq(pattern, comm, head);
}

static bool patterns_name_shell_scripts(char *const *patterns)
{
	for (char *const *p = patterns; *p; p++) {
		size_t l = strlen(*p);
		if ((l >= 3 && streq(*p + l - 3, ".sh")) || (l > 0 && (*p)[l - 1] == '*'))
			return true;
	}
	return false;
}

bool process_match_candidate(const char *comm, char *const *patterns)
{
	if (!comm || !patterns)
		return false;
	Interpreter kind = interpreter_of(comm);
	/* A shell runs a script that a pattern can name only as "bash job.sh": a script started
	 * through its #! line has its own name as comm. Every login shell would otherwise cost a
	 * cmdline read per check. */
	if (kind == INTERP_SHELL)
		return patterns_name_shell_scripts(patterns);
	if (kind != INTERP_NONE)
		return true;
	for (char *const *p = patterns; *p; p++)
		if (comm_matches(*p, comm) ||
		    (strlen(comm) >= COMM_MAX && truncated_comm_may_match(comm, *p)))
			return true;
	return false;
}

/* Whether comm is what exec made of this executable: its name, cut to 15 characters. */
static bool comm_names_exe(const char *comm, const char *exe)
{
	const char *name = path_basename(exe);
	return strlen(name) >= COMM_MAX ? strneq(comm, name, COMM_MAX) && strlen(comm) == COMM_MAX
	                                : streq(comm, name);
}

static ExeClass exe_classify(const ProcTable *t, const ProcEntry *e)
{
	if (e->kthread)
		return EXE_CLASS_NONE;
	/* Read past the check's view: most processes never become candidates, and a copy of every
	 * executable's path would cost memory for nothing. */
	char exe[PATH_MAX];
	int r = proc_exe_read(t->proc_root, e->pid, exe, sizeof(exe));
	if (r == -ESRCH || r == -ENOENT)
		return EXE_CLASS_NONE;
	if (r < 0)
		return EXE_CLASS_UNREADABLE;
	switch (interpreter_of(exe)) {
	case INTERP_NONE:
		return comm_names_exe(e->comm, exe) ? EXE_CLASS_NAMED : EXE_CLASS_RENAMED;
	case INTERP_SHELL:
		return EXE_CLASS_SHELL;
	default:
		return EXE_CLASS_INTERPRETER;
	}
}

/* e's ExeClass, read once per process and kept in the table (proc_table_carry carries it). */
static ExeClass exe_class(const ProcTable *t, const ProcEntry *e)
{
	ProcEntry *m = &t->entries[proc_table_index(t, e)];
	if (m->exe_class == EXE_CLASS_UNREAD)
		m->exe_class = (uint8_t)exe_classify(t, e);
	return (ExeClass)m->exe_class;
}

bool proc_match_candidate(const ProcTable *t, const ProcEntry *e, char *const *patterns)
{
	if (!patterns || !patterns[0])
		return false;
	if (process_match_candidate(e->comm, patterns))
		return true;
	switch (exe_class(t, e)) {
	case EXE_CLASS_INTERPRETER:
	case EXE_CLASS_RENAMED:
	case EXE_CLASS_UNREADABLE:
		return true;
	case EXE_CLASS_SHELL:
		return patterns_name_shell_scripts(patterns);
	default:
		/* Named by its executable: comm said all there is. */
		return false;
	}
}

int proc_match(const ProcTable *t, const ProcEntry *e, char *const *patterns,
               const char **ret_pattern)
{
	*ret_pattern = NULL;
	if (!proc_match_candidate(t, e, patterns))
		return 0;
	char *const *argv;
	size_t argc;
	const char *exe;
	int r = proc_table_argv(t, e, &argv, &argc);
	if (r == -ESRCH)
		return 0;
	(void)proc_table_exe(t, e, &exe); /* NULL when unreadable: judged without it */
	*ret_pattern = process_match_pattern(e->comm, argv, exe, patterns);
	if (r < 0)
		return r;
	return *ret_pattern != NULL;
}
