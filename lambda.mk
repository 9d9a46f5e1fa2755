# lambda.mk builds the Lambda bootstrap binaries; the Makefile includes it.
# `sam build` (BuildMethod: makefile in template.yaml) runs `make build-<LogicalId>`
# with ARTIFACTS_DIR set; `make lambda-build` builds all of them without sam.
# The list below must name exactly the functions of template.yaml
# (infra/deploy/template_test.go checks it).

# Including this file must not change the including Makefile's default goal.
LAMBDA_MK_DEFAULT_GOAL := $(.DEFAULT_GOAL)

LAMBDA_FUNCTIONS := IngressFunction WorkerFunction CleanupFailedPaymentsFunction ReplayFunction AdminFunction

LAMBDA_CMD_IngressFunction               := ./cmd/ingress
LAMBDA_CMD_WorkerFunction                := ./cmd/worker
LAMBDA_CMD_CleanupFailedPaymentsFunction := ./cmd/cleanup
LAMBDA_CMD_ReplayFunction                := ./cmd/replay
LAMBDA_CMD_AdminFunction                 := ./cmd/admin

LAMBDA_BIN_DIR ?= bin/lambda

# lambda_build writes the bootstrap of function $(1) into directory $(2).
# lambda.norpc drops the legacy RPC mode that provided.al2023 never uses;
# nosqlite leaves out the embedded backend a function never runs on.
define lambda_build
	@test -n "$(2)" || { echo "lambda.mk: no output directory for $(1) (sam build sets ARTIFACTS_DIR)" >&2; exit 1; }
	mkdir -p "$(2)"
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc,nosqlite -trimpath -ldflags='-s -w' -o "$(2)/bootstrap" $(LAMBDA_CMD_$(1))
endef

.PHONY: lambda-build $(addprefix build-,$(LAMBDA_FUNCTIONS)) $(addprefix lambda-build-,$(LAMBDA_FUNCTIONS))

$(addprefix build-,$(LAMBDA_FUNCTIONS)): build-%:
	$(call lambda_build,$*,$(ARTIFACTS_DIR))

lambda-build: $(addprefix lambda-build-,$(LAMBDA_FUNCTIONS)) ## Build every Lambda into bin/lambda/<Function>/bootstrap (linux/arm64)

$(addprefix lambda-build-,$(LAMBDA_FUNCTIONS)): lambda-build-%:
	$(call lambda_build,$*,$(LAMBDA_BIN_DIR)/$*)

.DEFAULT_GOAL := $(LAMBDA_MK_DEFAULT_GOAL)
