/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The raw registry hive format ("regf"), independent of hivex.
 *
 * hivex checks cells lazily and accepts files it cannot really use
 * (truncated hives, subkeys reachable twice).  This module checks a whole
 * file before anything is written, reads it back after a write without going
 * through hivex, and writes an empty hive, which hivex cannot create.
 *
 * Based on the Windows registry file format specification by Maxim Suhanov
 * (CC BY 4.0), https://github.com/msuhanov/regf.  Offsets are "hbins-relative"
 * (from file offset 0x1000) unless a name says otherwise.
 */
#ifndef KP_REGF_H
#define KP_REGF_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "lib/buf.h"
#include "lib/error.h"

#define REGF_BASE_SIZE 0x1000u
#define REGF_HBIN_SIZE 0x1000u
#define REGF_NONE 0xffffffffu
/* Windows refuses hives over 2 GiB; so do we, before mapping anything. */
#define REGF_MAX_FILE ((size_t)1 << 31)
/* Registry keys nest at most 512 levels deep. */
#define REGF_MAX_DEPTH 512
/* Larger value data is split into "db" segments (minor version >= 4). */
#define REGF_BIG_DATA 16344u

/* Registry value types. */
enum {
	REGT_NONE = 0,
	REGT_SZ = 1,
	REGT_EXPAND_SZ = 2,
	REGT_BINARY = 3,
	REGT_DWORD = 4,
	REGT_DWORD_BE = 5,
	REGT_LINK = 6,
	REGT_MULTI_SZ = 7,
	REGT_QWORD = 11,
};

/* File types in the base block. */
enum { REGF_PRIMARY = 0, REGF_LOG_OLD = 1, REGF_LOG_OLD2 = 2, REGF_LOG_NEW = 6 };

/* The fields of a base block that matter here. */
struct regf_header {
	uint32_t seq1, seq2;
	uint64_t timestamp;
	uint32_t major, minor;
	uint32_t type, format;
	uint32_t root;
	uint32_t hbins_size;
	uint32_t cluster;
	uint32_t flags;
	uint32_t checksum;
	bool checksum_ok;
};

/* XOR-32 checksum of the first 508 bytes (0 becomes 1, -1 becomes -2). */
uint32_t regf_checksum(const unsigned char *base);

/* Recompute and store the checksum of a base block. */
void regf_set_checksum(unsigned char *base);

/* Decode the first 512 bytes of a base block (primary or log).  Fails with
 * KP_ERR_INPUT when there is no "regf" signature. */
int regf_header_parse(const unsigned char *p, size_t len,
		      struct regf_header *h, struct kp_error *err);

/* The same for a primary file, whose base block Windows replaces with a
 * log's copy when it is invalid (*Dirty state of a hive*; *Transaction log
 * files*): without the "regf" signature, a file whose first hive bin is in
 * place is still a hive, with an invalid base block (checksum_ok false). */
int regf_header_parse_primary(const unsigned char *p, size_t len,
			      struct regf_header *h, struct kp_error *err);

/* Dirty: the checksum is wrong or the sequence numbers differ. */
bool regf_header_dirty(const struct regf_header *h);

/* Check a primary file's base block against the file size: version, type,
 * root offset and a hive bins size that fits in the file.  The checksum and
 * sequence numbers are not checked here (see regf_header_dirty). */
int regf_check_primary(const unsigned char *p, size_t len,
		       struct regf_header *h, struct kp_error *err);

/* What a validation pass counted. */
struct regf_stats {
	size_t bins, cells, keys, values;
	/* Keys with two subkeys of one name (as Windows compares names),
	 * which the format forbids; the first such key and one of the two. */
	size_t dup_keys;
	uint32_t dup_parent, dup_child;
};

/* Check the whole structure: every hive bin and cell, then every key, list,
 * value, data and security cell reachable from the root, once.  A key
 * reached twice (a loop or a shared subkey), a cell outside the bins, a
 * wrong signature or a count that does not fit is corrupt (KP_ERR_INPUT).
 * Two subkeys of one name are counted in ST, not refused: Windows itself
 * loads such hives, and reading them is harmless. */
int regf_validate(const unsigned char *p, size_t len, struct regf_stats *st,
		  struct kp_error *err);

/* regf_validate with the bins taken to be HBINS_SIZE bytes, whatever the
 * base block says: a hive grown in memory before its new base block is
 * written (hive/pageedit.c). */
int regf_validate_bins(const unsigned char *p, size_t len, uint32_t hbins_size,
		       struct regf_stats *st, struct kp_error *err);

/* A read-only view of a hive file for lookups.  Every access is
 * bounds-checked, so it is safe on files that were never validated. */
struct regf {
	const unsigned char *p;
	size_t len;
	uint32_t end;		/* hbins-relative end of hive bins data */
	uint32_t minor;
	uint32_t root;
	uint32_t flags;		/* the base block's (REGF_LAYERED) */
};

/* Base block flag: the hive supports layered keys (Windows 10 1607 and
 * later, differencing hives of containers). */
#define REGF_LAYERED 0x2u

/* Set up a view; checks the base block only. */
int regf_open(struct regf *r, const void *p, size_t len, struct kp_error *err);

/* Find the subkey NAME (UTF-8, case-insensitive) of KEY.  Returns 1 and sets
 * CHILD if found, 0 if not, -1 if the structure is corrupt. */
int regf_subkey(const struct regf *r, uint32_t key, const char *name,
		uint32_t *child);

/* Find a key by a backslash-separated PATH from the root ("" is the root);
 * 1 found, 0 not found, -1 corrupt. */
int regf_lookup(const struct regf *r, const char *path, uint32_t *key);

/* Read value NAME ("" for the default value) of KEY into DATA (replacing its
 * contents) and its type into TYPE; 1 found, 0 not found, -1 corrupt. */
int regf_value(const struct regf *r, uint32_t key, const char *name,
	       uint32_t *type, struct buf *data);

/* The name of the key at KEY, or of the value record at VK, as WTF-8 (see
 * lib/utf.h: an unpaired surrogate survives), replacing OUT's contents.
 * -1 if there is no such record or its name does not fit its cell. */
int regf_key_name(const struct regf *r, uint32_t key, struct buf *out);
int regf_value_name(const struct regf *r, uint32_t vk, struct buf *out);

/* The backslash-separated path of KEY from the root (WTF-8), following
 * parent links; -1 if a link is broken or loops. */
int regf_key_path(const struct regf *r, uint32_t key, struct buf *out);

/* Is the key at KEY a tombstone (a layered key's mark for a deleted key,
 * in a hive that supports layered keys)?  1 yes, 0 no, -1 corrupt. */
int regf_key_tombstone(const struct regf *r, uint32_t key);

/* Is the value record at VK a tombstone (type 0, no data, data offset
 * 0xFFFFFFFF), the mark a layered key keeps for a value deleted in a
 * lower layer?  1 yes, 0 no, -1 not a value record. */
int regf_value_tombstone(const struct regf *r, uint32_t vk);

/* The LastWriteTime (FILETIME) of the key at KEY; -1 if not a key. */
int regf_key_timestamp(const struct regf *r, uint32_t key, uint64_t *ts);

/* Number of subkeys and values of KEY, or -1 if it is not a key. */
long regf_nr_subkeys(const struct regf *r, uint32_t key);
long regf_nr_values(const struct regf *r, uint32_t key);

/* Build an empty hive: a base block and one hive bin holding the root key
 * "ROOT" with a default security descriptor.  TIMESTAMP is a FILETIME. */
int regf_new_empty(struct buf *out, uint64_t timestamp, struct kp_error *err);

/* The current time as a FILETIME (100 ns units since 1601). */
uint64_t regf_filetime_now(void);

/* Little-endian accessors shared with the log recovery code. */
static inline uint16_t
regf_le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t
regf_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t
regf_le64(const unsigned char *p)
{
	return (uint64_t)regf_le32(p) | (uint64_t)regf_le32(p + 4) << 32;
}

static inline void
regf_put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static inline void
regf_put64(unsigned char *p, uint64_t v)
{
	regf_put32(p, (uint32_t)v);
	regf_put32(p + 4, (uint32_t)(v >> 32));
}

#endif
