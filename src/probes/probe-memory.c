/* Memory in use: (MemTotal - MemAvailable) / MemTotal, the kernel's own estimate of what could
 * be had without swapping (free(1)'s "used" counts reclaimable cache as well); and the
 * number parsers of /proc-style text that the probes share. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"

int proc_parse_u64(const char **p, uint64_t *ret)
{
	const char *s = *p;
	while (*s == ' ' || *s == '\t')
		s++;
	if (!isdigit((unsigned char)*s))
		return -EBADMSG;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || (*end && !isspace((unsigned char)*end)))
		return -EBADMSG;
	*ret = v;
	*p = end;
	return 0;
}

int proc_field_u64(const char *text, const char *name, uint64_t *ret)
{
	size_t l = strlen(name);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, name, l) == 0 && p[l] == ':') {
			/* "NAME:   12345 kB": the number, an optional unit, the end of the line. */
			const char *end = p + l + 1;
			uint64_t v;
			if (proc_parse_u64(&end, &v) < 0)
				return -EBADMSG;
			end += strspn(end, " \t");
			if (startswith(end, "kB"))
				end += 2;
			end += strspn(end, " \t");
			if (*end && *end != '\n')
				return -EBADMSG;
			*ret = v;
			return 0;
		}
	}
	return -EBADMSG;
}

int meminfo_parse(const char *text, MemoryFacts *ret)
{
	uint64_t total, avail;
	if (proc_field_u64(text, "MemTotal", &total) < 0 ||
	    proc_field_u64(text, "MemAvailable", &avail) < 0 || total == 0)
		return -EBADMSG;
	if (avail > total)
		avail = total;
	*ret = (MemoryFacts){
		.valid = true,
		.total_kib = total,
		.available_kib = avail,
		/* The ratio first: it rounds to at most 1, so the share never exceeds 100. */
		.used_percent = 100.0 * ((double)(total - avail) / (double)total),
	};
	return 0;
}

int memory_read(const char *proc_root, MemoryFacts *ret, char *err, size_t errlen)
{
	char path[256], buf[8192];
	snprintf(path, sizeof(path), "%s/meminfo", proc_root);
	ssize_t n = read_small_file(path, buf, sizeof(buf));
	if (n < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror((int)-n));
		return (int)n;
	}
	if (meminfo_parse(buf, ret) < 0) {
		snprintf(err, errlen, "%s: MemTotal or MemAvailable missing", path);
		return -EBADMSG;
	}
	return 0;
}
