/* EC2 instance metadata, IMDSv2 only: a session token by PUT, cached and renewed before it
 * expires, on every GET. Every operation is bounded (connect 1 s, whole operation 2 s) so that
 * a hanging IMDS never holds the event loop longer than that. No logging: callers get an error
 * code and a sentence. */
#pragma once

#include <stdbool.h>
#include <time.h>

#include "aws.h"
#include "macro.h"
#include "sample.h"

#define IMDS_CONNECT_TIMEOUT_MS 1000L
#define IMDS_TIMEOUT_MS         2000L
#define IMDS_TOKEN_TTL_SEC      21600

typedef struct Imds {
	char endpoint[256];
	char token[256];
	usec_t token_expires; /* CLOCK_BOOTTIME; 0 when there is no token */
	long timeout_ms;      /* whole operation; IMDS_TIMEOUT_MS unless a test shortens it */

	char role[128];
	AwsCredentials creds;
	bool have_creds;
} Imds;

void imds_init(Imds *im, const char *endpoint);
/* Forgets the token and the credentials (another endpoint after a reload). */
void imds_reset(Imds *im, const char *endpoint);

/* GETs /latest/meta-data/PATH into *ret (malloc'd). Returns 0; -ENOENT for 404 (the item is
 * absent); -EACCES for 401/403 (IMDSv2 refused or IMDS turned off); -ETIMEDOUT,
 * -EHOSTUNREACH when no answer came (not on EC2); -EPROTO for other answers. err explains. */
int imds_get(Imds *im, const char *path, char **ret, char *err, size_t errlen);

/* The role's credentials, cached until a minute before Expiration. */
int imds_credentials(Imds *im, AwsCredentials *ret, char *err, size_t errlen);

/* --- Pure readers ------------------------------------------------------------------------- */

/* spot/instance-action: {"action": "stop", "time": "2017-09-18T08:22:00Z"} as the sample's
 * spot facts (pending). -EBADMSG. */
int imds_parse_instance_action(const char *json, SpotFacts *ret, char *err, size_t errlen);

/* events/recommendations/rebalance: {"noticeTime": "2020-10-27T08:22:00Z"}. -EBADMSG. */
int imds_parse_rebalance(const char *json, char *notice_time, size_t size, char *err,
                         size_t errlen);

/* iam/security-credentials/ROLE: Code "Success", AccessKeyId, SecretAccessKey, Token,
 * Expiration. -EBADMSG with a reason otherwise. */
int imds_parse_credentials(const char *json, AwsCredentials *ret, char *err, size_t errlen);

/* Whether cached credentials need fetching again at wall-clock time now. */
bool aws_credentials_stale(const AwsCredentials *c, time_t now);

typedef struct AwsIdentity {
	char instance_id[32];
	char region[32];
	char life_cycle[32]; /* "spot", "on-demand"; "on-demand" when IMDS does not say */
	char name[128];      /* the Name tag (instance metadata tags); "" when not known */
} AwsIdentity;

/* Reads instance id, region, life cycle and the Name tag (when the instance exposes its tags
 * in metadata; not knowing it is no error); stops at the first error (so a hanging IMDS costs
 * one timeout, not four). */
int imds_identify(Imds *im, AwsIdentity *ret, char *err, size_t errlen);
