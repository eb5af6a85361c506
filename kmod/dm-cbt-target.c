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

#include "cbt-genl.h"
#include "cbt-volume.h"

#define DM_MSG_PREFIX "cbt"

#define CBT_MIN_BLOCK_SIZE	512U
#define CBT_MAX_BLOCK_SIZE	SZ_1M
#define CBT_MAX_OPT_ARGS	8U

struct cbt_target {
	struct dm_target *ti;
	struct dm_dev *dev;
	struct cbt_volume *vol;
	u32 block_size;
	unsigned int nr_opt_args;	/* as given, for the table line */
	bool opt_group;			/* an optional group was given */
};

/* Per-bio data: which in-flight generation counted the bio, if any. */
struct cbt_io {
	unsigned int gen;
	bool tracked;
};

/* ---- Constructor and destructor ---- */

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

/* No optional arguments are defined yet; the group is parsed for later. */
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
	cbt->nr_opt_args = argc;
	if (argc) {
		*error = "Unknown optional argument";
		return -EINVAL;
	}
	if (as->argc) {
		*error = "Too many arguments after the optional arguments";
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
	bool shared;
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

	params.devt = disk_devt(dm_disk(md));
	get_md_name(md, name);
	params.name = name;
	params.backing_devt = cbt->dev->bdev->bd_dev;
	params.block_size = cbt->block_size;
	params.len = ti->len;
	r = cbt_volume_attach(&params, &cbt->vol, &shared);
	if (r) {
		ti->error = "Cannot allocate tracking state";
		goto bad_dev;
	}
	if (shared)
		DMINFO("%s: new table keeps the tracking state of the old one",
		       params.name);

	ti->num_flush_bios = 1;
	ti->num_discard_bios = 1;
	ti->num_secure_erase_bios = 1;
	ti->num_write_zeroes_bios = 1;
	ti->per_io_data_size = sizeof(struct cbt_io);
	ti->private = cbt;
	return 0;

bad_dev:
	dm_put_device(ti, cbt->dev);
bad:
	kfree(cbt);
	return r;
}

static void cbt_dtr(struct dm_target *ti)
{
	struct cbt_target *cbt = ti->private;

	cbt_volume_detach(cbt->vol);
	dm_put_device(ti, cbt->dev);
	kfree(cbt);
}

/* ---- I/O ---- */

/* Does @bio change data?  Empty flushes do not. */
static bool bio_changes_blocks(struct bio *bio)
{
	if (!bio_sectors(bio))
		return false;

	switch (bio_op(bio)) {
	case REQ_OP_WRITE:
	case REQ_OP_DISCARD:
	case REQ_OP_SECURE_ERASE:
	case REQ_OP_WRITE_ZEROES:
		return true;
	default:
		return false;
	}
}

static int cbt_map(struct dm_target *ti, struct bio *bio)
{
	struct cbt_target *cbt = ti->private;
	struct cbt_io *io = dm_per_bio_data(bio, sizeof(*io));

	bio_set_dev(bio, cbt->dev->bdev);
	bio->bi_iter.bi_sector = dm_target_offset(ti, bio->bi_iter.bi_sector);

	io->tracked = bio_changes_blocks(bio);
	if (io->tracked)
		io->gen = cbt_volume_start_write(cbt->vol, bio->bi_iter.bi_sector,
						 bio_sectors(bio));
	return DM_MAPIO_REMAPPED;
}

static int cbt_end_io(struct dm_target *ti, struct bio *bio,
		      blk_status_t *error)
{
	struct cbt_target *cbt = ti->private;
	struct cbt_io *io = dm_per_bio_data(bio, sizeof(*io));

	if (io->tracked)
		cbt_volume_end_write(cbt->vol, io->gen);
	return DM_ENDIO_DONE;
}

/* ---- Status, resume, devices ---- */

/*
 * Status format:
 *
 * <block size> <dirty blocks>/<total blocks> <frozen blocks> <cycle>
 * <frozen|idle> <tracking|degraded>
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
		DMEMIT("%u %llu/%llu %llu %llu %s %s", info.block_size,
		       info.dirty_blocks, info.nr_blocks, info.frozen_blocks,
		       info.cycle, info.frozen ? "frozen" : "idle",
		       info.state == CBT_STATE_DEGRADED ? "degraded" : "tracking");
		break;

	case STATUSTYPE_TABLE:
		DMEMIT("%s %u", cbt->dev->name, cbt->block_size);
		if (cbt->opt_group)
			DMEMIT(" %u", cbt->nr_opt_args);
		break;

	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",device_name=%s,block_size=%u;", cbt->dev->name,
		       cbt->block_size);
		break;
	}
}

static void cbt_resume(struct dm_target *ti)
{
	struct cbt_target *cbt = ti->private;
	char name[DM_NAME_LEN];

	get_md_name(dm_table_get_md(ti->table), name);
	cbt_volume_activate(cbt->vol, name);
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
	.version = {1, 0, 0},
	.features = DM_TARGET_SINGLETON,
	.module = THIS_MODULE,
	.ctr = cbt_ctr,
	.dtr = cbt_dtr,
	.map = cbt_map,
	.end_io = cbt_end_io,
	.status = cbt_status,
	.resume = cbt_resume,
	.iterate_devices = cbt_iterate_devices,
};

/* ---- Module ---- */

static int __init dm_cbt_init(void)
{
	int r;

	r = dm_register_target(&cbt_target);
	if (r) {
		DMERR("register target failed: %d", r);
		return r;
	}
	r = cbt_genl_register();
	if (r) {
		DMERR("register generic netlink family failed: %d", r);
		dm_unregister_target(&cbt_target);
		return r;
	}
	return 0;
}

static void __exit dm_cbt_exit(void)
{
	cbt_genl_unregister();
	dm_unregister_target(&cbt_target);
}

module_init(dm_cbt_init);
module_exit(dm_cbt_exit);

MODULE_DESCRIPTION(DM_NAME " changed block tracking target");
MODULE_LICENSE("GPL");
