/* main() for the fuzz targets in ordinary (gcc, sanitizer) builds: runs every file of the
 * given corpus and regression directories through the target once, so the unit suite replays
 * every seed and every crash ever found. Prints the RESULT line scripts/test adds up; a crash
 * or sanitizer report aborts before it, which the summary counts as a failure. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -errno;
	}
	uint8_t *buf = malloc(FUZZ_INPUT_MAX + 1);
	if (!buf)
		abort();
	size_t n = fread(buf, 1, FUZZ_INPUT_MAX + 1, f);
	fclose(f);
	/* A copy of exactly n bytes, so ASan sees reads past the input's end. */
	uint8_t *exact = malloc(n ? n : 1);
	if (!exact)
		abort();
	memcpy(exact, buf, n);
	free(buf);
	(void)LLVMFuzzerTestOneInput(exact, n);
	free(exact);
	return 0;
}

static int filter_regular(const struct dirent *de)
{
	return de->d_name[0] != '.';
}

static int replay_dir(const char *dir, int *n_files)
{
	struct dirent **names;
	int n = scandir(dir, &names, filter_regular, alphasort);
	if (n < 0)
		return errno == ENOENT ? 0 : -errno;
	int failed = 0;
	for (int i = 0; i < n; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (replay_file(path) < 0)
			failed++;
		else
			(*n_files)++;
		free(names[i]);
	}
	free(names);
	return failed;
}

int main(int argc, char **argv)
{
	int n_files = 0, failed = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0 || !S_ISREG(st.st_mode)) {
			failed += replay_dir(argv[i], &n_files);
			continue;
		}
		if (replay_file(argv[i]) < 0)
			failed++;
		else
			n_files++;
	}
	/* One result per target: all of its inputs ran without a crash. */
	printf("replayed %d input(s)\n", n_files);
	bool ok = failed == 0 && n_files > 0;
	printf("RESULT passed=%d failed=%d skipped=0\n", ok ? 1 : 0, ok ? 0 : 1);
	return ok ? 0 : 1;
}
