/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A small harness for the C unit tests: CHECK macros that report the
 * failing expression and carry on, and TEST() registration by listing.
 * Output is TAP ("ok N - name"), exit status 1 if anything failed.
 */
#ifndef KP_UNIT_H
#define KP_UNIT_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int unit_failed;

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			printf("# %s:%d: CHECK(%s) failed\n", __FILE__,    \
			       __LINE__, #cond);                           \
			unit_failed++;                                     \
		}                                                          \
	} while (0)

#define CHECK_EQ(a, b)                                                     \
	do {                                                               \
		uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);           \
		if (a_ != b_) {                                            \
			printf("# %s:%d: %s == %s failed: 0x%" PRIx64      \
			       " != 0x%" PRIx64 "\n", __FILE__, __LINE__,  \
			       #a, #b, a_, b_);                            \
			unit_failed++;                                     \
		}                                                          \
	} while (0)

#define CHECK_STR(a, b)                                                    \
	do {                                                               \
		const char *a_ = (a), *b_ = (b);                           \
		if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {     \
			printf("# %s:%d: %s == %s failed: '%s' != '%s'\n", \
			       __FILE__, __LINE__, #a, #b,                 \
			       a_ ? a_ : "(null)", b_ ? b_ : "(null)");    \
			unit_failed++;                                     \
		}                                                          \
	} while (0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)

struct unit_test {
	const char *name;
	void (*fn)(void);
};

#define TEST(f) { #f, f }

static inline int
unit_run(const struct unit_test *t, size_t n)
{
	size_t i;
	int total = 0;

	printf("1..%zu\n", n);
	for (i = 0; i < n; i++) {
		int before = unit_failed;

		t[i].fn();
		printf("%s %zu - %s\n", unit_failed == before ? "ok" : "not ok",
		       i + 1, t[i].name);
		total += unit_failed != before;
	}
	return total ? 1 : 0;
}

#define UNIT_MAIN(list)                                                    \
	int main(void)                                                     \
	{                                                                  \
		return unit_run(list, sizeof(list) / sizeof(list[0]));     \
	}

#endif
