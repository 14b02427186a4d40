/* cloud-init: whether the setup of this boot is still under way, told the way `cloud-init
 * status` tells it. cloud-init writes status.json in its run directory when its first stage
 * starts and result.json when its last stage ends; the directory is on tmpfs, so both describe
 * this boot. Between the two a first boot may sit for minutes without CPU (apt retrying, the
 * network not up yet), which only this probe can see. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "probe.h"

/* status.json lists each stage's errors: a setup with many can make it long. What does not
 * fit is cut, and then the stage is unknown, which changes nothing in the verdict. */
#define STATUS_JSON_MAX (16 * 1024)

static void stage_from_status(int dirfd, char *stage, size_t size)
{
	static char text[STATUS_JSON_MAX];
	stage[0] = '\0';
	if (read_small_fileat(dirfd, "status.json", text, sizeof(text)) < 0)
		return;
	json_object *root = json_tokener_parse(text), *v1, *name;
	if (root && json_object_object_get_ex(root, "v1", &v1) &&
	    json_object_object_get_ex(v1, "stage", &name) &&
	    json_object_is_type(name, json_type_string))
		text_sanitize(stage, size, json_object_get_string(name));
	json_object_put(root);
}

/* Whether name exists in dirfd: 1, 0, or a negative errno (a directory we cannot read). */
static int exists_at(int dirfd, const char *name)
{
	if (faccessat(dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	return errno == ENOENT ? 0 : -errno;
}

int cloud_init_probe(const char *run_dir, CloudInitFacts *ret, char *err, size_t errlen)
{
	*ret = (CloudInitFacts){ 0 };
	_cleanup_close_ int dirfd = open(run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0 && errno == ENOENT) {
		ret->valid = true; /* not installed, or it did not run this boot */
		return 0;
	}
	if (dirfd < 0) {
		int r = -errno;
		snprintf(err, errlen, "%s: %s", run_dir, strerror(-r));
		return r;
	}
	/* result.json first: cloud-init writes it after status.json, so a setup that ends
	 * between the two looks still running, never the reverse. */
	int done = exists_at(dirfd, "result.json");
	int started = done == 0 ? exists_at(dirfd, "status.json") : 0;
	if (done < 0 || started < 0) {
		int r = done < 0 ? done : started;
		snprintf(err, errlen, "%s/%s: %s", run_dir,
		         done < 0 ? "result.json" : "status.json", strerror(-r));
		return r;
	}
	ret->valid = true;
	ret->running = started == 1;
	if (ret->running)
		stage_from_status(dirfd, ret->stage, sizeof(ret->stage));
	return 0;
}
