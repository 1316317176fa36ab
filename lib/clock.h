/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The monotonic clock: deadlines, and where time goes. */
#ifndef KP_CLOCK_H
#define KP_CLOCK_H

#include <stdint.h>
#include <sys/types.h>

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t kp_clock_ns(void);

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t kp_clock_ms(void);

/* Add the time since *T to *ACC, and set *T to now: successive steps of
 * one piece of work each charge their own counter. */
void kp_clock_lap(uint64_t *acc, uint64_t *t);

/* The time process PID's threads have spent running or ready to run (on
 * a CPU, or in a run queue waiting for one), in milliseconds; 0 if it
 * cannot be read.  One that computes counts all of its time, even on a
 * machine too busy to give it a CPU; one that waits for I/O counts none:
 * how a deadline tells a loop from a stall. */
uint64_t kp_busy_ms(pid_t pid);

#endif
