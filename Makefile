# SPDX-License-Identifier: GPL-2.0
#
# cbtship: make (build everything), make check (all tests), make demo.
#
# The module is built against KDIR: the running kernel's build directory if
# it has one, else the newest generic (not -rt, not -cloud) kernel headers
# under /lib/modules: the kernel scripts/vm-run boots by default.

KDIR ?= $(shell d=/lib/modules/$$(uname -r)/build; \
	  if [ -d $$d ]; then echo $$d; else \
	  ls -d /lib/modules/*/build 2>/dev/null | grep -v -e '-rt-' -e '-cloud-' | \
	  sort -V | tail -n 1; fi)

.PHONY: all shipper kmod selftests unit fuzz check check-fast demo deps clean help install uninstall

all: shipper kmod selftests

shipper:
	$(MAKE) -C shipper

kmod:
	@if [ -z "$(KDIR)" ] || [ ! -d "$(KDIR)" ]; then \
		echo "no kernel headers found: run scripts/install-deps (or give KDIR=...)" >&2; \
		exit 1; fi
	$(MAKE) -C $(KDIR) M=$(CURDIR) W=1 modules

# Test programs the VM selftests run (built on the host, never in the guest).
PROBE := selftests/dm-cbt/cbt-nl-probe
selftests: $(PROBE)

$(PROBE): $(PROBE).c uapi/linux/dm-cbt.h
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -Iuapi -o $@ $< \
		$$(pkg-config --cflags --libs libnl-genl-3.0)

# The freeze race driver talks to dm-cbt through cbtship's own client.
RACE := selftests/dm-cbt/cbt-race
selftests: $(RACE)

$(RACE): $(RACE).c uapi/linux/dm-cbt.h shipper/cbt-source.h shipper/libcbtship.a
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wvla -D_GNU_SOURCE -pthread \
		-Iuapi -Ishipper -o $@ $< shipper/libcbtship.a \
		$$(pkg-config --cflags --libs libnl-genl-3.0)

# Built by the shipper target (never by a second make in shipper/ at once,
# which would race it under -j); the empty recipe makes the race driver
# relink after it.
shipper/libcbtship.a: shipper ;

NL_MALFORMED := selftests/dm-cbt/nl-malformed
selftests: $(NL_MALFORMED)

$(NL_MALFORMED): $(NL_MALFORMED).c uapi/linux/dm-cbt.h
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -Iuapi -o $@ $<

# The consistency tests' ordered writer and checker.
ORDERED_WRITER := selftests/consistency/ordered-writer
selftests: $(ORDERED_WRITER)

$(ORDERED_WRITER): $(ORDERED_WRITER).c
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -o $@ $<

# Unit tests, plain and under ASan/UBSan.
unit:
	$(MAKE) -C shipper unit
	$(MAKE) -C shipper unit SANITIZE=1

# libFuzzer targets (clang): selftests/fuzz/fuzz-*; scripts/fuzz runs them.
fuzz:
	$(MAKE) -C shipper fuzz

# Everything, from a fresh machine: dependencies, build, host and VM tests.
# The builds use every CPU, one after the other (unit shares shipper/.obj
# with all).
NPROC := $(shell nproc 2>/dev/null || echo 1)
check: deps
	$(MAKE) -j$(NPROC) all
	$(MAKE) -j$(NPROC) unit
	$(MAKE) -j$(NPROC) fuzz
	selftests/run

# Host-only tests (no guest boot).
check-fast: all unit fuzz
	selftests/run --no-vm

demo: deps
	$(MAKE) all
	scripts/demo

# The cloud and PREEMPT_RT kernels too: the harness boots each once
# (selftests/harness/vm-run-flavours); KERNEL_FLAVOURS= skips them.
KERNEL_FLAVOURS ?= cloud rt
deps:
	scripts/install-deps --kernel-flavours "$(KERNEL_FLAVOURS)"

# Install cbtship, its systemd unit, man pages, bash completion and an example
# configuration.  DESTDIR and PREFIX are respected (PREFIX=/usr for packages).
PREFIX		?= /usr/local
BINDIR		?= $(PREFIX)/bin
MANDIR		?= $(PREFIX)/share/man
SYSCONFDIR	?= /etc
UNITDIR		?= $(PREFIX)/lib/systemd/system
COMPLETIONDIR	?= $(PREFIX)/share/bash-completion/completions
INSTALL		?= install

install: shipper
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man4 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(COMPLETIONDIR)
	$(INSTALL) -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/cbtship
	$(INSTALL) -m 0755 shipper/cbtship $(DESTDIR)$(BINDIR)/cbtship
	$(INSTALL) -m 0644 docs/man/cbtship.8 $(DESTDIR)$(MANDIR)/man8/cbtship.8
	$(INSTALL) -m 0644 docs/man/cbtship.conf.5 $(DESTDIR)$(MANDIR)/man5/cbtship.conf.5
	$(INSTALL) -m 0644 docs/man/dm-cbt.4 $(DESTDIR)$(MANDIR)/man4/dm-cbt.4
	sed 's|@BINDIR@|$(BINDIR)|g' dist/cbtship.service >$(DESTDIR)$(UNITDIR)/cbtship.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/cbtship.service
	$(INSTALL) -m 0644 dist/cbtship.bash-completion $(DESTDIR)$(COMPLETIONDIR)/cbtship
	$(INSTALL) -m 0644 dist/cbtship.conf.example \
		$(DESTDIR)$(SYSCONFDIR)/cbtship/cbtship.conf.example

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/cbtship $(DESTDIR)$(MANDIR)/man8/cbtship.8 \
		$(DESTDIR)$(MANDIR)/man5/cbtship.conf.5 $(DESTDIR)$(MANDIR)/man4/dm-cbt.4 \
		$(DESTDIR)$(UNITDIR)/cbtship.service $(DESTDIR)$(COMPLETIONDIR)/cbtship \
		$(DESTDIR)$(SYSCONFDIR)/cbtship/cbtship.conf.example

clean:
	$(MAKE) -C shipper clean
	rm -f $(PROBE) $(RACE) $(NL_MALFORMED) $(ORDERED_WRITER)
	@if [ -n "$(KDIR)" ] && [ -d "$(KDIR)" ]; then \
		$(MAKE) -C $(KDIR) M=$(CURDIR) clean; fi

help:
	@echo "make            build shipper/cbtship and kmod/dm-cbt.ko"
	@echo "make check      install what is missing, build, run every test (host and VM)"
	@echo "make check-fast build and run the host tests only"
	@echo "make fuzz       build the libFuzzer targets (scripts/fuzz runs them)"
	@echo "make demo       install what is missing, build, replicate a volume in a VM"
	@echo "make deps       install build and test dependencies (Debian/Ubuntu, root)"
	@echo "make install    install cbtship, systemd unit, man pages, completion (DESTDIR, PREFIX)"
