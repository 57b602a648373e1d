// Runs a fuzz target over every file of its seed corpus (and any paths given
// on the command line), for builds without libFuzzer: keeps the targets
// compiling and the corpus regression-tested in `make test`.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

constexpr int kMutationsPerFile = 300;

int main(int argc, char** argv) {
  int files = 0;
  int mutations = 0;
  for (int i = 1; i < argc; ++i) {
    std::vector<std::filesystem::path> paths;
    if (std::filesystem::is_directory(argv[i])) {
      for (const auto& entry : std::filesystem::recursive_directory_iterator(argv[i])) {
        if (entry.is_regular_file()) paths.push_back(entry.path());
      }
    } else {
      paths.emplace_back(argv[i]);
    }
    for (const auto& path : paths) {
      std::ifstream in(path, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), {});
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      ++files;
      // Deterministic mutations: truncations, bit flips and byte overwrites,
      // the shapes of damage real files suffer.
      std::mt19937 rng(static_cast<uint32_t>(bytes.size()));
      for (int m = 0; m < kMutationsPerFile && !bytes.empty(); ++m) {
        std::string mutated = bytes;
        switch (rng() % 3) {
          case 0: mutated.resize(rng() % mutated.size()); break;
          case 1: mutated[rng() % mutated.size()] ^= static_cast<char>(1u << (rng() % 8)); break;
          default:
            for (int k = 0; k < 4; ++k) mutated[rng() % mutated.size()] = static_cast<char>(rng());
        }
        LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(mutated.data()), mutated.size());
        ++mutations;
      }
    }
  }
  std::printf("ran %d inputs and %d mutations of them\n", files, mutations);
  return files > 0 ? 0 : 1;
}
