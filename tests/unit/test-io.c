/* /proc/net/dev and /proc/diskstats parsers and the rate between two readings. */
#include "check-main.h"
#include <errno.h>

#include "probe-io.h"

static const char netdev[] =
        "Inter-|   Receive                                                |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
        "drop fifo colls carrier compressed\n"
        "    lo: 5000000     100    0    0    0     0          0         0  5000000     100    0 "
        "   0    0     0       0          0\n"
        "  ens5: 1000     10    0    0    0     0          0         0     2000      20    0    0 "
        "   0     0       0          0\n"
        "docker0: 700     10    0    0    0     0          0         0     800      20    0    0 "
        "   0     0       0          0\n";

static bool not_docker(const char *name, void *userdata)
{
	return !streq(name, "docker0");
}

START_TEST(test_netdev)
{
	IoCounters c;
	ck_assert_int_eq(netdev_parse(netdev, NULL, NULL, &c), 0);
	ck_assert_uint_eq(c.n, 2); /* loopback never counts */
	ck_assert_str_eq(c.dev[0].name, "ens5");
	ck_assert_uint_eq(c.dev[0].bytes, 3000);
	ck_assert_int_eq(netdev_parse(netdev, not_docker, NULL, &c), 0);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_int_eq(netdev_parse("garbage\n", NULL, NULL, &c), -EBADMSG);
	ck_assert_int_eq(netdev_parse("Inter-| Receive\n face |\n  eth0 1 2 3\n", NULL, NULL, &c),
	                 -EBADMSG);
}
END_TEST

static const char diskstats[] =
        "   7       0 loop0 52 0 2110 14 0 0 0 0 0 28 14 0 0 0 0 0 0\n"
        " 259       0 nvme0n1 1000 10 20000 500 2000 30 40000 900 0 800 1400 0 0 0 0 0 0\n"
        " 259       1 nvme0n1p1 900 10 19000 450 1900 30 39000 850 0 750 1300 0 0 0 0 0 0\n";

static bool whole_real_disks(const char *name, void *userdata)
{
	return streq(name, "nvme0n1");
}

START_TEST(test_diskstats)
{
	IoCounters c;
	ck_assert_int_eq(diskstats_parse(diskstats, whole_real_disks, NULL, &c), 0);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_uint_eq(c.dev[0].bytes, (20000ULL + 40000) * 512);
	ck_assert_int_eq(diskstats_parse("8 0 sda 1 2\n", NULL, NULL, &c), -EBADMSG);
	ck_assert_int_eq(diskstats_parse("", NULL, NULL, &c), 0);
	ck_assert_uint_eq(c.n, 0);
}
END_TEST

START_TEST(test_rate)
{
	IoCounters a = { .valid = true, .n = 3 }, b = { .valid = true, .n = 3 };
	char busiest[IO_NAME_MAX];
	strscpy(a.dev[0].name, IO_NAME_MAX, "ens5");
	a.dev[0].bytes = 1000;
	strscpy(a.dev[1].name, IO_NAME_MAX, "ens6");
	a.dev[1].bytes = 5000;
	strscpy(a.dev[2].name, IO_NAME_MAX, "gone0");
	a.dev[2].bytes = 1;
	strscpy(b.dev[0].name, IO_NAME_MAX, "ens6");
	b.dev[0].bytes = 4000; /* went back: counter reset, contributes nothing */
	strscpy(b.dev[1].name, IO_NAME_MAX, "ens5");
	b.dev[1].bytes = 21000;
	strscpy(b.dev[2].name, IO_NAME_MAX, "new0");
	b.dev[2].bytes = 1ULL << 40; /* appeared: no baseline, no burst */
	double r = io_rate(&a, &b, 10 * USEC_PER_SEC, busiest, sizeof(busiest));
	ck_assert_double_eq_tol(r, 2000.0, 0.001);
	ck_assert_str_eq(busiest, "ens5");
	a.valid = false;
	ck_assert_double_eq(io_rate(&a, &b, 10 * USEC_PER_SEC, busiest, sizeof(busiest)), 0.0);
	ck_assert_str_eq(busiest, "");
}
END_TEST

START_TEST(test_read_real_proc)
{
	/* This machine's own files parse (whatever devices it has). */
	IoCounters c;
	char err[256] = "";
	ck_assert_msg(netdev_read("/proc", "/sys", &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(diskstats_read("/proc", "/sys", &c, err, sizeof(err)) == 0, "%s", err);
	for (size_t i = 0; i < c.n; i++)
		ck_assert(strncmp(c.dev[i].name, "loop", 4) != 0);
	ck_assert_int_eq(netdev_read("/nonexistent", "/sys", &c, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/1/net/dev"));
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("io");
	TCase *tc = tcase_create("io");
	tcase_add_test(tc, test_netdev);
	tcase_add_test(tc, test_diskstats);
	tcase_add_test(tc, test_rate);
	tcase_add_test(tc, test_read_real_proc);
	suite_add_tcase(s, tc);
	return s;
}
