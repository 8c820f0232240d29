# rep: build, test, install, package. See README.md.
# The version: the one place it is written. -V, the man pages' footers,
# the release tarball and the Debian package take it from here.
VERSION = 0.2.0
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d

CC ?= cc
CFLAGS ?= -O2 -g
PKG_CONFIG ?= pkg-config
override CFLAGS += -std=gnu11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wformat=2 \
	-D_GNU_SOURCE -DREP_VERSION='"$(VERSION)"' -Ilib -pthread \
	$(shell $(PKG_CONFIG) --cflags sqlite3 nettle liburing libarchive zlib libdeflate 2>/dev/null)
override LDFLAGS += -pthread -Wl,--as-needed
LIBS_SQLITE := $(shell $(PKG_CONFIG) --libs sqlite3 2>/dev/null || echo -lsqlite3)
LIBS_NETTLE := $(shell $(PKG_CONFIG) --libs nettle 2>/dev/null || echo -lnettle)
# liburing: files read in batches, lib/ring.c
LIBS_NETTLE += $(shell $(PKG_CONFIG) --libs liburing 2>/dev/null || echo -luring)
LIBS_ARCHIVE := $(shell $(PKG_CONFIG) --libs libarchive zlib 2>/dev/null || echo -larchive -lz)
# libdeflate: rep-tar's gzip members, lib/gz.c. Linked from its static
# archive where there is one: Debian's shared build compresses markedly
# slower than the same version linked statically (bench/run).
DEFLATE_A := $(filter /%,$(shell $(CC) -print-file-name=libdeflate.a 2>/dev/null))
LIBS_ARCHIVE += $(if $(DEFLATE_A),$(DEFLATE_A),-ldeflate)

# Build outputs go to $(O) (bin/ and its objects); check-sanitize uses another.
O ?= build
TOOLS = rep-register rep-setstatus rep-ls rep-diff rep-tar rep-push
LIBOBJ = $(patsubst lib/%.c,$(O)/lib/%.o,$(wildcard lib/*.c))
BINS = $(addprefix $(O)/bin/,$(TOOLS))
# rep-push with the fault-injecting transport of tests/fault.c instead of
# lib/transports.c's table: for the tests only, never installed.
TESTBINS = $(O)/test/rep-push

# The man pages as installed: the version in their footer (.Os).
MANPAGES = $(addsuffix .1,$(TOOLS)) rep.7
MANS = $(addprefix $(O)/man/,$(MANPAGES))

all: $(BINS) $(TESTBINS) $(MANS) bin

$(O)/man/%: man/% Makefile
	@mkdir -p $(@D)
	sed 's/^\.Os$$/.Os rep $(VERSION)/' $< >$@

# -V
$(O)/lib/opt.o: Makefile

version:
	@echo $(VERSION)

bin: $(BINS)
	@mkdir -p bin
	@for t in $(TOOLS); do ln -sf ../$(O)/bin/$$t bin/$$t; done

$(O)/lib/%.o: lib/%.c lib/rep.h lib/transport.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# The far side of an ssh target (and the local transport's hook runner) is
# lib/far.sh, linted as a shell program and turned into a C string here,
# compiled into lib/far.c alone (rep_far_script).
$(O)/gen/far.h: lib/far.sh
	@mkdir -p $(@D)
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' lib/far.sh >$@.tmp
	mv $@.tmp $@
$(O)/lib/far.o: $(O)/gen/far.h
$(O)/lib/far.o: override CFLAGS += -I$(O)/gen

$(O)/tests/%.o: tests/%.c lib/rep.h lib/transport.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(O)/test/rep-push: $(O)/cmd/rep-push.o $(O)/tests/fault.o $(O)/librep.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS_NETTLE) $(LIBS_ARCHIVE)

$(O)/cmd/%.o: cmd/%.c lib/rep.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(O)/librep.a: $(LIBOBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(O)/bin/rep-ls $(O)/bin/rep-setstatus: LDLIBS = $(LIBS_SQLITE) $(LIBS_NETTLE)
$(O)/bin/rep-register $(O)/bin/rep-diff: LDLIBS = $(LIBS_SQLITE) $(LIBS_NETTLE)
$(O)/bin/rep-tar: LDLIBS = $(LIBS_SQLITE) $(LIBS_NETTLE) $(LIBS_ARCHIVE)
$(O)/bin/rep-push: LDLIBS = $(LIBS_NETTLE) $(LIBS_ARCHIVE)

$(O)/bin/%: $(O)/cmd/%.o $(O)/librep.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

deps:
	@scripts/deps

# deps first, then a fresh make: pkg-config answers only once the
# packages are there.
check: deps
	@$(MAKE) --no-print-directory all
	tests/run

SANFLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
check-sanitize: deps
	$(MAKE) O=build-san CFLAGS='$(SANFLAGS)' LDFLAGS='-fsanitize=address,undefined' $(addprefix build-san/bin/,$(TOOLS)) build-san/test/rep-push
	REP_BIN=$(CURDIR)/build-san/bin ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 tests/run

# The whole suite under ThreadSanitizer: the threads that hash
# (lib/tree.c), compress (lib/gz.c) and decompress (lib/archive.c).
# A report goes to stderr and makes the tool exit 66, so the test fails.
# Thread leaks are not reported: a thread that dies (lib/err.c) ends the
# process with exit(2) while the others still run, by design.
# The files whose tools run those threads: every call that hashes, packs
# or unpacks. Left to check and check-sanitize: the files of the
# single-threaded database tools (rep-ls, rep-setstatus, db-input,
# record), the far side under dash, and the scenario files (crash,
# concurrency, environment, truth, status) whose pushes repeat what
# rep-push.bats and compose.bats run here.
TSANFLAGS = -O1 -g -fsanitize=thread
TSAN_TESTS = tests/archive-form.bats tests/bad-input.bats tests/checksum.bats tests/compose.bats \
	tests/fuzz-found.bats tests/pipeline.bats tests/rep-diff.bats tests/rep-push-ssh.bats \
	tests/rep-push.bats tests/rep-register.bats tests/rep-tar.bats
check-tsan: deps
	$(MAKE) O=build-tsan CFLAGS='$(TSANFLAGS)' LDFLAGS='-fsanitize=thread' $(addprefix build-tsan/bin/,$(TOOLS)) build-tsan/test/rep-push
	REP_BIN=$(CURDIR)/build-tsan/bin TSAN_OPTIONS=report_thread_leaks=0 tests/run $(TSAN_TESTS)

# The tool tests with every tool run under valgrind (memcheck): any error
# or definite leak makes the tool exit 99, and its test fail. The tools
# are replaced by wrappers in $(O)/valgrind, through REP_BIN as above.
VALGRIND = valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=definite \
	--errors-for-leak-kinds=definite --track-fds=no --quiet
# Fixtures are made by the tools run directly (REP_FIXTURE_BIN). Every
# tool's own file, the pipelines and the bad-input corpus: a call under
# valgrind costs about a second, and valgrind runs a process's threads one
# at a time, so the files run two at a time (one a core), the longest
# first, each file's output shown when it ends: about 13 minutes in all
# (minutes alone: rep-tar 5.2, rep-push 4.7-6, bad-input 3.7, rep-diff 2.8,
# rep-setstatus 2.5, rep-register 2.3, rep-ls 1.5, checksum 1.1, pipeline
# 0.9, record 0.5). Not here: environment.bats (valgrind itself needs
# TMPDIR), the crash, concurrency and ssh tests (kill timings, sshd
# timeouts).
VALGRIND_TESTS = tests/rep-tar.bats tests/rep-push.bats tests/bad-input.bats tests/rep-diff.bats \
	tests/rep-setstatus.bats tests/rep-register.bats tests/rep-ls.bats tests/checksum.bats \
	tests/pipeline.bats tests/record.bats
check-valgrind: deps
	@$(MAKE) --no-print-directory all
	@mkdir -p $(O)/valgrind
	@for t in $(TOOLS); do \
		printf '#!/bin/sh\nexec %s %s "$$@"\n' '$(VALGRIND)' '$(CURDIR)/$(O)/bin/'$$t >$(O)/valgrind/$$t; \
		chmod 755 $(O)/valgrind/$$t; \
	done
	@printf '%s\n' $(VALGRIND_TESTS) | REP_BIN=$(CURDIR)/$(O)/valgrind \
		REP_FIXTURE_BIN=$(CURDIR)/$(O)/bin xargs -P 2 -I '{}' sh -c \
		'log=$$(mktemp); tests/run "$$1" >"$$log" 2>&1; rc=$$?; cat "$$log"; rm -f "$$log"; [ $$rc -eq 0 ] || exit 1' \
		sh '{}'

# The libFuzzer harnesses of fuzz/ (records, names, manifests, archives,
# the check against GNU tar, rep-tar's own archives against the check,
# the walk's rule for what an application holds, hostile databases, what
# a push makes of a target's live release and log)
# over the library built by clang with ASan, UBSan and -DREP_FUZZ (rep_die
# returns to the harness, lib/err.c), each run FUZZ_TIME seconds (fuzz/run).
# roundtrip runs the tools built the same way, in build-fuzz/bin.
FUZZ_TIME ?= 30
FUZZERS = rec name manifest archive gnutar roundtrip tree db compose
FUZZFLAGS = -O1 -g -DREP_FUZZ -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=all -fno-omit-frame-pointer
fuzz: deps
	$(MAKE) O=build-fuzz CC=clang CFLAGS='$(FUZZFLAGS)' $(addprefix build-fuzz/fuzz/,$(FUZZERS)) \
		build-fuzz/bin/rep-register build-fuzz/bin/rep-tar
	fuzz/run $(FUZZ_TIME) $(FUZZERS)

$(O)/fuzz/%: fuzz/%.c fuzz/fuzz.h fuzz/mutate.h $(O)/librep.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fsanitize=fuzzer $(LDFLAGS) -o $@ $< $(O)/librep.a \
		$(LIBS_SQLITE) $(LIBS_NETTLE) $(LIBS_ARCHIVE)

# Static analysis, both silent or the target fails: gcc's -fanalyzer on
# every file with the build's flags, and cppcheck. A false positive is
# suppressed at its line with the reason. cppcheck 2.10 does not know
# C11's _Noreturn (rep_die), hence the -D.
analyze: deps
	@$(MAKE) --no-print-directory $(O)/gen/far.h
	@for f in lib/*.c cmd/*.c tests/*.c; do \
		echo "gcc -fanalyzer $$f"; \
		gcc $(CPPFLAGS) $(CFLAGS) -I$(O)/gen -fanalyzer -Werror -c -o /dev/null $$f || exit 1; \
	done
	cppcheck -q --enable=warning,portability,performance --inline-suppr --error-exitcode=1 \
		-Ilib -I$(O)/gen -D_GNU_SOURCE -D'_Noreturn=__attribute__((noreturn))' lib/*.c cmd/*.c tests/*.c

lint: deps
	@$(MAKE) --no-print-directory all
	mandoc -Tlint -W warning man/*.[0-9]
	shellcheck -s sh lib/far.sh
	shellcheck -s sh scripts/deb-changelog
	shellcheck -s bash scripts/deps scripts/demo scripts/package-check tests/run tests/sshd tests/soak fuzz/run .ci/run bench/run completions/rep.bash
	shellcheck -s bash -e SC2034,SC2030,SC2031 tests/*.bash tests/*.bats

demo: deps
	@$(MAKE) --no-print-directory all
	scripts/demo

bench: deps
	@$(MAKE) --no-print-directory all
	bench/run

# The long run of tests/soak (make check runs short ones, tests/crash.bats):
# 8 writers and 2 readers for SOAK_ROUNDS rounds, as many rounds of two
# pushes at once, SOAK_KILLS SIGKILLs during each of rep-register,
# rep-setstatus (SOAK_BATCH names), rep-tar and rep-push; prints the figures.
SOAK_ROUNDS ?= 200
SOAK_KILLS ?= 100
SOAK_BATCH ?= 10000
soak: deps
	@$(MAKE) --no-print-directory all
	SOAK_ROUNDS=$(SOAK_ROUNDS) SOAK_KILLS=$(SOAK_KILLS) SOAK_BATCH=$(SOAK_BATCH) tests/soak

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7 \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	install -m 755 $(BINS) $(DESTDIR)$(BINDIR)
	install -m 644 $(addprefix $(O)/man/,$(addsuffix .1,$(TOOLS))) $(DESTDIR)$(MANDIR)/man1
	install -m 644 $(O)/man/rep.7 $(DESTDIR)$(MANDIR)/man7
	install -m 644 completions/rep.bash $(DESTDIR)$(BASHCOMPDIR)/rep
	for t in $(TOOLS); do ln -sf rep $(DESTDIR)$(BASHCOMPDIR)/$$t; done
	install -m 644 completions/_rep $(DESTDIR)$(ZSHCOMPDIR)/_rep
	for t in $(TOOLS); do install -m 644 completions/rep.fish $(DESTDIR)$(FISHCOMPDIR)/$$t.fish; done

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(TOOLS))
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(addsuffix .1,$(TOOLS))) $(DESTDIR)$(MANDIR)/man7/rep.7
	rm -f $(DESTDIR)$(BASHCOMPDIR)/rep $(addprefix $(DESTDIR)$(BASHCOMPDIR)/,$(TOOLS))
	rm -f $(DESTDIR)$(ZSHCOMPDIR)/_rep $(addprefix $(DESTDIR)$(FISHCOMPDIR)/,$(addsuffix .fish,$(TOOLS)))

# The release tarball, rep-VERSION.tar.gz, of the commit checked out
# (what is not committed is not in it): its tracked files, sorted, owned
# by root, dated by the commit, modes 0644/0755 whatever the umask, in a
# gzip without name or time, so that one commit always gives the same bytes.
DIST = rep-$(VERSION)
dist:
	@git rev-parse -q --verify HEAD >/dev/null || { echo 'make dist: not in a git checkout' >&2; exit 2; }
	@git diff --quiet HEAD || echo 'make dist: uncommitted changes are not in the tarball' >&2
	git -c tar.umask=0022 archive --format=tar --prefix=$(DIST)/ HEAD | gzip -9n >$(DIST).tar.gz.tmp
	mv $(DIST).tar.gz.tmp $(DIST).tar.gz

# The tarball unpacked elsewhere: built, the whole suite run, installed
# into a DESTDIR.
distcheck: dist
	rm -rf $(O)/distcheck && mkdir -p $(O)/distcheck
	tar -C $(O)/distcheck -xzf $(DIST).tar.gz
	$(MAKE) -C $(O)/distcheck/$(DIST) check
	$(MAKE) -C $(O)/distcheck/$(DIST) install DESTDIR=$(CURDIR)/$(O)/distcheck/dest PREFIX=/usr
	test "$$($(O)/distcheck/dest/usr/bin/rep-ls -V)" = "rep-ls $(VERSION)"
	@echo "$(DIST).tar.gz: built, checked and installed from the tarball"

# The Debian package, built from the tarball by dpkg-buildpackage, in
# $(O)/deb: debian/changelog is written here (the version above, the
# commit's date), then lintian checks the packages.
deb: dist
	rm -rf $(O)/deb && mkdir -p $(O)/deb
	cp $(DIST).tar.gz $(O)/deb/rep-tools_$(VERSION).orig.tar.gz
	tar -C $(O)/deb -xzf $(DIST).tar.gz
	scripts/deb-changelog $(VERSION) >$(O)/deb/$(DIST)/debian/changelog
	cd $(O)/deb/$(DIST) && dpkg-buildpackage -us -uc
	lintian --fail-on error --info $(O)/deb/rep-tools_$(VERSION)-1_*.changes

# What CI checks of the packaging (scripts/package-check): the tarball
# twice, the same bytes; the .deb built from it, installed, a short
# pipeline run with the installed tools, removed.
check-package: deps
	scripts/package-check

clean:
	rm -rf build build-san build-tsan build-fuzz bin demo $(DIST).tar.gz

.PHONY: all bin deps check check-sanitize check-tsan check-valgrind fuzz analyze lint demo bench soak install uninstall clean version dist distcheck deb check-package
.SECONDARY:
