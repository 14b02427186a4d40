/* A sample: the facts every probe read in one check. Probes fill it; they never judge.
 * The decision core (core.c) turns it into a verdict. */
#pragma once

#include <stdbool.h>
#include <time.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

/* The fixed vocabulary of signal names, as they appear in the verdict JSON and the journal. */
typedef enum Signal {
	SIGNAL_CPU,
	SIGNAL_MEMORY,
	SIGNAL_SSH,
	SIGNAL_TERMINAL,
	SIGNAL_SSM,
	SIGNAL_MULTIPLEXER,
	SIGNAL_NEURON_PROCESS,
	SIGNAL_NEURON_DEVICE,
	SIGNAL_ML_PROCESS,
	SIGNAL_INHIBITOR,
	SIGNAL_HOLD,
	SIGNAL_PROBE_ERROR,
	SIGNAL_NETWORK,
	SIGNAL_DISK,
	SIGNAL_JUPYTER,
	SIGNAL_SPOT_INTERRUPTION,
	SIGNAL_USER_PROCESS,
	SIGNAL_CLOUD_INIT,
	SIGNAL_PACKAGE_MANAGER,
	_SIGNAL_MAX,
} Signal;

const char *signal_to_string(Signal s);
int signal_from_string(const char *name, Signal *ret);

typedef struct CpuFacts {
	bool valid;
	double busy_percent; /* all CPUs, over the window since the previous sample */
	usec_t window;       /* length of that window */
} CpuFacts;

typedef struct MemoryFacts {
	bool valid;
	uint64_t total_kib;
	uint64_t available_kib;
	double used_percent; /* (MemTotal - MemAvailable) / MemTotal */
} MemoryFacts;

/* A process named in a signal's detail. */
typedef struct ProcRef {
	pid_t pid;
	uid_t uid;
	char comm[16];
	char match[48];    /* the pattern it matched */
	char cmdline[112]; /* arguments joined with spaces, cut */
} ProcRef;

#define MATCHED_PROCS_MAX 6

/* neuron-process and ml-process: processes matching [Neuron] Processes= / [Processes] Active=. */
typedef struct MatchedProcs {
	bool valid;
	size_t n; /* all that matched; the first MATCHED_PROCS_MAX are in procs */
	ProcRef procs[MATCHED_PROCS_MAX];
} MatchedProcs;

#define NEURON_HOLDERS_MAX      3
#define NEURON_DEVICE_FACTS_MAX 32 /* trn1.32xlarge and trn2.48xlarge have 16 */

typedef struct NeuronDeviceFacts {
	char name[32];        /* "neuron0" */
	char node[96];        /* the /dev node DevicePattern= matched, "" when none */
	bool sysfs;           /* the driver's sysfs node was found */
	bool observable;      /* counters show execution while a process runs */
	bool executed;        /* counters moved since the previous check */
	bool holders_scanned; /* /proc/PID/fd was walked for this device */
	uint64_t mem_bytes;   /* device memory in use */
	usec_t quiet_for;     /* held (or memory in use) without execution seen for this long */
	size_t n_holders;     /* holders other than monitoring tools */
	ProcRef holders[NEURON_HOLDERS_MAX];
	size_t n_monitors; /* neuron-monitor/-ls/-top holders, ignored */
} NeuronDeviceFacts;

typedef struct NeuronDevicesFacts {
	bool valid;
	char driver_version[24]; /* "" unknown */
	size_t n;
	size_t n_dropped;
	NeuronDeviceFacts dev[NEURON_DEVICE_FACTS_MAX];
} NeuronDevicesFacts;

/* network, disk: bytes per second over the interval since the previous check. */
typedef struct RateFacts {
	bool valid;
	double kbps; /* KiB/s */
	usec_t window;
	char busiest[32]; /* the device that moved most */
} RateFacts;

#define INHIBITORS_MAX 12

typedef struct InhibitorEntry {
	char what[64]; /* "idle:sleep:shutdown" */
	char who[64];
	char why[96];
	char mode[16]; /* "block" or "delay" */
	uint32_t uid;
	uint32_t pid;
} InhibitorEntry;

/* inhibitor: logind's ListInhibitors. */
typedef struct InhibitorFacts {
	bool valid;
	bool available;   /* logind answered; false: no logind here, the signal is off */
	bool say_absent;  /* first check to find logind missing: the daemon logs it once */
	char absent[128]; /* why logind counts as absent */
	size_t n;
	size_t n_dropped;
	size_t n_dropped_block; /* of those, block-mode: not examined, so they count (fail-safe) */
	InhibitorEntry list[INHIBITORS_MAX];
} InhibitorFacts;
/* --- Sessions: terminal, ssh, ssm, multiplexer, jupyter --------------------------------- */

/* The busiest process of a session (on a terminal, inside a multiplexer or a Jupyter kernel):
 * its CPU over the interval since the previous check, in % of one CPU. pid 0: none used any. */
typedef struct BusyProc {
	pid_t pid;
	char comm[16];
	double percent;
} BusyProc;

/* A Neuron or ML process inside a session, found with the neuron-process and ml-process
 * signals' own matchers. pid 0: none. */
typedef struct WorkProc {
	pid_t pid;
	char comm[16];
	Signal signal; /* SIGNAL_NEURON_PROCESS or SIGNAL_ML_PROCESS */
} WorkProc;

/* What a terminal (or a session) belongs to: the nearest such ancestor of its processes. */
typedef enum SessionOwner {
	SESSION_OWNER_OTHER,
	SESSION_OWNER_SSHD,
	SESSION_OWNER_SSM,
	SESSION_OWNER_TMUX,
	SESSION_OWNER_SCREEN,
	_SESSION_OWNER_MAX,
} SessionOwner;

const char *session_owner_to_string(SessionOwner o);

#define USER_NAME_MAX 33

/* A /dev/pts/N that some live process has as its controlling terminal. */
typedef struct TerminalFacts {
	unsigned pts;
	pid_t session; /* whose controlling terminal it is: pts numbers repeat across devpts */
	uid_t uid;     /* owner of the pts device: the user logged in on it */
	char user[USER_NAME_MAX];
	SessionOwner owner;
	pid_t owner_pid;  /* the sshd session, ssm-session-worker, tmux or screen server; 0 */
	pid_t leader_pid; /* the terminal's session leader (or its first process) */
	char leader_comm[16];
	usec_t idle;   /* since the last input or output (pts atime/mtime) */
	BusyProc busy; /* among the processes on this terminal */
} TerminalFacts;

/* What a connection without a terminal moved: the bytes its process read and wrote
 * (/proc/PID/io rchar + wchar: network and channels, keepalives included) over the window
 * since the previous check. valid false: no earlier reading of this process to compare with. */
typedef struct ConnectionTraffic {
	bool valid;
	uint64_t bytes;
	usec_t window;
	usec_t started; /* CLOCK_BOOTTIME when the process started: a new connection is a use */
} ConnectionTraffic;

/* An sshd process that carries a login's connection without a terminal ("sshd: alice",
 * "sshd: alice@notty"): VS Code Remote, scp, rsync, port forwarding. */
typedef struct SshConnectionFacts {
	pid_t pid;
	uid_t uid;
	char user[USER_NAME_MAX];
	ConnectionTraffic traffic;
	BusyProc busy; /* among the processes under it */
	WorkProc work; /* under it */
} SshConnectionFacts;

/* A VS Code server (Remote-SSH's ~/.vscode-server, code-server): its node processes detach
 * from the SSH connection that started them. */
typedef struct VscodeServerFacts {
	pid_t pid;
	uid_t uid;
	char user[USER_NAME_MAX];
	BusyProc busy; /* the server and its descendants: extension host, terminals' shells */
	WorkProc work; /* among its descendants */
} VscodeServerFacts;

typedef struct SsmSessionFacts {
	pid_t pid;
	uid_t uid;
	char user[USER_NAME_MAX];
	ConnectionTraffic traffic; /* of the worker: port forwarding's bytes */
	size_t n_terminals;
	unsigned pts;  /* its youngest terminal, when n_terminals > 0 */
	usec_t idle;   /* that terminal's idle time */
	BusyProc busy; /* among the processes on its terminals */
} SsmSessionFacts;

typedef struct MultiplexerFacts {
	SessionOwner kind; /* SESSION_OWNER_TMUX or SESSION_OWNER_SCREEN */
	pid_t pid;         /* the server */
	uid_t uid;
	char user[USER_NAME_MAX];
	char name[64]; /* session name from its command line ("-s exp3"), or "" */
	size_t n_panes;
	unsigned pane_pts;   /* youngest pane, when n_panes > 0 */
	usec_t pane_idle;    /* its idle time */
	size_t n_clients;    /* attached clients */
	unsigned client_pts; /* the client terminal used last, when n_clients > 0 */
	usec_t client_idle;  /* its idle time */
	BusyProc busy;       /* among the processes inside */
	WorkProc work;       /* inside */
} MultiplexerFacts;

/* A Jupyter kernel (python -m ipykernel_launcher, from Jupyter Server, Notebook, Lab or VS
 * Code) with what runs in it. */
typedef struct JupyterKernelFacts {
	pid_t pid;
	uid_t uid;
	char user[USER_NAME_MAX];
	pid_t server_pid; /* the Jupyter server above it, 0 when none (VS Code, nbclient) */
	char server[32];  /* its program: "jupyter-notebook", "jupyter-lab" */
	BusyProc busy;    /* the kernel and its descendants */
	WorkProc work;    /* among its descendants */
} JupyterKernelFacts;

#define TERMINALS_MAX       64
#define SSH_CONNECTIONS_MAX 32
#define SSM_SESSIONS_MAX    16
#define MULTIPLEXERS_MAX    32
#define JUPYTER_KERNELS_MAX 32
#define VSCODE_SERVERS_MAX  16

/* When a table is full: terminals keep the most recently used (so the dropped ones are older
 * than every kept one); the other lists count what they dropped, and the core treats any
 * dropped session as activity. */
typedef struct SessionFacts {
	bool valid;
	TerminalFacts terminals[TERMINALS_MAX];
	size_t n_terminals, n_terminals_dropped;
	BusyProc dropped_terminals_busy; /* the busiest process on a dropped SSH/other terminal */
	SshConnectionFacts ssh[SSH_CONNECTIONS_MAX];
	size_t n_ssh, n_ssh_dropped;
	SsmSessionFacts ssm[SSM_SESSIONS_MAX];
	size_t n_ssm, n_ssm_dropped;
	MultiplexerFacts multiplexers[MULTIPLEXERS_MAX];
	size_t n_multiplexers, n_multiplexers_dropped;
	JupyterKernelFacts kernels[JUPYTER_KERNELS_MAX];
	size_t n_kernels, n_kernels_dropped;
	VscodeServerFacts vscode[VSCODE_SERVERS_MAX];
	size_t n_vscode, n_vscode_dropped;
} SessionFacts;

/* --- user-process ----------------------------------------------------------------------- */

/* The first uid of login users (login.defs UID_MIN on Debian and Ubuntu); nobody is not one. */
#define USER_UID_MIN    1000
#define USER_UID_NOBODY 65534
/* systemd's DynamicUser= range: services (trnidled-aws among them), never a person. */
#define DYNAMIC_UID_MIN     61184
#define DYNAMIC_UID_MAX     65519
#define BUSY_USER_PROCS_MAX 6

typedef struct BusyUserProc {
	pid_t pid;
	uid_t uid;
	char user[USER_NAME_MAX];
	char comm[16];
	double percent; /* CPU over the interval since the previous check, % of one CPU */
} BusyUserProc;

/* Login users' processes that used CPU over the interval, busiest first. */
typedef struct UserProcFacts {
	bool valid;
	size_t n; /* all that used any CPU; the busiest BUSY_USER_PROCS_MAX are in procs */
	BusyUserProc procs[BUSY_USER_PROCS_MAX];
} UserProcFacts;

/* --- cloud-init ------------------------------------------------------------------------- */

/* cloud-init's setup of this boot, from its run directory (tmpfs: gone at the next boot). It
 * writes status.json when its first stage starts and result.json when its last one ends. */
typedef struct CloudInitFacts {
	bool valid;
	bool running;   /* status.json is there and result.json is not */
	char stage[24]; /* the stage under way ("modules-final"), "" between stages or unknown */
} CloudInitFacts;

/* --- package-manager -------------------------------------------------------------------- */

/* A lock of dpkg or apt that some process holds: packages are being downloaded, unpacked or
 * configured, often with little CPU, and a power-off in the middle can leave them broken. */
typedef struct PackageLockFacts {
	bool valid;
	bool held;
	char lock[48]; /* the first held lock's path: "/var/lib/dpkg/lock-frontend" */
	pid_t pid;     /* its holder; 0 when the kernel does not name one here */
	char comm[16];
	usec_t started; /* the holder's start, CLOCK_BOOTTIME; 0 unknown */
} PackageLockFacts;

#define PROBE_ERRORS_MAX 16

/* A probe that could not read what it needs. Counts as activity (fail-safe). */
typedef struct ProbeError {
	char probe[32];
	char message[224]; /* names the path and the errno text */
} ProbeError;

/* spot-interruption: an interruption EC2 announced for this spot instance. Not a probe's: the
 * daemon's AWS side polls instance metadata on its own timer and hands the notice in. */
typedef struct SpotFacts {
	bool pending;
	char action[16]; /* "stop", "terminate", "hibernate" */
	char time[32];   /* "2017-09-18T08:22:00Z" */
	time_t when;     /* the same time, seconds since the epoch */
} SpotFacts;

typedef struct Sample {
	SpotFacts spot;
	CpuFacts cpu;
	MemoryFacts memory;
	MatchedProcs neuron_procs;
	MatchedProcs ml_procs;
	NeuronDevicesFacts neuron_devices;
	RateFacts network;
	RateFacts disk;
	InhibitorFacts inhibitor;
	SessionFacts sessions;
	UserProcFacts user_procs;
	CloudInitFacts cloud_init;
	PackageLockFacts package_lock;

	ProbeError errors[PROBE_ERRORS_MAX];
	size_t n_errors;
	size_t n_errors_dropped; /* errors beyond PROBE_ERRORS_MAX */
} Sample;

void sample_add_error(Sample *s, const char *probe, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
