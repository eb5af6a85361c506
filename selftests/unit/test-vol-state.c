// SPDX-License-Identifier: GPL-2.0
/*
 * The volume's state and rejected records: round trip, authentication (a
 * flipped byte, one record passed off as the other, another volume's
 * record), and stop, which removes the cycles but keeps header and state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "migrate.h"
#include "tap.h"
#include "tmpdir.h"
#include "vol-state.h"
#include "vstore.h"

static struct cbt_key key;

#include "target-fixture.h"

int main(void)
{
	struct vol_state_rec s;
	struct vol_rejection rej;
	struct vstore *vs, *other;
	struct store *st;
	unsigned int removed;
	size_t len;
	uint8_t *buf;
	int ret;

	test_quiet_logs();
	test_dir_setup("vol-state");
	if (key_generate("key") || key_load("key", &key) || store_open("store", true, &st) ||
	    vstore_create(st, "vol", &key, BS, SIZE, &vs) || fixture_setup(vs, 3) ||
	    vstore_create(st, "other", &key, BS, SIZE, &other)) {
		fprintf(stderr, "setup failed\n");
		return 99;
	}
	tap_eq(vol_state_get(vs, &s), -ENOENT, "no state record at first");
	tap_eq(vol_state_set(vs, VOL_DELTA, 3, "all good"), 0, "set delta-replication");
	ret = vol_state_get(vs, &s);
	tap_ok(ret == 0 && s.state == VOL_DELTA && s.cycle == 3 && !strcmp(s.note, "all good") &&
	       s.since > 0, "read back: delta-replication, cycle 3, the note");
	tap_ok(!strcmp(vol_state_name(VOL_RESYNC_REQUIRED), "resync-required") &&
	       !vol_state_name(0) && !vol_state_name(VOL_STATE_MAX + 1), "state names");
	tap_eq(vol_state_set(vs, (enum vol_state)42, 0, NULL), -EINVAL, "an unknown state is refused");

	buf = test_read_file("store/volumes/vol/state", &len);
	tap_ok(buf && len == 152 + 144 && memmem(buf, len, "all good", 8) == NULL,
	       "the record is an envelope, the note not in clear");
	if (buf) {
		buf[len - 5] ^= 1;
		test_write_file("store/volumes/vol/state", buf, len, 0600);
		tap_eq(vol_state_get(vs, &s), -EBADMSG, "a flipped byte is refused");
		buf[len - 5] ^= 1;
		test_write_file("store/volumes/vol/state", buf, len, 0600);
		free(buf);
	}

	tap_eq(vol_rejection_set(vs, 2, 1, "cycle 2 failed verification"), 0, "set rejected");
	ret = vol_rejection_get(vs, &rej);
	tap_ok(ret == 0 && rej.cycle == 2 && rej.replica_at == 1 && strstr(rej.reason, "cycle 2"),
	       "read back: cycle 2, replica at 1, the reason");
	tap_eq(vol_rejection_needs_full(vs), 1, "no full cycle after 2: the source must ship all");
	copy_file("store/volumes/vol/rejected", "rejected.keep");
	copy_file("store/volumes/vol/state", "store/volumes/vol/rejected");
	tap_eq(vol_rejection_get(vs, &rej), -EBADMSG, "a state record passed off as rejected is refused");
	copy_file("rejected.keep", "store/volumes/other/rejected");
	tap_eq(vol_rejection_get(other, &rej), -EBADMSG, "another volume's record is refused");
	tap_eq(vol_rejection_clear(vs), 0, "clear rejected");
	tap_eq(vol_rejection_get(vs, &rej), -ENOENT, "gone");
	tap_eq(vol_rejection_clear(vs), 0, "clearing again is fine");

	ret = migrate_stop(vs, &removed);
	tap_ok(ret == 0 && removed == 3, "stop removes the 3 cycles (%d, %u)", ret, removed);
	tap_ok(access("store/volumes/vol/cycles", F_OK) != 0 &&
	       access("store/volumes/vol/volume", F_OK) == 0, "no cycles left; the header stays");
	ret = vol_state_get(vs, &s);
	tap_ok(ret == 0 && s.state == VOL_STOPPED, "the state says stopped");
	{
		struct vstore_cycle_info ci;

		tap_eq(vstore_last_cycle(vs, &ci), -ENOENT, "the store has no cycle of the volume");
	}
	vstore_close(vs);
	vstore_close(other);
	store_close(st);
	key_wipe(&key);
	for (uint64_t c = 1; c <= NCYC; c++)
		free(img[c]);
	return tap_done();
}
