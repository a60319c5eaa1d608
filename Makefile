# rotation-audit: `make local` runs the whole stack on the embedded cloud,
# `make test` runs every test. Both need only Go; modules download themselves.

GO         ?= go
STATICCHECK = honnef.co/go/tools/cmd/staticcheck@v0.8.2
LAMBDA_ENV  = CGO_ENABLED=0 GOOS=linux GOARCH=arm64
LAMBDA_FLAGS = -tags lambda.norpc -trimpath -ldflags "-s -w"
ADDR       ?= 127.0.0.1:4566
CLOCK_START ?=
ADVANCE    ?= 31d
ENDPOINT   ?= http://localhost:4566
STACK      ?= rotcheck
CLOCK_SPEED ?= 1
RUNS       ?= 10
LATENCY    ?= 20ms
SECRETS    ?= 1000,10000
ORG_ACCOUNTS ?= 1000
ORG_REGIONS  ?= 4
ORG_SECRETS  ?= 50
READ_SECRETS ?= 10000
READ_RUNS  ?= 93
READ_BURST ?= 200
LOCALCLOUD = bin/localcloud

.PHONY: build cli demo screenshot build-RotationCheckFunction sam-build test lint invoke deploy \
	local local-up tutorial-test serve deploy-local teardown-local clock invoke-local samlocal-deploy samlocal-delete \
	bench bench-cycle bench-latency bench-read local-org bench-org clean help

help:
	@echo "make local           the main job on the embedded cloud: deploy, scenarios A/B/C/D, teardown"
	@echo "make local-org       scenario E: an organization of 3 accounts and 2 regions audited in one run (Accounts=ORGANIZATION)"
	@echo "make demo            a quarter on a laptop: 40 secrets, 2,208 hourly runs, the evidence, then the dashboard (DEMO_SERVE=0: stop after printing)"
	@echo "make cli             bin/rotation-audit: report, history, runs, dashboard (against AWS or an endpoint)"
	@echo "make test            every test (scenario tests on the embedded cloud)"
	@echo "make local-up        serve on $(ADDR) with the stack deployed until Ctrl-C (CLOCK_SPEED=3600 to watch; ACCOUNTS=3 REGIONS=us-east-1,eu-west-1 for an organization)"
	@echo "make tutorial-test   the tutorial's boto3 tests (A, B, C) against a running make local-up at ENDPOINT=$(ENDPOINT) (needs python3 and boto3)"
	@echo "make serve           serve the embedded cloud alone on $(ADDR), like localemu start; then make deploy-local"
	@echo "make clock           move the running cloud's clock forward by ADVANCE=$(ADVANCE), firing every schedule on the way"
	@echo "make invoke-local    invoke the stack's function as its schedule would, at the cloud's time"
	@echo "make deploy-local | teardown-local   against ENDPOINT=$(ENDPOINT) (this tool's serve/up or LocalEmu)"
	@echo "make bench-latency   one run of 1,000 and 10,000 secrets with LATENCY=$(LATENCY) added to every AWS call"
	@echo "make bench-org       one organization run: ORG_ACCOUNTS=$(ORG_ACCOUNTS) x ORG_REGIONS=$(ORG_REGIONS) x ORG_SECRETS=$(ORG_SECRETS), LATENCY=$(LATENCY)"
	@echo "make bench-read      history and the dashboard at READ_SECRETS=$(READ_SECRETS) for a quarter, then READ_BURST=$(READ_BURST) concurrent requests"
	@echo "make build | lint | bench | bench-cycle | screenshot | invoke | deploy | sam-build | samlocal-deploy | samlocal-delete"
	@echo "make clean           remove bin/ (the built commands and function) and .aws-sam/"

# The Lambda binary, as AWS runs it: linux/arm64, named bootstrap; and the
# rotation-audit command for this machine.
build: cli
	@mkdir -p bin
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o bin/bootstrap ./rotation-check
	@ls -l bin/bootstrap | awk '{printf "bin/bootstrap: %d bytes\n", $$5}'

cli:
	@mkdir -p bin
	$(GO) build -o bin/rotation-audit ./cmd/rotation-audit

# sam build (BuildMethod: makefile) runs this with ARTIFACTS_DIR set.
build-RotationCheckFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./rotation-check

sam-build:
	@command -v sam >/dev/null || { echo "sam is not installed: https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/install-sam-cli.html"; exit 1; }
	sam build

test:
	@mkdir -p bin
	@echo "go test ./... (the first run downloads modules and compiles the kumo emulator: a minute or more on 2 cores)"
	@$(GO) test -v ./... > bin/test.log 2>&1; status=$$?; \
	awk '/^=== / {buf = ""; next} \
	     /^ *--- (FAIL|SKIP)/ {print; printf "%s", buf; buf = ""; next} \
	     /^ *--- PASS/ {buf = ""; next} \
	     /^(ok|FAIL|panic)/ {print; next} \
	     /^ +/ {buf = buf $$0 "\n"}' bin/test.log; \
	tests=$$(grep -c -- '^ *--- PASS' bin/test.log); skips=$$(grep -c -- '^ *--- SKIP' bin/test.log); \
	echo "$$tests passed, $$skips skipped (full log: bin/test.log)"; exit $$status

lint:
	@echo "gofmt"; out=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@if command -v cfn-lint >/dev/null; then echo "cfn-lint template.yaml member-role.yaml"; cfn-lint template.yaml member-role.yaml; \
	else echo "cfn-lint is not installed: template lint skipped (pip install cfn-lint)"; fi

invoke:
	@command -v sam >/dev/null || { echo "sam is not installed; without Docker use: make local"; exit 1; }
	sam build && sam local invoke RotationCheckFunction -e events/schedule.json --env-vars events/env.json

deploy:
	@command -v sam >/dev/null || { echo "sam is not installed: https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/install-sam-cli.html"; exit 1; }
	sam build && sam deploy

# The local cloud command, rebuilt only when a source it may build from is
# newer: make's own check takes milliseconds where `go build` takes half a
# second to find nothing to do. The first build compiles kumo (over a minute
# on 2 cores).
GO_SOURCES := $(shell find cmd internal rotation-check -name '*.go' ! -name '*_test.go' -o -path '*/templates/*' -type f) go.mod go.sum
$(LOCALCLOUD): $(GO_SOURCES)
	@mkdir -p bin
	@( sleep 3; echo "building $(LOCALCLOUD): the first build compiles the kumo AWS emulator, over a minute on 2 cores..." ) & \
	notice=$$!; $(GO) build -o $(LOCALCLOUD) ./cmd/localcloud; status=$$?; kill $$notice 2>/dev/null; \
	[ $$status -eq 0 ] && touch $(LOCALCLOUD); exit $$status

local: $(LOCALCLOUD)
	@$(LOCALCLOUD) run -stack $(STACK)

# Scenario E: the hub with Accounts=ORGANIZATION, member-role.yaml in two of
# three accounts, one run over two regions; then teardown.
local-org: $(LOCALCLOUD)
	@$(LOCALCLOUD) org

local-up: $(LOCALCLOUD)
	@$(LOCALCLOUD) up -stack $(STACK) -addr $(ADDR) -clock-speed $(CLOCK_SPEED) $(if $(CLOCK_START),-clock-start $(CLOCK_START)) \
		$(if $(ACCOUNTS),-accounts $(ACCOUNTS)) $(if $(REGIONS),-regions $(REGIONS))

# The tutorial's own tests, in Python with boto3 (unittest; pytest runs
# them too), against the stack a running `make local-up` serves at ENDPOINT.
tutorial-test:
	@command -v python3 >/dev/null || { echo "python3 is not installed: the tutorial's tests need python3 and boto3"; exit 1; }
	@python3 -c 'import boto3' 2>/dev/null || { echo "python3 has no boto3 (pip install boto3): the tutorial's tests need it"; exit 1; }
	ENDPOINT=$(ENDPOINT) STACK=$(STACK) python3 tests/tutorial/test_tutorial.py -v

serve: $(LOCALCLOUD)
	@$(LOCALCLOUD) serve -addr $(ADDR) -clock-speed $(CLOCK_SPEED) $(if $(CLOCK_START),-clock-start $(CLOCK_START))

# Move the clock of the cloud that local-up or serve runs.
clock: $(LOCALCLOUD)
	@$(LOCALCLOUD) clock -endpoint $(ENDPOINT) -advance $(ADVANCE)

# Scenario B from a shell: invoke as the schedule would, at the cloud's time.
invoke-local: $(LOCALCLOUD)
	@$(LOCALCLOUD) invoke -endpoint $(ENDPOINT) -stack $(STACK)

deploy-local: $(LOCALCLOUD)
	@$(LOCALCLOUD) deploy -endpoint $(ENDPOINT) -stack $(STACK)

teardown-local: $(LOCALCLOUD)
	@$(LOCALCLOUD) teardown -endpoint $(ENDPOINT) -stack $(STACK)

# For people with LocalEmu/LocalStack and SAM CLI: the same template through
# the emulator's own CloudFormation (samconfig.toml's "local" environment).
samlocal-deploy:
	@command -v samlocal >/dev/null || { echo "samlocal is not installed (pip install aws-sam-cli-local); without it use: make deploy-local"; exit 1; }
	samlocal build && samlocal deploy --config-env local

samlocal-delete:
	@command -v samlocal >/dev/null || { echo "samlocal is not installed (pip install aws-sam-cli-local)"; exit 1; }
	samlocal delete --config-env local --no-prompts

# Go benchmarks: the rotation check's throughput and memory per secret; the
# history command for a quarter of 1,000 secrets (time, peak memory).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/audit/
	$(GO) test -run '^$$' -bench BenchmarkHistoryQuarter -benchtime 3x ./cmd/rotation-audit/

# The whole local cycle, several times: min/median/max per phase; then a
# quarter of hourly runs in virtual time.
bench-cycle: $(LOCALCLOUD)
	@$(LOCALCLOUD) bench -runs $(RUNS)

# One run of the real function at AWS-like latency: a proxy adds LATENCY to
# every call; run time against the paging floor, calls, peak memory.
bench-latency: $(LOCALCLOUD)
	@$(LOCALCLOUD) bench-latency -latency $(LATENCY) -secrets $(SECRETS)

# One organization run at AWS-like latency: fire to complete run, calls by
# kind, units per second, peak memory of the coordinator and of a worker.
bench-org: $(LOCALCLOUD)
	@$(LOCALCLOUD) bench-org -accounts $(ORG_ACCOUNTS) -regions $(ORG_REGIONS) -secrets $(ORG_SECRETS) -latency $(LATENCY)

# The read side at scale: READ_SECRETS secrets and READ_RUNS daily runs (2026Q4
# and the day before), about 1% of rows changing a day, written straight into
# an embedded cloud of its own process; then history -quarter and the
# dashboard's index page (Queries, items and bytes read, time, peak memory),
# and READ_BURST concurrent requests to the dashboard, which must all answer
# 200. The cloud holds every row: about 7 GB at 10,000 secrets x 93 runs.
bench-read:
	BENCH_READ_SECRETS=$(READ_SECRETS) BENCH_READ_RUNS=$(READ_RUNS) BENCH_READ_BURST=$(READ_BURST) \
	$(GO) test -run '^$$' -bench BenchmarkReadQuarter -benchtime 1x -timeout 60m ./cmd/rotation-audit/

# A quarter on a laptop, then the dashboard until Ctrl-C (DEMO_SERVE=0 to stop
# after printing the evidence).
demo: $(LOCALCLOUD)
	@$(LOCALCLOUD) demo -stack $(STACK)

# docs/dashboard.png, the README's screenshot: the browser test drives
# headless Chromium through the dashboard and saves it.
screenshot:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { echo "chromium is not installed (apt-get install chromium)"; exit 1; }
	$(GO) test -count=1 -run '^TestBrowser$$' ./internal/dashboard/
	@mkdir -p docs && cp bin/dashboard.png docs/dashboard.png && echo "docs/dashboard.png updated"

clean:
	rm -rf bin .aws-sam
