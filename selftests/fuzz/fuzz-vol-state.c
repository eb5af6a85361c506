// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz a volume's records in the store (vol-state.c): volumes/NAME/state
 * (cbtship status, the daemon) and volumes/NAME/rejected (the target
 * asking for a full cycle).  The first input byte picks the record (bit 0)
 * and whether the rest is sealed with the store's key first (bit 1: the
 * parser behind authentication is reached) or stored as it is (an object
 * forged without the key, which must never be accepted).
 *
 * Properties: an unsealed object never loads; a sealed one loads only as a
 * known state and then saves to a record that loads the same.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "envelope.h"
#include "fuzz.h"
#include "vol-state.h"
#include "vstore-priv.h"

#define REC_STATE	1
#define REC_REJECTED	2

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vstore *vs;
	static uint8_t obj[4096 + 256];
	struct env_meta meta = { .type = ENV_RECORD };
	struct vol_state_rec st, st2;
	struct vol_rejection rej, rej2;
	bool rejected, sealed;
	char path[VSTORE_PATH_MAX];
	size_t len;
	int ret;

	if (!vs)
		FUZZ_CHECK(vstore_create(fuzz_mem_store(), "vol", fuzz_key(), 4096, 1 << 20,
					 &vs) == 0);
	if (!size || size > 4096)
		return 0;
	rejected = data[0] & 1;
	sealed = data[0] & 2;
	data++;
	size--;
	snprintf(path, sizeof(path), "volumes/vol/%s", rejected ? "rejected" : "state");
	if (sealed) {
		meta.segment = rejected ? REC_REJECTED : REC_STATE;
		memcpy(meta.volume_id, vs->info.volume_id, sizeof(meta.volume_id));
		FUZZ_CHECK(envelope_seal(fuzz_key(), &meta, data, size, obj) == 0);
		len = envelope_size(size);
	} else {
		memcpy(obj, data, size);
		len = size;
	}
	FUZZ_CHECK(store_put(vs->st, path, obj, len) == 0);

	if (rejected) {
		ret = vol_rejection_get(vs, &rej);
		FUZZ_CHECK(ret == 0 || ret == -EPROTO || ret == -EBADMSG || ret == -EKEYREJECTED);
		FUZZ_CHECK(ret != 0 || sealed);
		if (ret)
			return 0;
		FUZZ_CHECK(memchr(rej.reason, 0, sizeof(rej.reason)));
		FUZZ_CHECK(vol_rejection_set(vs, rej.cycle, rej.replica_at, rej.reason) == 0);
		FUZZ_CHECK(vol_rejection_get(vs, &rej2) == 0);
		FUZZ_CHECK(rej2.cycle == rej.cycle && rej2.replica_at == rej.replica_at &&
			   !strcmp(rej2.reason, rej.reason));
		return 0;
	}
	ret = vol_state_get(vs, &st);
	FUZZ_CHECK(ret == 0 || ret == -EPROTO || ret == -EBADMSG || ret == -EKEYREJECTED);
	FUZZ_CHECK(ret != 0 || sealed);
	if (ret)
		return 0;
	FUZZ_CHECK(vol_state_name(st.state) != NULL);
	FUZZ_CHECK(memchr(st.note, 0, sizeof(st.note)));
	FUZZ_CHECK(vol_state_set(vs, st.state, st.cycle, st.note) == 0);
	FUZZ_CHECK(vol_state_get(vs, &st2) == 0);
	FUZZ_CHECK(st2.state == st.state && st2.cycle == st.cycle && !strcmp(st2.note, st.note));
	return 0;
}
