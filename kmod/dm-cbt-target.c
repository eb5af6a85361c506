// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-cbt: changed block tracking target.
 *
 * Passes every bio to one device, like dm-linear, and records the blocks
 * written, discarded or zeroed in the change set of the device's volume
 * (cbt-volume.c).  Userspace reads and cycles the change set over generic
 * netlink (cbt-genl.c).  See dm-cbt.rst.
 */

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/device-mapper.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/log2.h>
#include <linux/module.h>
#include <linux/sizes.h>
#include <linux/slab.h>

#include "cbt-bitmap.h"
#include "cbt-genl.h"
#include "cbt-volume.h"
#include "cbt-wil.h"

#define DM_MSG_PREFIX "cbt"

#define CBT_MIN_BLOCK_SIZE	512U
#define CBT_MAX_BLOCK_SIZE	SZ_1M
#define CBT_MAX_OPT_ARGS	11U
#define CBT_MAX_RING_SIZE	BIT(24)		/* records; 640 MiB */
#define CBT_MAX_MEMORY_CAP	BIT(30)		/* MiB */
#define CBT_MAX_REGION_SIZE	BIT_ULL(40)

struct cbt_target {
	struct dm_target *ti;
	struct dm_dev *dev;
	struct cbt_volume *vol;
	struct cbt_volume_update *upd;	/* applied on the first resume */
	u32 block_size;
	bool opt_group;			/* an optional group was given */

	/* Optional arguments; printed back in this order. */
	bool has_ring_size;
	u32 ring_size;
	bool has_memory_cap;
	unsigned long memory_cap;	/* MiB */
	bool no_discard_passdown;
	char *metadata_path;		/* kstrdup'd; NULL: no log */
	bool has_region_size;
	u64 region_size;		/* bytes */

	bool has_data_of;
	dev_t data_of;			/* the device whose data dev presents */

	struct dm_dev *meta_dev;
	struct cbt_wil *wil;
};

/* Per-bio data: which in-flight generation counted the bio, if any. */
struct cbt_io {
	unsigned int gen;
	bool tracked;
	bool flush;		/* an empty flush: its completion ends an epoch */
};

/* ---- Constructor and destructor ---- */

static void cbt_wil_start(void *ctx, struct bio *bio);

static int parse_block_size(struct cbt_target *cbt, const char *arg,
			    char **error)
{
	unsigned int bs;

	/* Plain digits only, so the table line reads back as given. */
	if (arg[0] < '0' || arg[0] > '9' || (arg[0] == '0' && arg[1]) ||
	    kstrtouint(arg, 10, &bs)) {
		*error = "Invalid block size: not a decimal number";
		return -EINVAL;
	}
	if (bs < CBT_MIN_BLOCK_SIZE || bs > CBT_MAX_BLOCK_SIZE) {
		*error = "Invalid block size: must be 512 to 1048576 bytes";
		return -EINVAL;
	}
	if (!is_power_of_2(bs)) {
		*error = "Invalid block size: not a power of two";
		return -EINVAL;
	}
	cbt->block_size = bs;
	return 0;
}

/* Plain decimal digits, no sign or leading zero, so tables read back. */
static int parse_decimal(const char *arg, unsigned long max,
			 unsigned long *val)
{
	if (!arg || arg[0] < '0' || arg[0] > '9' || (arg[0] == '0' && arg[1]) ||
	    kstrtoul(arg, 10, val) || *val > max)
		return -EINVAL;
	return 0;
}

/* "major:minor" (as tables print devices) or a block device path. */
static int parse_devt(const char *arg, dev_t *devt)
{
	unsigned int major, minor;
	char dummy;

	if (sscanf(arg, "%u:%u%c", &major, &minor, &dummy) == 2) {
		*devt = MKDEV(major, minor);
		if (MAJOR(*devt) != major || MINOR(*devt) != minor)
			return -EOVERFLOW;
		return 0;
	}
	return lookup_bdev(arg, devt);
}

static int parse_one_opt(struct cbt_target *cbt, struct dm_arg_set *as,
			 unsigned int *argc, char **error)
{
	const char *name = dm_shift_arg(as);
	unsigned long val;

	(*argc)--;
	if (!strcasecmp(name, "no_discard_passdown")) {
		if (cbt->no_discard_passdown)
			goto duplicate;
		cbt->no_discard_passdown = true;
		return 0;
	}
	if (!strcasecmp(name, "ring_size")) {
		if (cbt->has_ring_size)
			goto duplicate;
		if (!*argc || parse_decimal(dm_shift_arg(as), CBT_MAX_RING_SIZE, &val)) {
			*error = "Invalid ring_size: need a number of records from 0 to 16777216";
			return -EINVAL;
		}
		(*argc)--;
		cbt->has_ring_size = true;
		cbt->ring_size = val;
		return 0;
	}
	if (!strcasecmp(name, "memory_cap")) {
		if (cbt->has_memory_cap)
			goto duplicate;
		if (!*argc || parse_decimal(dm_shift_arg(as), CBT_MAX_MEMORY_CAP, &val)) {
			*error = "Invalid memory_cap: need a number of MiB from 0 to 1073741824";
			return -EINVAL;
		}
		(*argc)--;
		cbt->has_memory_cap = true;
		cbt->memory_cap = val;
		return 0;
	}
	if (!strcasecmp(name, "metadata")) {
		if (cbt->metadata_path)
			goto duplicate;
		if (!*argc) {
			*error = "Invalid metadata: need a device";
			return -EINVAL;
		}
		(*argc)--;
		cbt->metadata_path = kstrdup(dm_shift_arg(as), GFP_KERNEL);
		if (!cbt->metadata_path) {
			*error = "Cannot allocate the metadata device name";
			return -ENOMEM;
		}
		return 0;
	}
	if (!strcasecmp(name, "data_of")) {
		if (cbt->has_data_of)
			goto duplicate;
		if (!*argc) {
			*error = "Invalid data_of: need a device";
			return -EINVAL;
		}
		(*argc)--;
		if (parse_devt(dm_shift_arg(as), &cbt->data_of)) {
			*error = "Invalid data_of: not a block device or major:minor";
			return -EINVAL;
		}
		cbt->has_data_of = true;
		return 0;
	}
	if (!strcasecmp(name, "region_size")) {
		if (cbt->has_region_size)
			goto duplicate;
		if (!*argc || parse_decimal(dm_shift_arg(as), ULONG_MAX, &val) ||
		    val > CBT_MAX_REGION_SIZE || !is_power_of_2(val)) {
			*error = "Invalid region_size: need a power of two of bytes, at most 2^40";
			return -EINVAL;
		}
		(*argc)--;
		cbt->has_region_size = true;
		cbt->region_size = val;
		return 0;
	}
	*error = "Unknown optional argument";
	return -EINVAL;

duplicate:
	*error = "Optional argument given twice";
	return -EINVAL;
}

/*
 * [<#opt_args> [ring_size N] [memory_cap MiB] [no_discard_passdown]
 *  [metadata <dev> [region_size <bytes>]] [data_of <dev>]]
 */
static int parse_optional_args(struct cbt_target *cbt, struct dm_arg_set *as,
			       char **error)
{
	static const struct dm_arg _args[] = {
		{0, CBT_MAX_OPT_ARGS, "Invalid number of optional arguments"},
	};
	unsigned int argc;
	int r;

	if (!as->argc)
		return 0;

	r = dm_read_arg_group(_args, as, &argc, error);
	if (r)
		return r;
	cbt->opt_group = true;
	while (argc) {
		r = parse_one_opt(cbt, as, &argc, error);
		if (r)
			return r;
	}
	if (as->argc) {
		*error = "Too many arguments after the optional arguments";
		return -EINVAL;
	}
	if (cbt->has_region_size && !cbt->metadata_path) {
		*error = "Invalid region_size: only with metadata <dev>";
		return -EINVAL;
	}
	if (cbt->has_region_size && cbt->region_size < cbt->block_size) {
		*error = "Invalid region_size: smaller than the block size";
		return -EINVAL;
	}
	return 0;
}

/* The user-visible name of @md ("vol0"), else its "major:minor". */
static void get_md_name(struct mapped_device *md, char *name)
{
	if (dm_copy_name_and_uuid(md, name, NULL))
		strscpy(name, dm_device_name(md), DM_NAME_LEN);
}

/*
 * Construct a cbt mapping:
 *   <dev_path> <block_size> [<#opt_args> <opt_args>...]
 */
static int cbt_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct mapped_device *md = dm_table_get_md(ti->table);
	struct dm_arg_set as = { .argc = argc, .argv = argv };
	struct cbt_volume_params params;
	char name[DM_NAME_LEN];
	struct cbt_target *cbt;
	const char *dev_path;
	int r;

	if (argc < 2) {
		ti->error = "Not enough arguments: need <dev_path> <block_size>";
		return -EINVAL;
	}

	cbt = kzalloc(sizeof(*cbt), GFP_KERNEL);
	if (!cbt) {
		ti->error = "Cannot allocate cbt context";
		return -ENOMEM;
	}
	cbt->ti = ti;

	dev_path = dm_shift_arg(&as);
	r = parse_block_size(cbt, dm_shift_arg(&as), &ti->error);
	if (r)
		goto bad;
	r = parse_optional_args(cbt, &as, &ti->error);
	if (r)
		goto bad;

	r = dm_get_device(ti, dev_path, dm_table_get_mode(ti->table), &cbt->dev);
	if (r) {
		ti->error = "Error opening device";
		goto bad;
	}
	if (ti->len > bdev_nr_sectors(cbt->dev->bdev)) {
		ti->error = "Device is smaller than the target";
		r = -EINVAL;
		goto bad_dev;
	}

	if (cbt->metadata_path) {
		r = dm_get_device(ti, cbt->metadata_path,
				  dm_table_get_mode(ti->table), &cbt->meta_dev);
		if (r) {
			ti->error = "Error opening metadata device";
			goto bad_dev;
		}
		if (cbt->meta_dev->bdev == cbt->dev->bdev ||
		    (cbt->has_data_of &&
		     cbt->meta_dev->bdev->bd_dev == cbt->data_of)) {
			ti->error = "Metadata device is the data device";
			r = -EINVAL;
			goto bad_meta;
		}
		r = cbt_wil_create(cbt->meta_dev->bdev, cbt->block_size, ti->len,
				   cbt->has_region_size ? cbt->region_size :
				   CBT_WIL_DEFAULT_REGION_SIZE,
				   cbt_wil_start, cbt, &cbt->wil, &ti->error);
		if (r)
			goto bad_meta;
	}

	params.devt = disk_devt(dm_disk(md));
	get_md_name(md, name);
	params.name = name;
	/*
	 * The volume is known by the device whose data it tracks: a table on
	 * a device stacked over the disk (data_of) and one on the disk itself
	 * share it.  Without data_of another device is another volume.
	 */
	params.backing_devt = cbt->has_data_of ? cbt->data_of :
			      cbt->dev->bdev->bd_dev;
	params.block_size = cbt->block_size;
	params.len = ti->len;
	params.ring_size = cbt->ring_size;
	params.memory_cap = cbt->has_memory_cap ? (long)cbt->memory_cap : -1;
	r = cbt_volume_attach(&params, &cbt->vol, &cbt->upd);
	if (r) {
		ti->error = "Cannot allocate tracking state";
		goto bad_wil;
	}
	if (cbt->upd && cbt->has_data_of)
		DMINFO("%s: new table on %s keeps the tracking state of %u:%u (data_of)",
		       params.name, cbt->dev->name, MAJOR(cbt->data_of),
		       MINOR(cbt->data_of));
	else if (cbt->upd)
		DMINFO("%s: new table keeps the tracking state of the old one",
		       params.name);

	ti->num_flush_bios = 1;
	ti->num_discard_bios = 1;
	/* Discards are completed here, whatever the device supports. */
	ti->discards_supported = cbt->no_discard_passdown;
	ti->num_secure_erase_bios = 1;
	ti->num_write_zeroes_bios = 1;
	ti->per_io_data_size = sizeof(struct cbt_io);
	ti->private = cbt;
	return 0;

bad_wil:
	if (cbt->wil)
		cbt_wil_destroy(cbt->wil);
bad_meta:
	if (cbt->meta_dev)
		dm_put_device(ti, cbt->meta_dev);
bad_dev:
	dm_put_device(ti, cbt->dev);
bad:
	kfree(cbt->metadata_path);
	kfree(cbt);
	return r;
}

static void cbt_dtr(struct dm_target *ti)
{
	struct cbt_target *cbt = ti->private;

	if (cbt->wil) {
		/* dm suspends a live table first: the log is clean now. */
		cbt_wil_suspend(cbt->wil);
		/* Unshipped changes of a volume that ends stay in the log. */
		if (cbt_volume_sole_table(cbt->vol))
			cbt_wil_keep_changes(cbt->wil, cbt->vol);
		cbt_wil_destroy(cbt->wil);
		dm_put_device(ti, cbt->meta_dev);
	}
	cbt_volume_detach(cbt->vol, &cbt->upd);
	dm_put_device(ti, cbt->dev);
	kfree(cbt->metadata_path);
	kfree(cbt);
}

/* ---- I/O ---- */

/* The ring record op of a bio that changes data, or 0 if it does not. */
static u8 bio_record_op(struct bio *bio)
{
	if (!bio_sectors(bio))
		return 0;

	switch (bio_op(bio)) {
	case REQ_OP_WRITE:
		return bio->bi_opf & REQ_FUA ? CBT_REC_FUA : CBT_REC_WRITE;
	case REQ_OP_DISCARD:
	case REQ_OP_SECURE_ERASE:
		return CBT_REC_DISCARD;
	case REQ_OP_WRITE_ZEROES:
		return CBT_REC_WRITE_ZEROES;
	default:
		return 0;
	}
}

/* A write allowed through the write-intent log; under its lock. */
static void cbt_wil_start(void *ctx, struct bio *bio)
{
	struct cbt_target *cbt = ctx;
	struct cbt_io *io = dm_per_bio_data(bio, sizeof(*io));

	io->gen = cbt_volume_start_write(cbt->vol, bio->bi_iter.bi_sector,
					 bio_sectors(bio), bio_record_op(bio));
	io->tracked = true;
}

/*
 * Bios are recorded when mapped, in the same volume lock hold that marks
 * the bitmap, so the ring's order is the order in which changes entered
 * the change set, and a write that never completes is still recorded.
 * dm core sends flushes as empty bios (data follows separately).
 */
static int cbt_map(struct dm_target *ti, struct bio *bio)
{
	struct cbt_target *cbt = ti->private;
	struct cbt_io *io = dm_per_bio_data(bio, sizeof(*io));
	u8 op;

	bio_set_dev(bio, cbt->dev->bdev);
	bio->bi_iter.bi_sector = dm_target_offset(ti, bio->bi_iter.bi_sector);

	io->tracked = false;
	io->flush = false;
	op = bio_record_op(bio);
	if (op && cbt->wil &&
	    !(op == CBT_REC_DISCARD && cbt->no_discard_passdown)) {
		/* Queued until its regions are durable in the log. */
		if (!cbt_wil_map(cbt->wil, bio))
			return DM_MAPIO_SUBMITTED;
	} else if (op) {
		io->gen = cbt_volume_start_write(cbt->vol, bio->bi_iter.bi_sector,
						 bio_sectors(bio), op);
		if (op == CBT_REC_DISCARD && cbt->no_discard_passdown) {
			/* Tracked as a change; the device keeps its data. */
			cbt_volume_end_write(cbt->vol, io->gen);
			bio_endio(bio);
			return DM_MAPIO_SUBMITTED;
		}
		io->tracked = true;
	} else if (bio->bi_opf & REQ_PREFLUSH) {
		cbt_volume_flush(cbt->vol);
		io->flush = true;
	}
	return DM_MAPIO_REMAPPED;
}

static int cbt_end_io(struct dm_target *ti, struct bio *bio,
		      blk_status_t *error)
{
	struct cbt_target *cbt = ti->private;
	struct cbt_io *io = dm_per_bio_data(bio, sizeof(*io));

	if (io->tracked)
		cbt_volume_end_write(cbt->vol, io->gen);
	else if (io->flush && !*error)
		cbt_volume_flush_done(cbt->vol);
	return DM_ENDIO_DONE;
}

/* ---- Status, resume, devices ---- */

/*
 * Status format:
 *
 * <block size> <dirty blocks>/<total blocks> <frozen blocks> <cycle>
 * <frozen|idle> <tracking|degraded> <ring records>/<ring size>
 * <lost records> <overflow|-> <epoch> <resync|->
 */
static void cbt_status(struct dm_target *ti, status_type_t type,
		       unsigned int status_flags, char *result,
		       unsigned int maxlen)
{
	struct cbt_target *cbt = ti->private;
	struct cbt_volume_info info;
	size_t sz = 0;

	switch (type) {
	case STATUSTYPE_INFO:
		cbt_volume_get_info(cbt->vol, &info);
		DMEMIT("%u %llu/%llu %llu %llu %s %s %u/%u %llu %s %u %s",
		       info.block_size, info.dirty_blocks, info.nr_blocks,
		       info.frozen_blocks, info.cycle,
		       info.frozen ? "frozen" : "idle",
		       info.state == CBT_STATE_DEGRADED ? "degraded" : "tracking",
		       info.ring_fill, info.ring_size, info.ring_lost,
		       info.ring_overflow ? "overflow" : "-", info.epoch,
		       info.resync_required ? "resync" : "-");
		break;

	case STATUSTYPE_TABLE:
		DMEMIT("%s %u", cbt->dev->name, cbt->block_size);
		if (cbt->opt_group)
			DMEMIT(" %u", 2 * cbt->has_ring_size +
			       2 * cbt->has_memory_cap + cbt->no_discard_passdown +
			       2 * !!cbt->metadata_path + 2 * cbt->has_region_size +
			       2 * cbt->has_data_of);
		if (cbt->has_ring_size)
			DMEMIT(" ring_size %u", cbt->ring_size);
		if (cbt->has_memory_cap)
			DMEMIT(" memory_cap %lu", cbt->memory_cap);
		if (cbt->no_discard_passdown)
			DMEMIT(" no_discard_passdown");
		if (cbt->metadata_path)
			DMEMIT(" metadata %s", cbt->meta_dev->name);
		if (cbt->has_region_size)
			DMEMIT(" region_size %llu", cbt->region_size);
		if (cbt->has_data_of)
			DMEMIT(" data_of %u:%u", MAJOR(cbt->data_of),
			       MINOR(cbt->data_of));
		break;

	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",device_name=%s,block_size=%u,ring_size=%u",
		       cbt->dev->name, cbt->block_size, cbt->ring_size);
		DMEMIT(",memory_cap=%ld,no_discard_passdown=%c",
		       cbt->has_memory_cap ? (long)cbt->memory_cap : -1L,
		       cbt->no_discard_passdown ? 'y' : 'n');
		DMEMIT(",metadata=%s", cbt->meta_dev ? cbt->meta_dev->name : "-");
		if (cbt->has_data_of)
			DMEMIT(",data_of=%u:%u;", MAJOR(cbt->data_of),
			       MINOR(cbt->data_of));
		else
			DMEMIT(",data_of=-;");
		break;
	}
}

/*
 * All I/O of the suspended device has completed: check that the volume
 * agrees, and settle what was waiting on that I/O (a FREEZE draining the
 * old generation, ring events queued by the map path).
 */
static void cbt_postsuspend(struct dm_target *ti)
{
	struct cbt_target *cbt = ti->private;

	cbt_volume_suspended(cbt->vol);
	if (cbt->wil)
		cbt_wil_suspend(cbt->wil);
}

/*
 * Refuse to resume onto a device that no longer covers the table (it
 * shrank while the dm device was suspended or since the table was
 * loaded): writes past its end would fail and reads return errors.
 */
static int cbt_preresume(struct dm_target *ti)
{
	struct cbt_target *cbt = ti->private;
	sector_t dev_len = bdev_nr_sectors(cbt->dev->bdev);
	char name[DM_NAME_LEN];

	if (dev_len < ti->len) {
		get_md_name(dm_table_get_md(ti->table), name);
		DMERR("%s: device %s shrank to %llu sectors, table needs %llu: not resuming",
		      name, cbt->dev->name, (unsigned long long)dev_len,
		      (unsigned long long)ti->len);
		return -EINVAL;
	}
	if (cbt->wil) {
		get_md_name(dm_table_get_md(ti->table), name);
		return cbt_wil_resume(cbt->wil, cbt->vol, name);
	}
	return 0;
}

static void cbt_resume(struct dm_target *ti)
{
	struct cbt_target *cbt = ti->private;
	char name[DM_NAME_LEN];

	get_md_name(dm_table_get_md(ti->table), name);
	cbt_volume_activate(cbt->vol, &cbt->upd, name);
}

/* "tag <u64>": append a tag record to the ring. */
static int cbt_message(struct dm_target *ti, unsigned int argc, char **argv,
		       char *result, unsigned int maxlen)
{
	struct cbt_target *cbt = ti->private;
	u64 tag;
	int r;

	if (argc != 2 || strcasecmp(argv[0], "tag")) {
		DMERR("%s: unknown message: expected \"tag <number>\"",
		      dm_device_name(dm_table_get_md(ti->table)));
		return -EINVAL;
	}
	if (kstrtou64(argv[1], 0, &tag)) {
		DMERR("%s: tag: not a 64-bit number: %s",
		      dm_device_name(dm_table_get_md(ti->table)), argv[1]);
		return -EINVAL;
	}
	r = cbt_volume_tag(cbt->vol, tag);
	if (r == -ENOSPC)
		DMERR("%s: tag: the table has no ring (ring_size)",
		      dm_device_name(dm_table_get_md(ti->table)));
	return r;
}

static void cbt_io_hints(struct dm_target *ti, struct queue_limits *limits)
{
	struct cbt_target *cbt = ti->private;

	if (cbt->no_discard_passdown) {
		/* Discards end here: any size, at tracking granularity. */
		limits->discard_granularity = cbt->block_size;
		limits->max_discard_sectors = UINT_MAX >> SECTOR_SHIFT;
		limits->max_hw_discard_sectors = UINT_MAX >> SECTOR_SHIFT;
	}
}

static int cbt_iterate_devices(struct dm_target *ti,
			       iterate_devices_callout_fn fn, void *data)
{
	struct cbt_target *cbt = ti->private;

	return fn(ti, cbt->dev, 0, ti->len, data);
}

/*
 * No prepare_ioctl: passing SCSI ioctls through would let SG_IO writes
 * bypass tracking.  No DAX for the same reason.
 */
static struct target_type cbt_target = {
	.name = "cbt",
	.version = {1, 4, 0},
	.features = DM_TARGET_SINGLETON | DM_TARGET_NOWAIT,
	.module = THIS_MODULE,
	.ctr = cbt_ctr,
	.dtr = cbt_dtr,
	.map = cbt_map,
	.end_io = cbt_end_io,
	.status = cbt_status,
	.postsuspend = cbt_postsuspend,
	.preresume = cbt_preresume,
	.resume = cbt_resume,
	.message = cbt_message,
	.io_hints = cbt_io_hints,
	.iterate_devices = cbt_iterate_devices,
};

/* ---- Module ---- */

static int __init dm_cbt_init(void)
{
	int r;

	r = cbt_bitmap_init();
	if (r) {
		DMERR("cannot create the bitmap leaf cache: %d", r);
		return r;
	}
	r = dm_register_target(&cbt_target);
	if (r) {
		DMERR("register target failed: %d", r);
		goto bad_target;
	}
	r = cbt_genl_register();
	if (r) {
		DMERR("register generic netlink family failed: %d", r);
		goto bad_genl;
	}
	return 0;

bad_genl:
	dm_unregister_target(&cbt_target);
bad_target:
	cbt_bitmap_exit();
	return r;
}

static void __exit dm_cbt_exit(void)
{
	cbt_genl_unregister();
	dm_unregister_target(&cbt_target);
	cbt_bitmap_exit();
}

module_init(dm_cbt_init);
module_exit(dm_cbt_exit);

MODULE_DESCRIPTION(DM_NAME " changed block tracking target");
MODULE_LICENSE("GPL");
