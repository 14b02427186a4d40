/* What the parts of the decision core share (core.c, core-sessions.c, core-holds.c): each judge
 * compares one kind of facts with the configuration and adds reasons. Private to src/core. */
#pragma once

#include "core.h"

_printf_(3, 4) void reason_add(Decision *d, Signal signal, const char *fmt, ...);
/* A session or signal seen that does not count, so that "why did it stop" has an answer. */
_printf_(3, 4) void not_counting_add(Decision *d, Signal signal, const char *fmt, ...);

void judge_terminals(const Sample *s, const Config *c, Decision *d);
void judge_ssh(const Sample *s, const Config *c, Decision *d);
void judge_ssm(const Sample *s, const Config *c, Decision *d);
void judge_multiplexers(const Sample *s, const Config *c, Decision *d);
void judge_jupyter(const Sample *s, const Config *c, Decision *d);
void judge_vscode(const Sample *s, const Config *c, Decision *d);
/* Connections without a terminal: also updates the memory of their use in *st (from *old). */
void judge_connections(const Sample *s, const Config *c, const CoreState *old, CoreState *st,
                       usec_t now, DecideMode mode, Decision *d);

/* Drops the holds that ended by now. */
void holds_expire(CoreState *st, usec_t now);
void judge_holds(const CoreState *st, usec_t now, Decision *d);
