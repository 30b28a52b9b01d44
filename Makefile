# The two commands of the README, and the pieces they are made of.
#   make rehearsal   set up this machine, start the local endpoints, run site.yml against them
#   make test        set up this machine and run every test layer
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
ENDPOINTS := $(BIN)/python harness/endpoints.py
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup rehearsal rehearsal-teardown endpoints-start endpoints-stop test lint sanity unit functional molecule benchmark benchmark-ldap pytest

setup:
	@scripts/setup.sh

endpoints-start: setup
	@$(ENDPOINTS) start > /dev/null && $(ENDPOINTS) status

endpoints-stop:
	@$(ENDPOINTS) stop

rehearsal: endpoints-start
	@eval "$$($(ENDPOINTS) env)" && ansible-playbook site.yml -i inventories/local
	@echo "The rehearsal runs against the endpoints above; 'make rehearsal-teardown' removes it and stops them."

rehearsal-teardown: setup
	@eval "$$($(ENDPOINTS) env)" && ansible-playbook teardown.yml -i inventories/local -e confirm=yes -e delete_data=yes
	@$(ENDPOINTS) stop

test: setup lint sanity molecule pytest

lint:
	ansible-lint

sanity:
	tests/run-sanity.sh

pytest:
	$(BIN)/pytest tests -q -n auto --dist loadfile

unit:
	$(BIN)/pytest tests/unit -q

functional:
	$(BIN)/pytest tests/functional -q

molecule:
	molecule test -s rehearsal

benchmark: setup
	$(BIN)/python benchmarks/rehearsal.py
	$(BIN)/python benchmarks/spot_fleet.py

benchmark-ldap: setup
	$(BIN)/python benchmarks/ldap_user_sync.py
