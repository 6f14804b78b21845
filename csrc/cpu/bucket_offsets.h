// The positions of a parallel counting sort (host only): rows counted per (chunk, bucket),
// then scattered by every chunk at once, each into its own slots.
#pragma once

#include <cstdint>
#include <vector>

namespace deep_ei_fast {
namespace cpu {

// counts[c * buckets + b]: rows of chunk c in bucket b, turned in place into the position of
// chunk c's first row in bucket b (buckets in order, each bucket's chunks in order). Returns
// the buckets' starts (buckets + 1 entries, the last the number of rows).
inline std::vector<int64_t> bucket_offsets(std::vector<int64_t>& counts, int64_t chunks,
                                           int64_t buckets) {
  std::vector<int64_t> start((size_t)buckets + 1);
  int64_t run = 0;
  for (int64_t b = 0; b < buckets; ++b) {
    start[b] = run;
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t n = counts[c * buckets + b];
      counts[c * buckets + b] = run;
      run += n;
    }
  }
  start[buckets] = run;
  return start;
}

}  // namespace cpu
}  // namespace deep_ei_fast
