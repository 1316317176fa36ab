/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Marvin32, the hash that guards new-format registry log entries.  Written
 * here because no Debian library provides it; it is a dozen lines.
 */
#ifndef KP_MARVIN32_H
#define KP_MARVIN32_H

#include <stddef.h>
#include <stdint.h>

/* The seed Windows uses for registry logs: s0 = 0x7A4E55C5, s1 = 0x82EF4D88. */
#define MARVIN32_REGISTRY_SEED 0x82EF4D887A4E55C5ull

/* Hash LEN bytes with SEED (low dword s0, high dword s1); the result is
 * (s1 << 32) | s0, as stored little-endian in a log entry. */
uint64_t marvin32(const void *data, size_t len, uint64_t seed);

#endif
