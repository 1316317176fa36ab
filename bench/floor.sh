#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark: the floors under `hive set` on a large hive, next to `cp`.
#
#   bench/floor.sh [RUNS]
#
# The hive-set target of "0.1x cp" leaves a budget of a tenth of one copy
# of the file.  This prints, as medians of RUNS (default 20) runs, what no
# kmsprep run can go below on this machine:
#   cp                 copy of a 180 MB hive (page cache, no fsync): the
#                      target's yardstick
#   start: libc        a C program that returns at once, linked with libc
#                      only
#   start: + libcrypto the same, also linked with libhivex and libcrypto
#                      (hive set's digests and hive layer)
#   start: kmsprep     kmsprep --version (every library of the toolkit)
#   touch the hive     one read of every 4 KiB page of the mapped hive:
#                      the least any whole-hive check costs
# and each as a fraction of cp.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${KMSPREP:=build/kmsprep}"
: "${TEST_TOOL:=build/kmsprep-test-tool}"
: "${CC:=cc}"
runs=${1:-20}
dir=$(mktemp -d "${TMPDIR:-/tmp}/kmsprep-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT

"$TEST_TOOL" mkhive "$dir/base.hive" 1000 500 2 40
echo 'int main(void) { return 0; }' >"$dir/nop.c"
"$CC" -O2 -o "$dir/nop-libc" "$dir/nop.c"
"$CC" -O2 -o "$dir/nop-crypto" "$dir/nop.c" -Wl,--no-as-needed \
	$(pkg-config --libs hivex libcrypto)
cat >"$dir/touch.c" <<'EOF'
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
int main(int argc, char **argv)
{
	struct stat st;
	int fd = open(argv[argc - 1], O_RDONLY);
	unsigned char *p;
	unsigned sum = 0;
	size_t i;

	if (fd < 0 || fstat(fd, &st) < 0)
		return 1;
	p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE,
		 fd, 0);
	if (p == MAP_FAILED)
		return 1;
	for (i = 0; i < (size_t)st.st_size; i += 4096)
		sum += p[i];
	return sum == 1;
}
EOF
"$CC" -O2 -o "$dir/touch" "$dir/touch.c"

# Timed by a small C runner (fork, exec, wait, clock_gettime), not by
# the shell, whose own fork and exec would be most of a start-up figure.
cat >"$dir/timeit.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static int cmp(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}
int main(int argc, char **argv)
{
	int runs = atoi(argv[1]), i;
	long *us = calloc(runs, sizeof(*us));
	for (i = 0; i < runs; i++) {
		struct timespec t0, t1;
		int st;
		pid_t p;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		p = fork();
		if (p == 0) {
			freopen("/dev/null", "w", stdout);
			execv(argv[2], argv + 2);
			_exit(127);
		}
		waitpid(p, &st, 0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			return 1;
		us[i] = (t1.tv_sec - t0.tv_sec) * 1000000 +
			(t1.tv_nsec - t0.tv_nsec) / 1000;
	}
	qsort(us, runs, sizeof(*us), cmp);
	printf("%ld\n", us[runs / 2]);
	return argc < 3;
}
EOF
"$CC" -O2 -o "$dir/timeit" "$dir/timeit.c"
median() { shift; "$dir/timeit" "$runs" "$@"; }

cp "$dir/base.hive" "$dir/warm"	# in the page cache for all
cp_us=$(median cp "$(command -v cp)" "$dir/base.hive" "$dir/copy")
row() {
	awk -v n="$1" -v us="$2" -v cp="$cp_us" \
		'BEGIN { printf "%-22s %9.1f ms %7.3fx cp\n", n, us / 1000, us / cp }'
}
row "cp ($(($(stat -c %s "$dir/base.hive") >> 20)) MB)" "$cp_us"
row "start: libc" "$(median x "$dir/nop-libc")"
row "start: + libcrypto" "$(median x "$dir/nop-crypto")"
row "start: kmsprep" "$(median x "$(realpath "$KMSPREP")" --version)"
row "touch the hive" "$(median x "$dir/touch" "$dir/base.hive")"
echo "target: 0.1x cp = $(awk -v c="$cp_us" 'BEGIN { printf "%.1f", c / 10000 }') ms"
