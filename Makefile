# owl — build, test, fuzz, bench.
#
#   make                 build/owl and build/libowl.a (release, -O2)
#   make test            unit + integration tests against build/
#   make SAN=1 test      the same suite built with ASan+UBSan (into build-san/)
#   make check           what CI runs: warnings as errors under gcc and clang, the suite, then
#                        the suite again under ASan+UBSan
#   make fuzz            libFuzzer targets (clang) into build-fuzz/
#   make bench           owl against llama.cpp on the same files; writes bench/results/<date>.md
#   make kbench          single-thread matvec speed of every kernel (bench/kernels.c)

CC      ?= cc
SAN     ?= 0
BUILD   ?= build
ifeq ($(SAN),1)
BUILD   := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif

PKGS    := jansson libpcre2-8 libutf8proc libmicrohttpd libcurl sqlite3 libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

OPT     ?= -O2
CFLAGS  := -std=c17 $(OPT) -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wno-unused-parameter -D_GNU_SOURCE -pthread -Iinclude -Isrc $(PKG_CFLAGS) $(SANFLAGS) \
           $(EXTRA_CFLAGS)
LDFLAGS := -pthread $(SANFLAGS) $(EXTRA_LDFLAGS)
LDLIBS  := $(PKG_LIBS) -lm

# SIMD kernels live in files named for their instruction set and are compiled for it alone; the
# CPU feature table (src/tensor/cpu.c) picks among them at run time.
AVX2_FLAGS   := -mavx2 -mfma -mf16c
AVX512_FLAGS := -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512vnni -mavx512bf16 -mfma -mf16c

LIB_SRC  := $(sort $(filter-out src/cli/%,$(wildcard src/*/*.c)))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
HDRS     := $(wildcard include/owl/*.h src/*/*.h tests/*.h)

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TESTS    := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all test check fuzz bench kbench clean tests
all: $(BUILD)/owl $(BUILD)/libowl.a

$(BUILD)/obj/%_avx2.o: %_avx2.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVX2_FLAGS) -c $< -o $@

$(BUILD)/obj/%_avx512.o: %_avx512.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVX512_FLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libowl.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/owl: $(CLI_OBJ) $(BUILD)/libowl.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libowl.a $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/test.h $(BUILD)/libowl.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests $(LDFLAGS) -o $@ $< $(BUILD)/libowl.a $(LDLIBS)

tests: $(TESTS) $(BUILD)/owl

test: tests
	@OWL_BUILD=$(BUILD) bash tests/run.sh

check:
	bash scripts/check.sh

# ---- fuzzing (clang + libFuzzer) --------------------------------------------------------------
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:fuzz/%.c=build-fuzz/%)
fuzz:
	$(MAKE) BUILD=build-fuzz/lib CC=clang OPT=-O1 \
	  EXTRA_CFLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" \
	  build-fuzz/lib/libowl.a
	$(MAKE) CC=clang $(FUZZ_BIN)

build-fuzz/%: fuzz/%.c build-fuzz/lib/libowl.a
	clang $(CFLAGS) -O1 -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer -o $@ $< \
	  build-fuzz/lib/libowl.a $(LDLIBS)

bench: all $(BUILD)/bench/peak
	OWL_BUILD=$(BUILD) bash bench/run.sh

# Single-thread matvec speed per weight type and ISA level (bench/kernels.c): `make kbench`.
kbench: $(BUILD)/bench/kernels
	./$(BUILD)/bench/kernels

$(BUILD)/bench/kernels: bench/kernels.c $(BUILD)/libowl.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libowl.a $(LDLIBS)

$(BUILD)/bench/peak: bench/peak.c
	@mkdir -p $(dir $@)
	$(CC) -std=c17 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -pthread -o $@ $<

clean:
	rm -rf build build-san build-fuzz
