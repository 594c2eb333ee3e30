# edgefn: the two commands are `make run` and `make test`.
GO        ?= go
BIN       := bin
FUNCTIONS := $(notdir $(patsubst %/,%,$(dir $(wildcard functions/*/main.go))))
LISTEN    ?= :8080
PROTOC_GEN_GO      := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2

.PHONY: run test build functions bench lint proto fuzz clean

## run: build edgefn and every function under functions/, then serve manifests/ and the demo page examples/web on :8080
run: build functions
	$(BIN)/edgefn serve --listen $(LISTEN) --manifests manifests/ --static examples/web

## test: the whole suite (unit, golden, end-to-end) with the race detector
test:
	$(GO) test -race -count=1 -timeout 20m ./...

## build: the edgefn binary
build:
	$(GO) build -o $(BIN)/edgefn ./cmd/edgefn

## functions: every function under functions/ as a plugin binary in bin/functions/
functions:
	@mkdir -p $(BIN)/functions
	@for f in $(FUNCTIONS); do echo "go build functions/$$f"; $(GO) build -o $(BIN)/functions/$$f ./functions/$$f || exit 1; done

## bench: the HTTP, trigger and WebSocket benchmarks against their baselines; rewrites bench/README.md
bench:
	$(GO) run ./bench/cmd/edgebench -write bench/README.md
	$(GO) run ./bench/cmd/triggerbench -write bench/README.md
	$(GO) run ./bench/cmd/wsbench -write bench/README.md
	$(GO) run ./bench/cmd/asyncbench -write bench/README.md

## lint: formatting and vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## proto: regenerate runtime/proto from function.proto (needs protoc; the Go plugins are installed here)
proto:
	GOBIN=$(CURDIR)/$(BIN)/tools $(GO) install $(PROTOC_GEN_GO)
	GOBIN=$(CURDIR)/$(BIN)/tools $(GO) install $(PROTOC_GEN_GO_GRPC)
	PATH="$(CURDIR)/$(BIN)/tools:$$PATH" protoc -I runtime/proto \
		--go_out=paths=source_relative:runtime/proto \
		--go-grpc_out=paths=source_relative:runtime/proto runtime/proto/function.proto

## fuzz: longer fuzz runs of the parsers (FUZZTIME each, default 30s)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./runtime/manifest/
	$(GO) test -run '^$$' -fuzz FuzzMatch -fuzztime $(FUZZTIME) ./gateway/router/
	$(GO) test -run '^$$' -fuzz FuzzVerify -fuzztime $(FUZZTIME) ./gateway/auth/

clean:
	rm -rf $(BIN) .edgefn
