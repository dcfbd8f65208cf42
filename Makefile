# tsjail: make build | test | install [PREFIX=/usr/local] | clean
PREFIX ?= /usr/local
LIBDIR := $(PREFIX)/lib/tsjail

build:
	npm install --no-audit --no-fund
	npm run build

test: build
	npm test

install: build
	install -d $(LIBDIR) $(PREFIX)/bin
	cp -r package.json package-lock.json dist proto configs $(LIBDIR)/
	install -d $(LIBDIR)/native/build
	install -m 0755 native/build/tsjail-exec $(LIBDIR)/native/build/
	install -m 0644 native/build/libtsjail.so $(LIBDIR)/native/build/
	cd $(LIBDIR) && npm ci --omit=dev --ignore-scripts --no-audit --no-fund
	ln -sf $(LIBDIR)/dist/bin/tsjail.js $(PREFIX)/bin/tsjail

clean:
	rm -rf dist
	$(MAKE) -C native clean

.PHONY: build test install clean
