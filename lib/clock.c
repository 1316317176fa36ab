/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The monotonic clock (clock.h). */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

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

/* One thread's /proc/.../schedstat: run and wait, in nanoseconds. */
static uint64_t
thread_busy_ns(int dir, const char *tid)
{
	char path[sizeof(((struct dirent *)0)->d_name) + 16], buf[128];
	unsigned long long run = 0, wait = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/schedstat", tid);
	fd = openat(dir, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%llu %llu", &run, &wait) != 2)
		return 0;
	return (uint64_t)run + (uint64_t)wait;
}

/* Every thread counts: qemu's vCPUs are threads of their own.  A thread
 * that ended is no longer counted, which only makes a loop look shorter
 * (its CPU time is the process's, in /proc/PID/stat, but not its time in
 * the run queue). */
uint64_t
kp_busy_ms(pid_t pid)
{
	char path[64];
	struct dirent *e;
	uint64_t ns = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			ns += thread_busy_ns(dirfd(d), e->d_name);
	closedir(d);
	return ns / 1000000u;
}
