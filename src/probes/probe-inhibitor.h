/* logind inhibitor locks. */
#pragma once

#include <stdbool.h>

#include "sample.h"

/* Asks logind (org.freedesktop.login1 ListInhibitors) on the system bus. No bus or no logind
 * on it is not an error: the facts say logind is absent, and say_absent is set on the first
 * such check only (*said_absent remembers it across checks). Any other failure returns
 * -errno with err naming it. */
int inhibitor_probe(bool *said_absent, InhibitorFacts *ret, char *err, size_t errlen);
