/* The Neuron sysfs reader on fake trees of three driver generations (tests/data/neuron-sysfs):
 * 2.21 (no pe_cntrs, execution counters folded in at process exit), 2.24 (pe_cntrs) and a
 * 2.31-style tree whose nodes sit under other paths. */
#include "check-main.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "probe-neuron.h"

static void read_tree(const char *gen, NeuronCounters *c)
{
	char root[512], err[256] = "";
	snprintf(root, sizeof(root), "%s/neuron-sysfs/%s/sys/devices/virtual/neuron_device",
	         getenv("TESTS_DATA"), gen);
	ck_assert_msg(neuron_sysfs_read(root, c, err, sizeof(err)) == 0, "%s: %s", gen, err);
	ck_assert(c->valid);
	ck_assert_uint_eq(c->n, 2);
}

START_TEST(test_v2_21_no_pe_cntrs)
{
	NeuronCounters c;
	read_tree("v2.21", &c);
	const NeuronDeviceCounters *d0 = neuron_counters_find(&c, "neuron0");
	const NeuronDeviceCounters *d1 = neuron_counters_find(&c, "neuron1");
	ck_assert_ptr_nonnull(d0);
	ck_assert_ptr_nonnull(d1);
	ck_assert_uint_eq(d0->n_cores, 2);
	ck_assert(d0->has_exec);
	ck_assert(!d0->has_pe);
	/* status/success+failure+timeout+execute_completed_with_error, inference_count,
	 * nc_time_in_use, flop_count, model_load_count; host memory and resets are not. */
	ck_assert_uint_eq(d0->exec, 2 * (7 + 7 + 7000 + 14000000 + 1));
	ck_assert_uint_eq(d0->mem_bytes, 2ULL * 4096 << 20);
	ck_assert_uint_eq(d1->mem_bytes, 0);
	ck_assert_uint_eq(c.driver_version[0], 2);
	ck_assert_uint_eq(c.driver_version[1], 21);
	/* Frozen until exit and no pe_cntrs: execution cannot be seen while a process runs. */
	ck_assert(!neuron_execution_observable(d0, c.driver_version));
}
END_TEST

START_TEST(test_v2_24_pe_cntrs)
{
	NeuronCounters c;
	read_tree("v2.24", &c);
	const NeuronDeviceCounters *d0 = neuron_counters_find(&c, "neuron0");
	ck_assert(d0->has_pe);
	ck_assert_uint_eq(d0->pe_busy, 2 * 4 * (1000 + 500));
	ck_assert(neuron_execution_observable(d0, c.driver_version));
	ck_assert_uint_eq(neuron_counters_find(&c, "neuron1")->pe_busy, 0);
}
END_TEST

START_TEST(test_v2_31_moved_nodes)
{
	NeuronCounters c;
	read_tree("v2.31", &c);
	const NeuronDeviceCounters *d0 = neuron_counters_find(&c, "neuron0");
	ck_assert_uint_eq(d0->n_cores, 2);
	ck_assert_uint_eq(d0->exec, 2 * (5 + 5));
	ck_assert_uint_eq(d0->mem_bytes, 2ULL << 30);
	ck_assert_uint_eq(d0->pe_busy, 2 * 2 * (50 + 5));
	ck_assert_uint_eq(c.driver_version[1], 31);
}
END_TEST

START_TEST(test_missing_root_is_no_driver)
{
	NeuronCounters c;
	char err[256] = "";
	ck_assert_int_eq(neuron_sysfs_read("/nonexistent/neuron_device", &c, err, sizeof(err)), 0);
	ck_assert(c.valid);
	ck_assert_uint_eq(c.n, 0);
}
END_TEST

START_TEST(test_unreadable_counter_is_error)
{
	char dir[] = "/tmp/trnidled-sysfs-XXXXXX";
	char path[512], err[256] = "";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path),
	         "mkdir -p %s/neuron0/neuron_core0/stats/other_info/"
	         "inference_count/total",
	         dir);
	/* "total" as a directory is skipped, not read; a counter that is not a number fails. */
	ck_assert_int_eq(system(path), 0);
	snprintf(path, sizeof(path),
	         "mkdir -p %s/neuron0/neuron_core0/stats/status/success && echo junk > "
	         "%s/neuron0/neuron_core0/stats/status/success/total",
	         dir, dir);
	ck_assert_int_eq(system(path), 0);
	NeuronCounters c;
	ck_assert_int_eq(neuron_sysfs_read(dir, &c, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "status/success/total: not a number"));
	ck_assert(!c.valid);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	ck_assert_int_eq(system(path), 0);
}
END_TEST

typedef struct PeCase {
	const char *text;
	int r;
	uint64_t busy;
} PeCase;

static const PeCase pe_cases[] = {
	{ "0,10,5,100\n1,1,1,100\n", 0, 17 },
	{ "xrow_grp,mm_active,wl_active,idle\n0,10,5,100\n", 0, 15 },
	{ "row,idle,mm_active\n0,100,7\n", 0, 7 },
	{ "", -EBADMSG, 0 },
	{ "garbage\n", -EBADMSG, 0 },
	{ "5\n", -EBADMSG, 0 },
};

START_TEST(test_pe_cntrs_parse)
{
	const PeCase *t = &pe_cases[_i];
	uint64_t busy = 0;
	ck_assert_int_eq(pe_cntrs_parse(t->text, &busy), t->r);
	if (t->r == 0)
		ck_assert_uint_eq(busy, t->busy);
}
END_TEST

START_TEST(test_version_parse)
{
	unsigned v[3];
	ck_assert_int_eq(neuron_driver_version_parse("2.30.2.0\n", v), 0);
	ck_assert_uint_eq(v[2], 2);
	ck_assert_int_eq(neuron_driver_version_parse("x", v), -EBADMSG);
	NeuronDeviceCounters d = { .has_exec = true };
	unsigned old[3] = { 2, 30, 1 }, live[3] = { 2, 30, 2 }, newer[3] = { 3, 0, 0 };
	ck_assert(!neuron_execution_observable(&d, old));
	ck_assert(neuron_execution_observable(&d, live));
	ck_assert(neuron_execution_observable(&d, newer));
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("neuron-sysfs");
	TCase *tc = tcase_create("sysfs");
	tcase_add_test(tc, test_v2_21_no_pe_cntrs);
	tcase_add_test(tc, test_v2_24_pe_cntrs);
	tcase_add_test(tc, test_v2_31_moved_nodes);
	tcase_add_test(tc, test_missing_root_is_no_driver);
	tcase_add_test(tc, test_unreadable_counter_is_error);
	tcase_add_loop_test(tc, test_pe_cntrs_parse, 0, (int)ELEMENTSOF(pe_cases));
	tcase_add_test(tc, test_version_parse);
	suite_add_tcase(s, tc);
	return s;
}
