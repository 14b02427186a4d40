/* The decision core. Pure: everything it knows comes in through its arguments. The session
 * rules are in core-sessions.c, the holds in core-holds.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "core-judges.h"
#include "timespan.h"

static const char *const verdict_names[_VERDICT_MAX] = {
	[VERDICT_ACTIVE] = "active",
	[VERDICT_IDLE] = "idle",
	[VERDICT_GRACE] = "grace",
	[VERDICT_HELD] = "held",
};

const char *verdict_to_string(Verdict v)
{
	return v >= 0 && v < _VERDICT_MAX ? verdict_names[v] : "invalid";
}

void core_state_init(CoreState *s)
{
	memset(s, 0, sizeof(*s));
	s->next_hold_id = 1;
}

_printf_(3, 0) static void reason_set(Reason *r, Signal signal, const char *fmt, va_list ap)
{
	r->signal = signal;
	(void)vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	text_sanitize(r->detail, sizeof(r->detail), r->detail); /* the cut may split a character */
}

void reason_add(Decision *d, Signal signal, const char *fmt, ...)
{
	if (d->n_reasons >= REASONS_MAX) {
		d->n_reasons_dropped++;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	reason_set(&d->reasons[d->n_reasons++], signal, fmt, ap);
	va_end(ap);
}

void not_counting_add(Decision *d, Signal signal, const char *fmt, ...)
{
	if (d->n_not_counting >= NOT_COUNTING_MAX)
		return;
	va_list ap;
	va_start(ap, fmt);
	reason_set(&d->not_counting[d->n_not_counting++], signal, fmt, ap);
	va_end(ap);
}

/* Each judge compares one signal's facts with the configuration and adds reasons. */

static void judge_cpu(const Sample *s, const Config *c, Decision *d)
{
	if (!s->cpu.valid || s->cpu.busy_percent <= c->cpu_percent)
		return;
	/* One decimal where whole numbers would read "10% > 10%". */
	int decimals = floor(s->cpu.busy_percent) <= c->cpu_percent ? 1 : 0;
	reason_add(d, SIGNAL_CPU, "%.*f%% > %g%%", decimals, s->cpu.busy_percent, c->cpu_percent);
}

static void judge_memory(const Sample *s, const Config *c, Decision *d)
{
	if (s->memory.valid && s->memory.used_percent > c->memory_percent)
		reason_add(d, SIGNAL_MEMORY, "%.*f%% used > %g%%",
		           floor(s->memory.used_percent) <= c->memory_percent ? 1 : 0,
		           s->memory.used_percent, c->memory_percent);
}

static void judge_probe_errors(const Sample *s, const Config *c, Decision *d)
{
	for (size_t i = 0; i < s->n_errors; i++)
		reason_add(d, SIGNAL_PROBE_ERROR, "%s: %s", s->errors[i].probe,
		           s->errors[i].message);
	if (s->n_errors_dropped > 0)
		reason_add(d, SIGNAL_PROBE_ERROR, "%zu more probe errors", s->n_errors_dropped);
}

static void describe_proc(const ProcRef *p, char *buf, size_t size)
{
	snprintf(buf, size, "pid %d %s", (int)p->pid, p->cmdline[0] ? p->cmdline : p->comm);
}

static void judge_matched(const MatchedProcs *m, Signal signal, Decision *d)
{
	if (!m->valid || m->n == 0)
		return;
	char who[160];
	describe_proc(&m->procs[0], who, sizeof(who));
	if (m->n > 1)
		reason_add(d, signal, "%s: %s (+%zu more)", m->procs[0].match, who, m->n - 1);
	else
		reason_add(d, signal, "%s: %s", m->procs[0].match, who);
}

static void judge_neuron_process(const Sample *s, const Config *c, Decision *d)
{
	judge_matched(&s->neuron_procs, SIGNAL_NEURON_PROCESS, d);
}

static void judge_ml_process(const Sample *s, const Config *c, Decision *d)
{
	judge_matched(&s->ml_procs, SIGNAL_ML_PROCESS, d);
}

static void neuron_holder_text(const NeuronDeviceFacts *f, char *buf, size_t size)
{
	if (f->n_holders == 0) {
		snprintf(buf, size, "%.1f GiB device memory in use, no holder visible here",
		         (double)f->mem_bytes / (1 << 30));
		return;
	}
	char who[160];
	describe_proc(&f->holders[0], who, sizeof(who));
	snprintf(buf, size, "held by %s", who);
	if (f->n_holders > 1)
		strappendf(buf, size, " (+%zu more)", f->n_holders - 1);
}

static void judge_neuron_device(const Sample *s, const Config *c, Decision *d)
{
	const NeuronDevicesFacts *n = &s->neuron_devices;
	for (size_t i = 0; n->valid && i < n->n; i++) {
		const NeuronDeviceFacts *f = &n->dev[i];
		bool in_use = f->n_holders > 0 || f->mem_bytes > 0;
		char holder[224], left[64];
		neuron_holder_text(f, holder, sizeof(holder));
		if (f->executed)
			reason_add(d, SIGNAL_NEURON_DEVICE, "%s executed since the last check%s%s",
			           f->name, in_use ? "; " : "", in_use ? holder : "");
		else if (!in_use)
			continue;
		else if (c->neuron_held_idle == 0)
			reason_add(d, SIGNAL_NEURON_DEVICE, "%s %s (HeldIdleSec=0: held is active)",
			           f->name, holder);
		else if (!f->observable)
			reason_add(d, SIGNAL_NEURON_DEVICE,
			           "%s %s; its counters cannot show execution while a process runs "
			           "(driver %s, no pe_cntrs), so held counts as active",
			           f->name, holder,
			           n->driver_version[0] ? n->driver_version : "unknown");
		else if (f->quiet_for < c->neuron_held_idle) {
			timespan_format(left, sizeof(left),
			                f->quiet_for / USEC_PER_SEC * USEC_PER_SEC);
			reason_add(d, SIGNAL_NEURON_DEVICE,
			           "%s %s; no execution for %s < HeldIdleSec", f->name, holder,
			           f->quiet_for < USEC_PER_SEC ? "0s" : left);
		}
	}
	/* Devices beyond the facts table were not examined: they may be working. */
	if (n->valid && n->n_dropped > 0)
		reason_add(d, SIGNAL_NEURON_DEVICE, "%zu more devices (not examined)",
		           n->n_dropped);
}

static void judge_rate(const RateFacts *r, double threshold, Signal signal, Decision *d)
{
	if (!r->valid || threshold <= 0 || r->kbps <= threshold)
		return;
	reason_add(d, signal, "%.0f KB/s > %g KB/s (most on %s)", r->kbps, threshold,
	           r->busiest[0] ? r->busiest : "?");
}

static void judge_network(const Sample *s, const Config *c, Decision *d)
{
	judge_rate(&s->network, c->network_kbps, SIGNAL_NETWORK, d);
}

static void judge_disk(const Sample *s, const Config *c, Decision *d)
{
	judge_rate(&s->disk, c->disk_kbps, SIGNAL_DISK, d);
}

/* A block-mode lock whose What includes idle or shutdown keeps the machine up. */
static bool inhibitor_blocks_idle(const InhibitorEntry *e)
{
	if (!streq(e->mode, "block"))
		return false;
	char what[sizeof(e->what)];
	strscpy(what, sizeof(what), e->what);
	char *save = NULL;
	for (char *w = strtok_r(what, ":", &save); w; w = strtok_r(NULL, ":", &save))
		if (streq(w, "idle") || streq(w, "shutdown"))
			return true;
	return false;
}

static void judge_inhibitor(const Sample *s, const Config *c, Decision *d)
{
	const InhibitorFacts *f = &s->inhibitor;
	for (size_t i = 0; f->valid && f->available && i < f->n; i++) {
		const InhibitorEntry *e = &f->list[i];
		if (inhibitor_blocks_idle(e))
			reason_add(d, SIGNAL_INHIBITOR, "%s (pid %u, uid %u): %s [%s]", e->who,
			           e->pid, e->uid, e->why[0] ? e->why : "no reason given", e->what);
	}
	/* Locks beyond the list were not examined: a block-mode one may well be idle's. */
	if (f->valid && f->available && f->n_dropped_block > 0)
		reason_add(d, SIGNAL_INHIBITOR, "%zu more block-mode locks (not examined)",
		           f->n_dropped_block);
}

/* The busiest process of a login user names the reason; the others above the threshold are
 * counted, so that one record stays one line. */
static void judge_user_process(const Sample *s, const Config *c, Decision *d)
{
	const UserProcFacts *f = &s->user_procs;
	if (!f->valid || c->user_busy_percent <= 0)
		return;
	size_t listed = MIN(f->n, (size_t)BUSY_USER_PROCS_MAX), above = 0;
	while (above < listed && f->procs[above].percent > c->user_busy_percent)
		above++;
	if (above == 0)
		return;
	const BusyUserProc *p = &f->procs[0];
	char more[64] = "";
	if (above > 1)
		snprintf(more, sizeof(more), ", and %zu more above %g%%%s", above - 1,
		         c->user_busy_percent,
		         above == listed && f->n > listed ? " (or more)" : "");
	reason_add(d, SIGNAL_USER_PROCESS, "%s (pid %d) of %s at %.0f%% CPU%s", p->comm,
	           (int)p->pid, p->user, p->percent, more);
}

/* EC2 stops or terminates the instance anyway; the idle action must not race it, and the
 * pre-action command has its own run for the notice. */
static void judge_spot(const Sample *s, const Config *c, Decision *d)
{
	if (!s->spot.pending)
		return;
	reason_add(d, SIGNAL_SPOT_INTERRUPTION,
	           "EC2 will %s this spot instance at %s; no idle action meanwhile", s->spot.action,
	           s->spot.time);
}

/* A first boot's setup can outlast the boot grace while it waits without CPU (apt retrying,
 * the network not up yet), and cloud-init does not run an instance's setup again at the next
 * start: a power-off then loses it for good. It counts until it ends, but not past
 * CloudInitMaxSec= after boot, so that a setup that hangs does not keep a machine up all night.
 * now is CLOCK_BOOTTIME: the time since boot. */
static void judge_cloud_init(const Sample *s, const Config *c, usec_t now, Decision *d)
{
	const CloudInitFacts *f = &s->cloud_init;
	if (!f->valid || !f->running || c->cloud_init_max == 0)
		return;
	char since[64], max[64], stage[48] = "";
	timespan_format(since, sizeof(since), now / USEC_PER_SEC * USEC_PER_SEC);
	timespan_format(max, sizeof(max), c->cloud_init_max);
	if (f->stage[0])
		snprintf(stage, sizeof(stage), " (stage %s)", f->stage);
	if (now < c->cloud_init_max)
		reason_add(d, SIGNAL_CLOUD_INIT,
		           "setup of this boot not finished%s, %s after boot; counts until it "
		           "finishes, at most CloudInitMaxSec=%s",
		           stage, now < USEC_PER_SEC ? "0s" : since, max);
	else
		not_counting_add(d, SIGNAL_CLOUD_INIT,
		                 "setup of this boot not finished%s, %s after boot: past "
		                 "CloudInitMaxSec=%s",
		                 stage, since, max);
}

/* dpkg or apt at work: a download or an unattended upgrade runs with little CPU (on a
 * trn1.32xlarge far below CpuPercent=), and a power-off in the middle of dpkg's unpacking can
 * leave packages, the kernel's among them, half installed. It counts while its holder is
 * younger than PackageManagerMaxSec=, so that an apt waiting for an answer nobody gives does
 * not keep a machine up for ever; a holder we cannot see counts (fail-safe). */
static void judge_package_manager(const Sample *s, const Config *c, usec_t now, Decision *d)
{
	const PackageLockFacts *f = &s->package_lock;
	if (!f->valid || !f->held || c->package_manager_max == 0)
		return;
	char who[64] = "a process not visible here", age[64] = "0s", max[64];
	if (f->pid > 0)
		snprintf(who, sizeof(who), "%s (pid %d)", f->comm[0] ? f->comm : "?", (int)f->pid);
	usec_t running = f->started > 0 && now > f->started ? now - f->started : 0;
	if (running >= USEC_PER_SEC)
		timespan_format(age, sizeof(age), running / USEC_PER_SEC * USEC_PER_SEC);
	timespan_format(max, sizeof(max), c->package_manager_max);
	if (f->started == 0)
		reason_add(d, SIGNAL_PACKAGE_MANAGER, "%s held by %s", f->lock, who);
	else if (running < c->package_manager_max)
		reason_add(d, SIGNAL_PACKAGE_MANAGER, "%s held by %s, running for %s", f->lock, who,
		           age);
	else
		not_counting_add(d, SIGNAL_PACKAGE_MANAGER,
		                 "%s held by %s, running for %s: past PackageManagerMaxSec=%s",
		                 f->lock, who, age, max);
}

typedef void (*JudgeFn)(const Sample *s, const Config *c, Decision *d);

/* Order is the order of reasons in the verdict: a spot notice, then errors, since they need
 * attention. */
static const JudgeFn judges[] = {
	judge_spot,
	judge_probe_errors,
	judge_cpu,
	judge_memory,
	judge_terminals,
	judge_ssh,
	judge_vscode,
	judge_ssm,
	judge_multiplexers,
	judge_jupyter,
	judge_neuron_process,
	judge_neuron_device,
	judge_ml_process,
	judge_user_process,
	judge_inhibitor,
	judge_network,
	judge_disk,
};

void core_decide(const Sample *sample, const Config *config, const CoreState *state, usec_t now,
                 DecideMode mode, CoreState *ret_state, Decision *ret)
{
	CoreState st = *state;
	Decision d = { .idle_checks_needed = config->idle_checks };

	for (size_t i = 0; i < ELEMENTSOF(judges); i++)
		judges[i](sample, config, &d);
	judge_cloud_init(sample, config, now, &d);
	judge_package_manager(sample, config, now, &d);
	judge_connections(sample, config, state, &st, now, mode, &d);
	bool activity = d.n_reasons > 0;

	if (mode == DECIDE_ONCE) {
		d.verdict = activity ? VERDICT_ACTIVE : VERDICT_IDLE;
		*ret_state = st;
		*ret = d;
		return;
	}

	holds_expire(&st, now);
	judge_holds(&st, now, &d);

	if (now < config->boot_grace) {
		d.verdict = VERDICT_GRACE;
		st.idle_checks = 0;
	} else if (activity) {
		d.verdict = VERDICT_ACTIVE;
		st.idle_checks = 0;
	} else if (st.n_holds > 0) {
		d.verdict = VERDICT_HELD;
		st.idle_checks = 0;
	} else {
		d.verdict = VERDICT_IDLE;
		if (st.idle_checks < UINT32_MAX)
			st.idle_checks++;
		d.action_due = st.idle_checks >= config->idle_checks;
	}
	d.idle_checks = st.idle_checks;
	*ret = d;
	if (mode == DECIDE_PEEK) {
		/* It looks, it does not count: the next scheduled check still averages over its
		 * whole interval and counts the streak from where it stands. */
		ret->idle_checks = state->idle_checks;
		ret->action_due = false;
		if (ret_state != state)
			*ret_state = *state;
		return;
	}
	*ret_state = st;
}

void decision_summary(const Decision *d, char *buf, size_t size)
{
	snprintf(buf, size, "%s: ", verdict_to_string(d->verdict));
	if (d->n_reasons > 0)
		strappendf(buf, size, "%s %s", signal_to_string(d->reasons[0].signal),
		           d->reasons[0].detail);
	else
		strappendf(buf, size,
		           d->verdict == VERDICT_GRACE ? "boot grace" : "nothing active");
	if (d->n_reasons > 1)
		strappendf(buf, size, " (+%zu more)", d->n_reasons - 1 + d->n_reasons_dropped);
	strappendf(buf, size, "; idle %u/%u%s", d->idle_checks, d->idle_checks_needed,
	           d->action_due ? ", action due" : "");
}

bool decision_active(const Decision *d)
{
	return d->verdict != VERDICT_IDLE;
}
