/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The image commands' shared parts (cli/cmd-image*.c, image-batch.c). */
#ifndef KP_CLI_IMAGE_H
#define KP_CLI_IMAGE_H

#include "cli.h"
#include "report.h"

struct image_args {
	bool json, dry_run, clear_search, activate;
	bool allow_refs;	/* --allow-backing-file */
	bool gvlk_unlisted;	/* --gvlk-unlisted */
	unsigned hive_flags;	/* HIVE_FORCE_DIRTY */
	enum gen_mode mode;
	const char *backend;	/* --backend */
	unsigned long jobs;	/* -j: images written at once */
	unsigned long timeout;	/* --request-timeout, seconds */
	const char *format, *overlay, *bitlocker, *search, *gvlk, *cloudbase;
	const char *cloud;	/* --cloud */
	char *search_norm;
	const char **roots;
	size_t nroots;
	unsigned *indexes;	/* --index N (WIM files) */
	size_t nindexes;
	struct spp_settings settings;
	struct cli *cli;
	const char *pubkey;	/* kms kit apply */
	bool allow_unsigned;	/* kms kit apply */
	struct kit kit;
	/* image batch: a plan per image, the device to choose per image
	 * (NULL: --root's), and the listener (cli/events.c) */
	const struct img_plan *plans;
	const char *const *root_of;
	const unsigned *index_of;	/* image batch: a plan's "index" per
					 * image (0: every one) */
	const bool *passable;		/* image batch: per image, an index
					 * its entry did not name (as
					 * img_expanded.passable) */
	struct cli_events *events;
	const char *events_fmt;	/* --events */
};

#define ARGS struct image_args

/* --root DEVICE (repeatable). */
int image_opt_root(struct cli *c, void *ud, const char *name, const char *arg,
		   struct kp_error *err);
/* --index N (repeatable). */
int image_opt_index(struct cli *c, void *ud, const char *name,
		    const char *arg, struct kp_error *err);

/* Progress (silenced by --quiet) and what is said even with --quiet. */
void image_notice(void *ud, const char *msg);
void image_warning(void *ud, const char *msg);
/* Slow steps as they go, on standard error only when it is a terminal
 * (cli/progress.h); silenced by --quiet too. */
img_progress_fn image_progress;

void image_args_release(struct image_args *a);

/* The image options from A (READONLY: a dry run or show); prints a bad
 * option's error and returns its exit code, else 0. */
int image_opts(struct cli *c, const struct image_args *a, bool readonly,
	       struct img_opts *o);

/* Open the images and find Windows; prints its own errors.  A WIM file
 * is opened once per image (index): *X lists what was (img_expand). */
int image_open(struct cli *c, struct image_args *a, char **pos, int npos,
	       bool readonly, struct img_session **s, struct img_expanded *x);

/* A generalization plan's notes, as JSON. */
json_t *image_notes_json(const struct stage *p);

/* The flow of every writing image command, on img_batch (prep/batch.h). */
int image_run_batch(struct cli *c, struct image_args *a, char **pos, int npos,
		    const struct img_plan *plan);

/* The listener of image batch (cli/events.c): JSON lines on stdout
 * (--events jsonl) and a progress bar on stderr when it is a terminal. */
struct cli_events;
/* N images: each one's path as given, its place among the plan's images
 * or the IMAGE arguments (INDEX; NULL: I) and, for an image of a WIM
 * file, its index in the WIM (WIM_INDEX, 0 or NULL: none). */
struct cli_events *events_new(struct cli *c, bool jsonl, char *const *names,
			      const size_t *index, const unsigned *wim_index,
			      size_t n);
/* The plan as read: its size and how many of its images this shard has
 * (a WIM file counts once, however many of its indexes are images of the
 * events), the shard ("I/N" or NULL), dry run. */
void events_plan(struct cli_events *e, size_t total, size_t selected,
		 const char *shard, bool dry_run);
void events_backend(struct cli_events *e, const char *backend);
/* A failure before any image was started (the images could not be
 * opened), with REASON as the command prints it. */
void events_error(struct cli_events *e, const char *reason);
/* The images' prepared state, for their change events. */
void events_attach(struct cli_events *e, const struct img_prepared *t);
img_event_fn events_batch;
/* Is the progress bar drawn (the per-image notices would break it)? */
bool events_bar(const struct cli_events *e);
/* The end: every image not yet finished is, then "done" with CODE. */
void events_done(struct cli_events *e, int code);
void events_free(struct cli_events *e);

/* The plan's common part (dry run, --force-dirty, hive notes) from A. */
struct img_plan image_plan(struct cli *c, const struct image_args *a);

#define IMAGE_COMMON_OPTS \
	OPT_STRING("backend", 0, "direct|appliance|wim|auto", ARGS, backend, \
	  "direct: libntfs-3g in a sandboxed worker per image, no appliance; " \
	  "appliance: libguestfs; wim: wimlib in a sandboxed worker, for WIM " \
	  "files; auto (default): wim for WIM files, else direct when every " \
	  "image holds Windows on plain NTFS, else the appliance, saying why"), \
	OPT_STRING("format", 0, "raw|qcow2|vmdk|vhdx|vpc|vdi|wim", ARGS, \
	  format, \
	  "the format of every IMAGE (default: read from its header by " \
	  "kmsprep; vhd is vpc)"), \
	OPT_BOOL("allow-backing-file", 0, ARGS, allow_refs, \
	  "accept an image that names other files (a backing file, an " \
	  "external data file, VMDK extents), each checked in turn; without " \
	  "it such an image is refused, since qemu would open whatever it " \
	  "names"), \
	OPT_FN("root", 0, "DEVICE", image_opt_root, \
	  "the Windows installation to use on an image that holds several " \
	  "(as listed by image show, e.g. /dev/sda2); repeatable"), \
	OPT_FN("index", 0, "N", image_opt_index, \
	  "of a WIM file, only image N (as listed by image show); " \
	  "repeatable; one without Windows is an error (exit 3); default: " \
	  "every image holding Windows, the others passed over with a " \
	  "note"), \
	OPT_STRING("bitlocker-key-file", 0, "FILE", ARGS, bitlocker, \
	  "unlock BitLocker volumes with the recovery password in FILE"), \
	OPT_UINT("request-timeout", 0, "SECONDS", ARGS, timeout, 2, 3600, \
	  "give each request to an image's sandboxed workers (NTFS or " \
	  "WIM, hives) this long (default 60; a WIM worker's, and each " \
	  "call into the appliance, 120), " \
	  "each read or write of an NBD server half of it; " \
	  "then kmsprep stops: exit 5 if the storage kept it waiting, " \
	  "3 if the image made the worker or the appliance loop"), \
	OPT_QUIET()

/* --events jsonl (image set, generalize, batch). */
#define IMAGE_EVENTS_OPT \
	OPT_STRING("events", 0, "jsonl", ARGS, events_fmt, \
	  "print progress as JSON lines on standard output as work happens " \
	  "(schema in docs/scale.md) instead of the report at the end")

/* The options of every command that writes images. */
/* -j N, of image set, generalize and batch. */
#define IMAGE_JOBS_OPT \
	OPT_UINT("jobs", 'j', "N", ARGS, jobs, 1, 64, \
	  "prepare and write up to N images at once, each by its own worker " \
	  "(direct backend; N hives in memory); default: one per processor, " \
	  "at most one per 512 MiB of available memory (a container's limits " \
	  "included); results in the " \
	  "images' order")

#define IMAGE_WRITE_OPTS \
	OPT_BOOL("dry-run", 'n', ARGS, dry_run, \
	  "print the changes (before -> after) and write nothing; the images " \
	  "are opened read-only"), \
	OPT_STRING("overlay", 0, "OUT", ARGS, overlay, \
	  "leave IMAGE unmodified and write the changes to a new qcow2 " \
	  "overlay backed by it (one IMAGE only); for a WIM file, to a new " \
	  "WIM holding every image of it with the changes, whose name must " \
	  "end in .wim"), \
	OPT_BIT("force-dirty", 0, ARGS, hive_flags, HIVE_FORCE_DIRTY, \
	  "write a dirty hive whose logs cannot be replayed (or only in part); " \
	  "Windows' pending changes in them are lost"), \
	OPT_BOOL("json", 0, ARGS, json, "print JSON instead of text"), \
	IMAGE_JOBS_OPT, \
	IMAGE_COMMON_OPTS

#endif
