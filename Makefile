# managed_roles: the two commands of the README, and their parts.
#   make run    set up what is missing, build, install, start a throwaway
#               server with the extension preloaded and run the demo
#   make test   set up what is missing and run every test
# PG selects the PostgreSQL major version(s): `make test` tests 15,
# `make test PG=17` another one, `make test PG="15 18"` several (CI),
# `make test-all` every supported one (14 to 18).
PG ?= 15
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
PG_CONFIG = $(shell pgrx-config/pg-config-path.sh $(PG))
FEATURES = --no-default-features --features pg$(PG)
PGTEST_DIR = /var/tmp/managed_roles-pgtest-$(PG)

.PHONY: run stop test test-one test-all setup install lint pgtest regress scripts package

run: install
	PG_MAJOR=$(PG) tests/demo.sh start

stop:
	PG_MAJOR=$(PG) tests/demo.sh stop

test:
	@for v in $(PG); do $(MAKE) --no-print-directory test-one PG=$$v || exit 1; done

test-all:
	$(MAKE) --no-print-directory test PG="14 15 16 17 18"

test-one: setup lint pgtest regress scripts package
	@echo "managed_roles: all tests passed on PostgreSQL $(PG)"

setup:
	pgrx-config/setup.sh $(PG)

install: setup
	cargo pgrx install --pg-config $(PG_CONFIG) $(FEATURES)

lint: setup
	tests/layers.sh
	cargo fmt --check
	cargo clippy --all-targets $(FEATURES) --features pg_test -- -D warnings

# Plain #[test] units and #[pg_test]s, in a pgrx-managed server that
# preloads the extension (see pg_test::postgresql_conf_options in src/lib.rs).
pgtest: setup
	rm -rf $(PGTEST_DIR) && mkdir -p $(PGTEST_DIR)
	if [ "$$(id -u)" -eq 0 ]; then chown postgres: $(PGTEST_DIR); \
	    cargo pgrx test pg$(PG) --runas postgres --pgdata $(PGTEST_DIR)/data; \
	else cargo pgrx test pg$(PG); fi

regress: install
	PG_MAJOR=$(PG) tests/run-regress.sh

# Script-driven tests with several servers or versions.
scripts: install
	PG_MAJOR=$(PG) tests/upgrade.sh
	PG_MAJOR=$(PG) tests/dump_restore.sh
	PG_MAJOR=$(PG) tests/standby.sh
	PG_MAJOR=$(PG) tests/no_preload.sh
	PG_MAJOR=$(PG) tests/offboarding_interrupts.sh
	PG_MAJOR=$(PG) tests/masking.sh
	PG_MAJOR=$(PG) tests/login_security.sh
	PG_MAJOR=$(PG) tests/password_lifecycle.sh
	PG_MAJOR=$(PG) tests/expiry.sh
	PG_MAJOR=$(PG) tests/transparency.sh

package: setup
	PG_MAJOR=$(PG) tests/package.sh
