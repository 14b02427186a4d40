/* The daemon's configuration: /etc/trnidled.conf plus drop-ins, systemd syntax.
 * Every key lives in the table in config.c; this struct is what the rest of the daemon sees. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "macro.h"

/* The most holds the daemon keeps at once (the bound of [Control] HoldsPerUser=). */
#define HOLDS_MAX 64

/* [AWS] ImdsEndpoint='s default, the link-local address of EC2's instance metadata. */
#define IMDS_DEFAULT_ENDPOINT "http://169.254.169.254"

typedef enum ActionKind {
	ACTION_AUTO,          /* stop-instance on EC2 spot, poweroff elsewhere */
	ACTION_POWEROFF,      /* logind PowerOff, systemd poweroff.target as fallback */
	ACTION_STOP_INSTANCE, /* EC2 StopInstances */
	ACTION_NONE,          /* log "would power off" only */
	_ACTION_KIND_MAX,
} ActionKind;

const char *action_kind_to_string(ActionKind k);
int action_kind_from_string(const char *s, ActionKind *ret);

typedef struct Config {
	/* [Check] */
	usec_t interval;
	usec_t boot_grace;
	usec_t cloud_init_max; /* cloud-init's unfinished setup counts until this long after boot */
	unsigned idle_checks;

	/* [Action] */
	ActionKind action;
	usec_t warn;
	bool fallback_poweroff;
	char **pre_action_command; /* argv, no shell; NULL when unset */
	usec_t pre_action_timeout;

	/* [Thresholds] */
	double cpu_percent;
	double memory_percent;
	double network_kbps; /* 0 = off */
	double disk_kbps;    /* 0 = off */

	/* [Sessions] */
	usec_t session_idle; /* 0 = an open terminal always counts */
	double busy_percent; /* a process on a terminal, in a multiplexer or kernel above this */
	unsigned keepalive_bytes_per_sec; /* a connection at or below this carries keepalives */
	bool connections_always_active;   /* a connection counts while connected, unused or not */

	/* [Neuron] */
	char **neuron_processes;
	char *neuron_device_pattern;
	char *neuron_sysfs_root;
	usec_t neuron_held_idle; /* 0 = a held device is always active */

	/* [Processes] */
	char **ml_processes;
	double user_busy_percent;   /* a login user's process above this (% of one CPU); 0 = off */
	usec_t package_manager_max; /* a held dpkg/apt lock counts while its holder is younger */

	/* [Control] */
	usec_t max_hold;         /* longest hold of root and AdminGroup= */
	usec_t user_max_hold;    /* longest hold of anybody else (at most max_hold) */
	unsigned holds_per_user; /* holds one user may have at once (root: any) */
	char **hold_allowed;     /* users, uids and @groups who may hold; NULL: everybody */
	char *admin_group;       /* its members hold like root; NULL: none */

	/* [AWS] */
	char *imds_endpoint;
	char *ec2_endpoint;        /* NULL: https://ec2.REGION.amazonaws.com/ */
	char *monitoring_endpoint; /* NULL: https://monitoring.REGION.amazonaws.com/ */
	char *notify_topic_arn;    /* NULL: no notifications */
	char *sns_endpoint;        /* NULL: https://sns.REGION.amazonaws.com/ (the topic's) */

	/* [Metrics] */
	bool cloudwatch;
	char *metrics_namespace;
	char *textfile_path;

	/* Not a key: the main file was there (read, or masked by /dev/null) when this
	 * configuration was loaded. A reload that no longer finds it is refused. */
	bool main_file_found;
} Config;

/* One problem found while reading configuration: "FILE:LINE: message". */
typedef struct ConfigDiag {
	char **errors;   /* fatal: the configuration is rejected */
	char **warnings; /* unknown keys and sections */
} ConfigDiag;

void config_diag_clear(ConfigDiag *d);

/* Fills *c with the built-in defaults (allocates the string members). */
int config_init_defaults(Config *c);
void config_free(Config *c);

/* Parses one file's text into *c; name is used in messages. Never stops at the first error:
 * every bad line is reported. Returns the number of errors added, or -ENOMEM. */
int config_parse_text(Config *c, const char *name, const char *text, ConfigDiag *d);

/* Loads defaults, then main_path (may be missing), then dropin_dir/ *.conf in lexical order
 * (later wins). Only regular files are read, up to 1 MiB, never blocking; a drop-in that is
 * not one is skipped with a warning, /dev/null reads as empty. On any error *ret is left
 * untouched and the error count is returned (> 0); 0 on success. */
int config_load(const char *main_path, const char *dropin_dir, Config *ret, ConfigDiag *d);

/* Prints the effective configuration in the file's own syntax. */
void config_dump(const Config *c, FILE *f);

/* The region of an SNS topic ARN (NotifyTopicArn=), arn:PARTITION:sns:REGION:ACCOUNT:NAME.
 * -EINVAL when it is not one. */
int sns_topic_region(const char *arn, char *region, size_t size);
