#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Helpers of the soak tests (soak.sh, crash.bash); source after
# ../common/lib.sh and ../dm-cbt/cbt-lib.bash.
#
#   wait_written DEVICE...   wait (up to 60 s) until every DEVICE has dirty
#                            blocks: fio takes seconds to start in a busy
#                            guest, and cycles before that ship nothing;
#                            returns 1 if one never had any

wait_written() {
	local t dev busy
	for ((t = 0; t < 600; t++)); do
		busy=0
		for dev in "$@"; do
			[ "$(vol_field "$dev" dirty)" -gt 0 ] && busy=$((busy + 1))
		done
		[ $busy = $# ] && return 0
		sleep 0.1
	done
	return 1
}
