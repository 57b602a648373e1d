// Runs llama.cpp's own quantizer (llama_model_quantize from the prebuilt
// library node-llama-cpp ships) on a GGUF file, so that berth is tested on
// quantized files it did not write itself.
//   quantize IN.gguf OUT.gguf TYPE      TYPE: Q4_0 Q8_0 Q4_K_M Q5_K_M Q6_K Q4_K_S Q5_K_S F16
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"

static const struct {
  const char* name;
  enum llama_ftype ftype;
} kTypes[] = {
    {"F16", LLAMA_FTYPE_MOSTLY_F16},       {"Q4_0", LLAMA_FTYPE_MOSTLY_Q4_0},
    {"Q8_0", LLAMA_FTYPE_MOSTLY_Q8_0},     {"Q4_K_M", LLAMA_FTYPE_MOSTLY_Q4_K_M},
    {"Q4_K_S", LLAMA_FTYPE_MOSTLY_Q4_K_S}, {"Q5_K_M", LLAMA_FTYPE_MOSTLY_Q5_K_M},
    {"Q5_K_S", LLAMA_FTYPE_MOSTLY_Q5_K_S}, {"Q6_K", LLAMA_FTYPE_MOSTLY_Q6_K},
};

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s IN.gguf OUT.gguf TYPE\n", argv[0]);
    return 2;
  }
  struct llama_model_quantize_params params = llama_model_quantize_default_params();
  const char* threads = getenv("QUANTIZE_THREADS");
  params.nthread = threads ? atoi(threads) : 1;
  int found = 0;
  for (size_t i = 0; i < sizeof(kTypes) / sizeof(kTypes[0]); ++i) {
    if (strcmp(argv[3], kTypes[i].name) == 0) {
      params.ftype = kTypes[i].ftype;
      found = 1;
    }
  }
  if (!found) {
    fprintf(stderr, "unknown type %s\n", argv[3]);
    return 2;
  }
  llama_backend_init();
  uint32_t status = llama_model_quantize(argv[1], argv[2], &params);
  llama_backend_free();
  if (status != 0) {
    fprintf(stderr, "llama_model_quantize failed (%u)\n", status);
    return 1;
  }
  return 0;
}
