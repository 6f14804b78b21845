// CPU kernel of count_distinct_prefixes: the number of distinct prefixes (first P
// words) among the rows of all the blocks, counted by hashing instead of sorting (and
// without concatenating the blocks). Exact: a hash only chooses where a row is looked
// for; two rows are the same only when their P words are equal.
//
// Three passes: (1) each row's 64-bit hash, its top bits a partition, counted per
// chunk of rows; (2) (hash, row) scattered into the partitions (a counting sort on
// the partition: about 2048 rows each); (3) each partition's rows inserted into an
// open-addressing table small enough for the core's cache, equal hashes compared
// word by word. Chunks and partitions run on the thread pool; the count is an
// integer sum, the same for any thread count.
#include <torch/library.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "bucket_offsets.h"
#include "cpu_common.h"
#include "deep_ei_fast/common.h"
#include "deep_ei_fast/op_checks.h"

namespace deep_ei_fast {
namespace cpu {
namespace {

constexpr int64_t kRowsPerPartition = 2048;
constexpr int kMaxPartitionBits = 16;
constexpr int64_t kRowsPerChunk = 1 << 14;  // at least; more when there are many rows
// Chunks wanted at most (beside one per block, as chunks never span blocks): the
// per-(chunk, partition) table is chunks x partitions, and with a fixed chunk size
// both grow with the rows (16M rows: 64 MiB, filled by a serial pass).
constexpr int64_t kMaxChunksPerThread = 4;
constexpr int64_t kMinChunks = 64;

// A row's P words mixed into 64 bits (multiply-xorshift per word, murmur3's finalizer).
DEI_INLINE uint64_t row_hash(const uint64_t* row, int64_t P) {
  uint64_t h = 0x9E3779B97F4A7C15ull;
  for (int64_t w = 0; w < P; ++w) {
    h = (h ^ row[w]) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
  }
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 33;
  return h;
}

struct Entry {
  uint64_t hash;
  const uint64_t* row;
};

// Distinct rows among one partition's entries: linear probing in a table of at
// least twice as many slots (a slot holds an entry's position, -1 when free).
int64_t distinct_in_partition(const Entry* e, int64_t n, int64_t P,
                              std::vector<int64_t>& table) {
  int64_t slots = 16;
  while (slots < 2 * n) slots <<= 1;
  const uint64_t mask = (uint64_t)slots - 1;
  table.assign((size_t)slots, -1);
  const size_t row_bytes = sizeof(uint64_t) * (size_t)P;
  int64_t distinct = 0;
  for (int64_t k = 0; k < n; ++k) {
    uint64_t s = e[k].hash & mask;  // the top bits chose the partition: the low ones the slot
    while (true) {
      const int64_t t = table[s];
      if (t < 0) {
        table[s] = k;
        ++distinct;
        break;
      }
      if (e[t].hash == e[k].hash && std::memcmp(e[t].row, e[k].row, row_bytes) == 0)
        break;  // the same row again
      s = (s + 1) & mask;
    }
  }
  return distinct;
}

int64_t count_distinct_prefixes_cpu(at::TensorList blocks, int64_t prefix_words) {
  check_count_distinct_prefixes(blocks, prefix_words, c10::DeviceType::CPU);
  const int64_t P = prefix_words;
  // Rows are numbered across the blocks, in order; chunks of rows never span two blocks.
  int64_t M = 0;
  for (const at::Tensor& b : blocks) M += b.size(0);
  const int64_t max_chunks = std::max<int64_t>(kMinChunks, kMaxChunksPerThread * at::get_num_threads());
  const int64_t rows_per_chunk = std::max<int64_t>(kRowsPerChunk, (M + max_chunks - 1) / max_chunks);
  std::vector<at::Tensor> keys;
  std::vector<int64_t> chunk_block, chunk_first;  // per chunk: its block and first row there
  for (const at::Tensor& b : blocks) {
    if (b.size(0) == 0) continue;
    keys.push_back(b.contiguous());
    for (int64_t r = 0; r < b.size(0); r += rows_per_chunk) {
      chunk_block.push_back((int64_t)keys.size() - 1);
      chunk_first.push_back(r);
    }
  }
  if (M == 0) return 0;
  if (P == 0) return 1;  // every row has the same (empty) prefix
  const int64_t W = keys[0].size(1);

  int bits = 0;
  while (bits < kMaxPartitionBits && ((int64_t)1 << bits) * kRowsPerPartition < M) ++bits;
  const int64_t parts = (int64_t)1 << bits;
  const int shift = 64 - bits;  // bits == 0: one partition (a shift by 64 is avoided below)
  const auto partition_of = [&](uint64_t h) -> int64_t { return bits ? h >> shift : 0; };

  const int64_t nchunks = (int64_t)chunk_block.size();
  std::vector<int64_t> slots((size_t)(nchunks * parts), 0);  // counts, then scatter positions
  // Calls visit(row, its hash, its chunk's slots) for every row, chunk by chunk on the pool.
  const auto each_row = [&](auto&& visit) {
    at::parallel_for(0, nchunks, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const at::Tensor& k = keys[chunk_block[c]];
        const uint64_t* row =
            reinterpret_cast<const uint64_t*>(k.data_ptr<int64_t>()) + chunk_first[c] * W;
        const int64_t n = std::min(rows_per_chunk, k.size(0) - chunk_first[c]);
        int64_t* chunk_slots = slots.data() + c * parts;
        for (int64_t i = 0; i < n; ++i, row += W) visit(row, row_hash(row, P), chunk_slots);
      }
    });
  };
  each_row([&](const uint64_t*, uint64_t h, int64_t* count) { ++count[partition_of(h)]; });
  const std::vector<int64_t> start = bucket_offsets(slots, nchunks, parts);
  // Uninitialized: every entry is written by the scatter.
  std::unique_ptr<Entry[]> entries(new Entry[(size_t)M]);
  each_row([&](const uint64_t* row, uint64_t h, int64_t* next) {
    entries[next[partition_of(h)]++] = Entry{h, row};
  });
  return at::parallel_reduce(
      0, parts, 1, (int64_t)0,
      [&](int64_t p0, int64_t p1, int64_t acc) {
        std::vector<int64_t> table;
        for (int64_t p = p0; p < p1; ++p)
          acc += distinct_in_partition(entries.get() + start[p], start[p + 1] - start[p], P,
                                       table);
        return acc;
      },
      [](int64_t a, int64_t b) { return a + b; });
}

}  // namespace
}  // namespace cpu
}  // namespace deep_ei_fast

TORCH_LIBRARY_IMPL(deep_ei_fast, CPU, m) {
  m.impl("count_distinct_prefixes", &deep_ei_fast::cpu::count_distinct_prefixes_cpu);
}
