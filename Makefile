# berth: the two commands a fresh machine needs are `make serve` and `make test`.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
HOST ?= 127.0.0.1
PORT ?= 8080
CMAKE_FLAGS ?=

.PHONY: all deps build serve test test-all sanitize fuzz bench bench-fusions bench-llm clean llm-ref

all: build

deps:
	@scripts/install-deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

serve: build
	$(BUILD_DIR)/berth serve --host $(HOST) --port $(PORT) --model-repository examples/models

# llama.cpp (node-llama-cpp, npm) and its vocabulary files: the reference
# the LLM tests compare with; they skip, saying so, where it is missing.
llm-ref:
	@scripts/install-llama-ref.sh

# Everything but the `slow` label.
test: build llm-ref
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -LE slow

test-all: build llm-ref
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# The parsers of outside data under AddressSanitizer + UndefinedBehaviorSanitizer
# (ctest label `sanitize`): model loader and bad-model files, .npy, the
# request codec and config parser, the server's unit tests and the
# bad-request suite against a sanitized `berth serve`. Only what those tests
# need is built.
SANITIZE_TARGETS = berth bad_model_tests server_tests llm_tests model_loader_fuzz npy_fuzz gguf_fuzz tokenizer_fuzz chat_template_fuzz kserve_request_fuzz model_config_fuzz
# The sanitized trees are built at -O1 with line tables only (-g1), as the
# sanitizers' own documentation suggests: the reports keep file and line,
# and the build takes half the time of -O2 -g (the SIMD kernel files a
# tenth: 141 s -> 15 s each under ASan with g++ 12).
SANITIZE_FLAGS = -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG"
sanitize: deps
	cmake -S . -B build-asan -G Ninja $(SANITIZE_FLAGS) -DBERTH_SANITIZE=address,undefined
	cmake --build build-asan -j $(JOBS) --target $(SANITIZE_TARGETS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS) -L sanitize

# libFuzzer (clang, with ASan and UBSan) on the parsers of outside text that
# the LLM layer adds: the GGUF reader, the tokenizers and the chat-template
# interpreter, FUZZ_SECONDS each,
# starting from their seed corpus. A finding stops with the crashing input
# saved under build-fuzz/.
FUZZ_TARGETS = gguf tokenizer chat_template
FUZZ_SECONDS ?= 60
fuzz: deps
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja $(SANITIZE_FLAGS) -DBERTH_FUZZ=ON \
	  -DBERTH_SANITIZE=address,undefined
	cmake --build build-fuzz -j $(JOBS) --target $(FUZZ_TARGETS:%=%_fuzz)
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p build-fuzz/corpus-$$t build-fuzz/findings-$$t && \
	  build-fuzz/tests/$${t}_fuzz -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=build-fuzz/findings-$$t/ build-fuzz/corpus-$$t tests/fuzz/corpus/$$t || exit 1; \
	done

# berth against ONNX Runtime 1.30 (npm, into bench/node_modules) and PyTorch
# eager on the four reference models; not part of `make test`. Extra
# arguments for bench/run.py: make bench BENCH_ARGS="--models mlp --rounds 1".
BENCH_ARGS ?=
bench: build
	@[ -d bench/node_modules/onnxruntime-node ] || npm install --prefix bench --ignore-scripts --no-audit --no-fund
	/usr/bin/python3 bench/run.py --berth $(BUILD_DIR)/berth $(BENCH_ARGS)

# The optimiser's convolution fusions against the unoptimised graph (the
# cases of tests/models/conv_chain_test.py and depthwise_fusion_test.py),
# timed side by side; not part of `make test`, which never compares times.
bench-fusions: build
	/usr/bin/python3 bench/fusion_bench.py --berth $(BUILD_DIR)/berth

# berth against llama.cpp on random-weight Llama-3.2-1B- and Qwen2.5-0.5B-
# shaped GGUF models (bench/llm/run.py; makes the models on first use, a few
# GB under bench/models/llm). Not part of `make test`.
LLM_BENCH_ARGS ?=
bench-llm: build llm-ref
	/usr/bin/python3 bench/llm/run.py --berth $(BUILD_DIR)/berth $(LLM_BENCH_ARGS)

clean:
	rm -rf $(BUILD_DIR) build-asan build-fuzz

# Container images and the compose stack (deploy/, see deploy/README.md). The
# scripts start a Docker engine where none answers and make the Debian base
# image where no registry has it. `make image` compiles inside the image's
# builder stage (BERTH_PREBUILT=path packages a binary built here instead);
# image-test and stack-test package the binary `build` made, so CI compiles
# berth once.
.PHONY: image image-test stack-test

image:
	BERTH_PREBUILT="$(BERTH_PREBUILT)" JOBS="$(JOBS)" scripts/build-images.sh

image-test: build
	BERTH_PREBUILT="$(BUILD_DIR)/berth" scripts/image-test.sh

stack-test: build llm-ref
	BERTH_PREBUILT="$(BUILD_DIR)/berth" scripts/stack-test.sh
