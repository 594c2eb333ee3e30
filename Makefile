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

## functions: every function under functions/ as a plugin binary in bin/functions/, built as edgefn builds a `build:` manifest's
functions:
	@mkdir -p $(BIN)/functions
	@for f in $(FUNCTIONS); do echo "go build functions/$$f"; CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w" -o $(BIN)/functions/$$f ./functions/$$f || exit 1; done

## bench: every benchmark against its baseline (HTTP, triggers, WebSocket, async, edit-to-live, the sandbox's cost, RabbitMQ RPC, schedules, scaling, WebSocket functions), then the summary table; rewrites bench/README.md
bench:
	$(GO) run ./bench/cmd/edgebench -write bench/README.md
	$(GO) run ./bench/cmd/triggerbench -write bench/README.md
	$(GO) run ./bench/cmd/wsbench -write bench/README.md
	$(GO) run ./bench/cmd/asyncbench -write bench/README.md
	$(GO) run ./bench/cmd/devbench -write bench/README.md
	$(GO) run ./bench/cmd/sandboxbench -write bench/README.md
	$(GO) run ./bench/cmd/rpcbench -write bench/README.md
	$(GO) run ./bench/cmd/schedbench -write bench/README.md
	$(GO) run ./bench/cmd/scalebench -write bench/README.md
	$(GO) run ./bench/cmd/wsfnbench -write bench/README.md
	$(GO) run ./bench/cmd/benchsummary -write bench/README.md

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

## fuzz: longer fuzz runs of the parsers and decoders (FUZZTIME each, default 30s); their seed corpora run in `make test`
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./runtime/manifest/
	$(GO) test -run '^$$' -fuzz '^FuzzMatch$$' -fuzztime $(FUZZTIME) ./gateway/router/
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./gateway/auth/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRequest$$' -fuzztime $(FUZZTIME) ./gateway/ws/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRequest$$' -fuzztime $(FUZZTIME) ./runtime/fn/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeResponse$$' -fuzztime $(FUZZTIME) ./runtime/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./triggers/redis/
	$(GO) test -run '^$$' -fuzz '^FuzzFromDelivery$$' -fuzztime $(FUZZTIME) ./triggers/amqp/
	$(GO) test -run '^$$' -fuzz '^FuzzEventDecoding$$' -fuzztime $(FUZZTIME) ./runtime/dispatch/

clean:
	rm -rf $(BIN) .edgefn

## orders: build edgefn and the order workflow of examples/orders, then serve its manifests and page on :8080 (ORDERS_FLAGS="--redis URL --amqp URL" for the brokers)
ORDERS_FUNCTIONS := create-order payments inventory order-saga order-view
.PHONY: orders
orders: build
	@mkdir -p $(BIN)/orders
	@for f in $(ORDERS_FUNCTIONS); do echo "go build examples/orders/$$f"; $(GO) build -o $(BIN)/orders/$$f ./examples/orders/$$f || exit 1; done
	$(BIN)/edgefn serve --listen $(LISTEN) --manifests examples/orders/manifests --static examples/orders/web $(ORDERS_FLAGS)
