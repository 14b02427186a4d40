/* A pending spot interruption keeps the idle action from starting: EC2 is about to stop the
 * instance anyway, and the pre-action command has its own run. Pure, for unit tests. */
#pragma once

#include "core.h"
#include "imds.h"

/* Turns d into "active" with a spot-interruption reason in front and no action due. */
void spot_block_decision(const SpotNotice *n, Decision *d);
