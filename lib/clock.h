/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The monotonic clock: deadlines, and where time goes. */
#ifndef KP_CLOCK_H
#define KP_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t kp_clock_ns(void);

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t kp_clock_ms(void);

/* Add the time since *T to *ACC, and set *T to now: successive steps of
 * one piece of work each charge their own counter. */
void kp_clock_lap(uint64_t *acc, uint64_t *t);

#endif
