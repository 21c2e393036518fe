# The targets call the scripts in hack/, which are what the README documents.
.PHONY: build run test lint images fuzz bench

build:
	hack/build.sh

images:
	hack/images.sh

run:
	hack/run.sh $(ARGS)

test:
	hack/test.sh

lint:
	go vet ./...
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

fuzz:
	go test -run '^$$' -fuzz FuzzDecode -fuzztime 60s ./api/v1

bench:
	go test -run '^$$' -bench . -benchmem ./internal/store
