/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The monotonic clock (clock.h). */
#include <time.h>

#include "clock.h"

uint64_t
kp_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t
kp_clock_ms(void)
{
	return kp_clock_ns() / 1000000u;
}

void
kp_clock_lap(uint64_t *acc, uint64_t *t)
{
	uint64_t now = kp_clock_ns();

	*acc += now - *t;
	*t = now;
}
