// SPDX-License-Identifier: GPL-2.0
/*
 * The configuration file: a full example parses into the right values,
 * defaults apply, and every kind of bad input is refused with the right
 * file:line:column.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "log.h"
#include "tap.h"
#include "tmpdir.h"

static const char example[] =
	"# cbtship daemon configuration\n"
	"[global]\n"
	"state_dir = /var/lib/cbtship-test\n"
	"parallel = 8\n"
	"min_interval = 30m\n"
	"blackout = Monday;7:00;7h | Friday;13:00;8m\n"
	"throttle_work = 20m\n"
	"throttle_offwork = unlimited\n"
	"work_days = Mon-Sat\n"
	"work_hours = 7:30-19:00\n"
	"metrics_file = /tmp/x.prom\n"
	"\n"
	"[volume db1]\n"
	"  device = /dev/mapper/db1   \n"
	"store = /srv/store\n"
	"key = /etc/cbtship/db1.key\n"
	"min_interval = continuous\n"
	"blackout = none\n"
	"codec = zlib\n"
	"workers = 2\n"
	"\n"
	"[volume web]\n"
	"device=/dev/mapper/web\n"
	"store=/srv/store\n"
	"key=/etc/cbtship/web.key\n";

static void test_good(void)
{
	struct cbt_config c;
	char err[512];
	int ret;

	ret = config_parse(example, "example.conf", &c, err, sizeof(err));
	tap_ok(ret == 0, "the example parses (%s)", err);
	if (ret)
		return;
	tap_ok(!strcmp(c.state_dir, "/var/lib/cbtship-test"), "state_dir");
	tap_eq(c.parallel, 8, "parallel");
	tap_eq(c.min_interval, 30 * 60 * 1000000LL, "global min_interval 30m");
	tap_eq(c.blackout.nr, 2, "global blackout windows");
	tap_eq(c.throttle.work_bps, 20000000, "throttle_work");
	tap_eq(c.throttle.offwork_bps, 0, "throttle_offwork unlimited");
	tap_eq(c.throttle.work_days, 0x7e, "work_days Mon-Sat");
	tap_ok(c.throttle.work_start == 450 && c.throttle.work_end == 1140, "work_hours");
	tap_eq(c.nr_vol, 2, "two volumes");
	tap_ok(!strcmp(c.vol[0].name, "db1") && !strcmp(c.vol[0].device, "/dev/mapper/db1"),
	       "volume db1, device trimmed");
	tap_eq(config_min_interval(&c, &c.vol[0]), 0, "db1 near-continuous");
	tap_eq(config_blackout(&c, &c.vol[0])->nr, 0, "db1 opts out of the windows");
	tap_ok(c.vol[0].writer.codec == CODEC_ZLIB && c.vol[0].writer.workers == 2, "db1 codec and workers");
	tap_eq(config_min_interval(&c, &c.vol[1]), 30 * 60 * 1000000LL, "web inherits 30m");
	tap_eq(config_blackout(&c, &c.vol[1])->nr, 2, "web inherits the global windows");
	tap_ok(c.vol[1].writer.codec == CODEC_ZSTD && c.vol[1].writer.level == 1, "web: zstd level 1 default");
	tap_ok(!config_volume_equal(&c.vol[0], &c.vol[1]), "different volumes differ");
	tap_ok(config_volume_equal(&c.vol[1], &c.vol[1]), "a volume equals itself");
	config_free(&c);

	ret = config_parse("[volume a]\ndevice=/d\nstore=/s\nkey=/k\n", "min.conf", &c, err, sizeof(err));
	tap_ok(ret == 0 && c.parallel == 52 && c.min_interval == 3600000000LL &&
	       !strcmp(c.state_dir, "/var/lib/cbtship") && c.poll == 10000000 &&
	       c.throttle.work_bps == 0 && c.throttle.work_days == 0x3e,
	       "defaults: 52 in parallel, 1 h, /var/lib/cbtship, unlimited");
	config_free(&c);
	ret = config_parse("", "empty.conf", &c, err, sizeof(err));
	tap_ok(ret == 0 && c.nr_vol == 0, "an empty file is no volumes");
	config_free(&c);
	ret = config_parse("[volume a]\ndevice=/d\nstore=/s\nkey=/k\n"
			   "snapshot_cow = /dev/sdc\nhook = /etc/cbtship/db-hook\nfsfreeze = /data\n"
			   "hook_timeout = 30\napp_interval = 3600\nfsfreeze_timeout = 7\n", "cons.conf",
			   &c, err, sizeof(err));
	tap_ok(ret == 0 && !strcmp(c.vol[0].snapshot_cow, "/dev/sdc") &&
	       !strcmp(c.vol[0].hook, "/etc/cbtship/db-hook") && !strcmp(c.vol[0].fsfreeze, "/data") &&
	       c.vol[0].hook_timeout == 30 && c.vol[0].app_interval == 3600 &&
	       c.vol[0].fsfreeze_timeout == 7,
	       "consistent cycles: snapshot_cow, hook, fsfreeze, timeouts, interval (%s)",
	       err);
	if (!ret) {
		struct volume_config copy;

		tap_ok(config_volume_copy(&copy, &c.vol[0]) == 0 &&
		       config_volume_equal(&copy, &c.vol[0]) && copy.hook != c.vol[0].hook,
		       "a copy of those settings is equal and owns its strings");
		free(copy.hook);
		copy.hook = NULL;
		tap_ok(!config_volume_equal(&copy, &c.vol[0]), "without the hook it differs");
		config_volume_free(&copy);
	}
	config_free(&c);
}

static void check_bad(const char *text, const char *where, const char *word)
{
	struct cbt_config c;
	char err[512];
	int ret = config_parse(text, "t.conf", &c, err, sizeof(err));

	tap_ok(ret == -EINVAL && !strncmp(err, where, strlen(where)) && strstr(err, word) &&
	       c.nr_vol == 0 && !c.state_dir,
	       "refused with %s ... %s: got \"%s\"", where, word, err);
}

static void test_bad(void)
{
	check_bad("[global]\nparallel = 0\n", "t.conf:2:12:", "from 1 to 1024");
	/* An old configuration's origin device: refused, naming the new way. */
	check_bad("[volume a]\ndevice=/d\nstore=/s\nkey=/k\nsnapshot_origin = a-origin\n"
		  "snapshot_cow = /dev/sdc\n", "t.conf:5:1:",
		  "snapshot_origin is gone: users write to the dm-cbt device");
	check_bad("[global]\nparallel = many\n", "t.conf:2:12:", "number");
	check_bad("[global]\nfoo = 1\n", "t.conf:2:1:", "unknown key 'foo'");
	check_bad("[global]\nblackout = Monday;7:00;7h | Tusday;8:00;1h\n", "t.conf:2:29:", "day of the week");
	check_bad("[global]\nthrottle_work = 100k\n", "t.conf:2:17:", "out of range");
	check_bad("[global]\nwork_hours = 8-18\n", "t.conf:2:14:", "working hours");
	check_bad("[global]\nmin_interval = 1x\n", "t.conf:2:16:", "duration");
	check_bad("[volume a]\ndevice=/d\nstore=/s\n", "t.conf:1:1:", "needs device, store and key");
	check_bad("[volume a\n", "t.conf:1:10:", "']'");
	check_bad("[volume a] x\n", "t.conf:1:11:", "after ']'");
	check_bad("[volumes a]\n", "t.conf:1:2:", "[volume NAME]");
	check_bad("[volume .hidden]\n", "t.conf:1:9:", "invalid volume name");
	check_bad("[volume a]\ndevice=/d\nstore=/s\nkey=/k\n[volume a]\n", "t.conf:5:9:", "already defined at line 1");
	check_bad("[volume a]\ncodec = lz4\n", "t.conf:2:9:", "unknown codec");
	check_bad("[volume a]\ndevice =\n", "t.conf:2:9:", "empty value");
	check_bad("[volume a]\nbogus line\n", "t.conf:2:1:", "key = value");
	check_bad("[volume a]\ndevice=/d\nstore=/s\nkey=/k\n[global]\n", "t.conf:5:1:", "must come first");
	check_bad("  = x\n", "t.conf:1:3:", "missing key");
	check_bad("[volume a]\nde-vice = x\n", "t.conf:2:3:", "invalid character");
	check_bad("[volume a]\nlevel = 23\n", "t.conf:2:9:", "0 to 22");
}

static void test_load(void)
{
	struct cbt_config c;
	int ret;

	test_dir_setup("config");
	test_write_file("ok.conf", example, sizeof(example) - 1, 0644);
	ret = config_load("ok.conf", &c);
	tap_ok(ret == 0 && c.nr_vol == 2, "config_load reads a file");
	config_free(&c);
	tap_eq(config_load("missing.conf", &c), -ENOENT, "a missing file is -ENOENT");
	mkdir("adir", 0755);
	tap_eq(config_load("adir", &c), -EFBIG, "a directory is refused");
	test_write_file("bad.conf", "[global]\nx=1\n", 13, 0644);
	tap_eq(config_load("bad.conf", &c), -EINVAL, "bad content is -EINVAL");
}

/* Azure options per volume: parsed, checked (secret files 0600) and passed as remote_opts. */
static void test_azure(void)
{
	static const char good[] =
		"[volume a]\ndevice=/d\nstore=azure://acct/cont\nkey=/k\n"
		"azure_key_file = acct.key\nca_file = /etc/ssl/ca.pem\n"
		"endpoint = https://127.0.0.1:10000/acct\nallow_http = yes\nstreams = 8\n"
		"[volume b]\ndevice=/d\nstore=azure://acct/cont\nkey=/k\nazure_sas_file = acct.sas\n";
	struct volume_config copy;
	struct remote_opts ro;
	struct cbt_config c;
	char err[512];
	int ret;

	test_dir_setup("config-azure");
	test_write_file("acct.key", "a2V5\n", 5, 0600);
	test_write_file("acct.sas", "sv=x\n", 5, 0600);
	test_write_file("open.key", "a2V5\n", 5, 0644);
	test_write_file("gw.sas", "sv=x\n", 5, 0620);
	ret = config_parse(good, "az.conf", &c, err, sizeof(err));
	tap_ok(ret == 0, "Azure keys parse (%s)", err);
	if (ret)
		return;
	config_remote_opts(&c.vol[0], &ro);
	tap_ok(ro.key_file && !strcmp(ro.key_file, "acct.key") && !ro.sas_file &&
	       !strcmp(ro.ca_file, "/etc/ssl/ca.pem") &&
	       !strcmp(ro.endpoint, "https://127.0.0.1:10000/acct") && ro.allow_http &&
	       ro.streams == 8, "volume a: key file, CA, endpoint, http, 8 streams in remote_opts");
	config_remote_opts(&c.vol[1], &ro);
	tap_ok(!ro.key_file && ro.sas_file && !strcmp(ro.sas_file, "acct.sas") && !ro.ca_file &&
	       !ro.endpoint && !ro.allow_http && ro.streams == 0,
	       "volume b: SAS file, defaults for the rest");
	tap_ok(config_volume_copy(&copy, &c.vol[0]) == 0 && config_volume_equal(&copy, &c.vol[0]) &&
	       copy.endpoint != c.vol[0].endpoint, "a deep copy equals the original");
	copy.streams = 9;
	tap_ok(!config_volume_equal(&copy, &c.vol[0]), "a changed stream count is a change");
	config_volume_free(&copy);
	config_free(&c);

	check_bad("[volume a]\nazure_key_file = open.key\n", "t.conf:2:18:", "chmod 600 open.key");
	check_bad("[volume a]\nazure_sas_file =   gw.sas\n", "t.conf:2:20:", "writable by others");
	check_bad("[volume a]\nazure_key_file = none.key\n", "t.conf:2:18:", "No such file");
	check_bad("[volume a]\nazure_sas_file = .\n", "t.conf:2:18:", "not a regular file");
	check_bad("[volume a]\nstreams = 33\n", "t.conf:2:11:", "1 to 32");
	check_bad("[volume a]\nallow_http = maybe\n", "t.conf:2:14:", "yes or no");
	check_bad("[volume a]\ndevice=/d\nstore=/s\nkey=/k\nazure_key_file=acct.key\n"
		  "azure_sas_file=acct.sas\n", "t.conf:1:1:", "keep one");
}

static void test_duration(void)
{
	int64_t us;

	tap_ok(!config_parse_duration("1d12h", &us) && us == 36 * 3600 * 1000000LL, "1d12h");
	tap_ok(!config_parse_duration("90s", &us) && us == 90 * 1000000LL, "90s");
	tap_ok(!config_parse_duration("0", &us) && us == 0, "0");
	tap_eq(config_parse_duration("1h1d", &us), -EINVAL, "units out of order");
	tap_eq(config_parse_duration("15", &us), -EINVAL, "no unit");
	tap_eq(config_parse_duration("400d", &us), -EINVAL, "more than a year");
	tap_eq(config_parse_duration("", &us), -EINVAL, "empty");
}

#define GVOL(n) "[volume " n "]\ndevice=/dev/mapper/" n "\nstore=/s\nkey=/k\n" \
	"# " n " is written through its dm-cbt device\nsnapshot_cow=/dev/cow-" n "\n"

/* Consistency groups: a [group NAME] section naming its volumes. */
static void test_groups(void)
{
	struct cbt_config c;
	struct group_config copy;
	char err[512];
	int ret;

	ret = config_parse("[global]\nmin_interval = 1h\n" GVOL("data") GVOL("log") GVOL("web")
			   "[group db]\nvolumes = data, log\nmin_interval = 5m\n"
			   "blackout = Monday;7:00;1h\nhook = /usr/local/bin/db-quiesce\n"
			   "app_interval = 3600\n", "g.conf", &c, err, sizeof(err));
	tap_ok(ret == 0, "a group parses (%s)", err);
	if (ret)
		return;
	tap_eq(c.nr_group, 1, "one group");
	tap_ok(c.group[0].nr_member == 2 && !strcmp(c.group[0].member[0], "data") &&
	       !strcmp(c.group[0].member[1], "log"), "its volumes, in order");
	tap_ok(!strcmp(c.vol[0].group, "db") && !strcmp(c.vol[1].group, "db") && !c.vol[2].group[0],
	       "each volume knows its group; web is in none");
	tap_ok(config_group_of(&c, &c.vol[1]) == &c.group[0] && !config_group_of(&c, &c.vol[2]),
	       "config_group_of");
	tap_eq(config_group_min_interval(&c, &c.group[0]), 5 * 60 * 1000000LL, "the group's interval");
	tap_eq(config_group_blackout(&c, &c.group[0])->nr, 1, "the group's windows");
	tap_ok(!strcmp(c.group[0].hook, "/usr/local/bin/db-quiesce") && c.group[0].app_interval == 3600,
	       "the group's hook and app-consistent interval");
	tap_ok(config_group_copy(&copy, &c.group[0]) == 0 && config_group_equal(&copy, &c.group[0]),
	       "a copy is equal");
	free(copy.member[1]);
	copy.member[1] = strdup("web");
	tap_ok(!config_group_equal(&copy, &c.group[0]), "other volumes: not equal");
	config_group_free(&copy);
	config_free(&c);

	/* A group may come before its volumes. */
	ret = config_parse("[group g]\nvolumes = a b\n" GVOL("a") GVOL("b"), "g.conf", &c, err,
			   sizeof(err));
	tap_ok(ret == 0 && !strcmp(c.vol[1].group, "g"), "a group before its volumes (%s)", err);
	config_free(&c);

	check_bad(GVOL("a") "[group g]\nvolumes = a nope\n", "t.conf:8:13:",
		  "names volume 'nope', which has no [volume nope]");
	check_bad(GVOL("a") GVOL("b") "[group g]\nvolumes = a b\n[group h]\nvolumes = b a\n",
		  "t.conf:16:11:", "'b' is already in group g");
	check_bad(GVOL("a") "[group g]\nvolumes = a a\n", "t.conf:8:13:", "named twice");
	check_bad(GVOL("a") "[group g]\nvolumes = a\n", "t.conf:8:11:", "at least two volumes");
	check_bad(GVOL("a") GVOL("b") "[group g]\nhook = /x\n", "t.conf:13:1:",
		  "needs volumes = NAME");
	check_bad(GVOL("a") "[volume b]\ndevice=/d\nstore=/s\nkey=/k\n[group g]\nvolumes = a b\n",
		  "t.conf:7:1:", "no snapshot_cow");
	check_bad(GVOL("a") GVOL("b") "min_interval = 5m\n[group g]\nvolumes = a b\n",
		  "t.conf:7:1:", "set min_interval in [group g]");
	check_bad(GVOL("a") "hook = /h\n" GVOL("b") "[group g]\nvolumes = a b\n",
		  "t.conf:1:1:", "set hook in [group g]");
	check_bad(GVOL("a") "blackout = none\n" GVOL("b") "[group g]\nvolumes = a b\n",
		  "t.conf:1:1:", "set blackout in [group g]");
	check_bad("[global]\nparallel = 1\n" GVOL("a") GVOL("b") "[group g]\nvolumes = a b\n",
		  "t.conf:16:11:", "parallel is 1");
	check_bad("[group .g]\n", "t.conf:1:8:", "invalid group name");
	check_bad("[group g]\n[group g]\n", "t.conf:2:8:", "already defined at line 1");
	check_bad("[group g]\nparallel = 2\n", "t.conf:2:1:", "unknown key 'parallel' in [group g]");
	check_bad("[group g]\nmin_interval = soon\n", "t.conf:2:16:", "duration");
	check_bad("[group g]\napp_interval = -1\n", "t.conf:2:16:", "number");
	check_bad("[group g]\nfsfreeze_timeout = 0\n", "t.conf:2:20:", "from 1 to 3600");
	check_bad(GVOL("a") "fsfreeze_timeout = 5\n" GVOL("b") "[group g]\nvolumes = a b\n",
		  "t.conf:1:1:", "set fsfreeze_timeout in [group g]");
	check_bad("[group g]\n[global]\n", "t.conf:2:1:", "must come first");
	check_bad("[group g]\nvolumes = a b c d e f g h i j k l m n o p q\n", "t.conf:2:43:",
		  "more than 16 volumes");
}

int main(void)
{
	test_quiet_logs();
	test_good();
	test_bad();
	test_load();
	test_azure();
	test_duration();
	test_groups();
	return tap_done();
}
