# tsjail: make [all] | build | test | install [PREFIX=/usr/local] [DESTDIR=] | deb | clean
#   all (default)  dist/tsjail, the single executable (Node's SEA: .ci/sea.mjs)
#   build          the npm build only: dist/ (TypeScript, bundle) and native/build
#   install        the binary, its man page and shell completions under PREFIX
#   deb            dist/tsjail_VERSION_amd64.deb holding the same files under /usr
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man/man1
BASHDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHDIR ?= $(PREFIX)/share/zsh/site-functions
FISHDIR ?= $(PREFIX)/share/fish/vendor_completions.d
VERSION := $(shell node -p "require('./package.json').version" 2>/dev/null || echo 0)
DEB := dist/tsjail_$(VERSION)_amd64.deb
# gzip: xz takes minutes over a 100 MB binary; any dpkg reads gzip.
DEB_COMPRESS ?= gzip
SOURCES := $(shell find src native proto -type f -not -path 'native/build/*' 2>/dev/null) package.json .ci/build.mjs .ci/bundle.mjs .ci/gen-schema.mjs .ci/gen-wire.mjs .ci/sea.mjs

all: dist/tsjail

# A fresh clone installs its dependencies once; `npm install` again picks up new ones.
node_modules:
	npm install --no-audit --no-fund

build: | node_modules
	npm run build

dist/tsjail: $(SOURCES) | node_modules
	npm run build
	node .ci/sea.mjs

test: build
	npm test

# The man page and completions come from the binary's flag table (`tsjail generate`).
dist/extras: dist/tsjail
	rm -rf $@ && mkdir -p $@
	@if dist/tsjail generate man >$@/tsjail.1 2>/dev/null; then \
		dist/tsjail generate bash >$@/tsjail.bash && \
		dist/tsjail generate zsh >$@/_tsjail && \
		dist/tsjail generate fish >$@/tsjail.fish; \
	else \
		rm -f $@/*; \
		echo "tsjail: this build has no 'tsjail generate': the man page and shell completions are skipped"; \
	fi
	touch $@

install: dist/tsjail dist/extras
	install -D -m 0755 dist/tsjail $(DESTDIR)$(BINDIR)/tsjail
	@set -e; for f in tsjail.1:$(MANDIR) tsjail.bash:$(BASHDIR) _tsjail:$(ZSHDIR) tsjail.fish:$(FISHDIR); do \
		src=dist/extras/$${f%%:*}; dir=$(DESTDIR)$${f#*:}; \
		[ -f $$src ] || continue; \
		name=$${src##*/}; [ $$name = tsjail.bash ] && name=tsjail; \
		echo "install -D -m 0644 $$src $$dir/$$name"; install -D -m 0644 $$src $$dir/$$name; \
	done

# Debian's places for the same files; the man page gzipped as policy asks.
deb: dist/tsjail dist/extras
	rm -rf dist/deb $(DEB)
	$(MAKE) -s install DESTDIR=$(CURDIR)/dist/deb PREFIX=/usr ZSHDIR=/usr/share/zsh/vendor-completions
	if [ -f dist/deb/usr/share/man/man1/tsjail.1 ]; then gzip -9n dist/deb/usr/share/man/man1/tsjail.1; fi
	mkdir -p dist/deb/DEBIAN
	printf '%s\n' \
		'Package: tsjail' \
		'Version: $(VERSION)' \
		'Architecture: amd64' \
		'Maintainer: tsjail developers <tsjail@users.noreply.github.com>' \
		'Depends: libc6 (>= 2.28), libstdc++6, libgcc-s1' \
		'Section: admin' \
		'Priority: optional' \
		"Installed-Size: $$(du -sk dist/deb/usr | cut -f1)" \
		'Description: Linux process jailer, a drop-in for nsjail' \
		' One executable (Node.js inside) that runs programs in namespaces with' \
		' mounts, id maps, rlimits, cgroups, seccomp and Landlock, reading' \
		" nsjail's flags and configuration files." >dist/deb/DEBIAN/control
	dpkg-deb --root-owner-group -Z$(DEB_COMPRESS) --build dist/deb $(DEB)

clean:
	rm -rf dist
	$(MAKE) -C native clean

.PHONY: all build test install deb clean
