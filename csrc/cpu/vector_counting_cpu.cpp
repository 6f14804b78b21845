// CPU kernels of the vector-counting ops: vector_codes_, pack_code_rows,
// sort_unique_rows, prefix_counts.
#include <ATen/ops/empty.h>
#include <ATen/ops/full.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "bucket_offsets.h"
#include "cpu_common.h"
#include "deep_ei_fast/binning.h"
#include "deep_ei_fast/op_checks.h"

namespace deep_ei_fast {
namespace cpu {
namespace {

// ---------------------------------------------------------------- vector_codes_

DEI_CLONES void vector_codes_run(const float* __restrict v, int64_t count, float lo_f,
                                 float width_f, float bins_f, int32_t* __restrict out) {
#pragma omp simd
  for (int64_t i = 0; i < count; ++i) out[i] = vector_code(v[i], lo_f, width_f, bins_f);
}

void vector_codes_cpu(at::Tensor codes, const at::Tensor& values, double lo, double hi,
                      int64_t bins) {
  check_vector_codes(codes, values, c10::DeviceType::CPU);
  const int64_t N = values.numel();
  if (N == 0) return;
  at::Tensor v = values.contiguous();
  const bool direct = codes.is_contiguous();
  at::Tensor out = direct ? codes : at::empty(codes.sizes(), codes.options());
  const float lo_f = (float)lo;
  const float width_f = vector_width(lo, hi);
  const float bins_f = (float)bins;
  const float* vp = v.data_ptr<float>();
  int32_t* op = out.data_ptr<int32_t>();
  at::parallel_for(0, N, 1 << 15, [&](int64_t b, int64_t e) {
    vector_codes_run(vp + b, e - b, lo_f, width_f, bins_f, op + b);
  });
  if (!direct) codes.copy_(out);
}

// ---------------------------------------------------------------- pack_code_rows

at::Tensor pack_code_rows_cpu(const at::Tensor& codes, int64_t bits, int64_t offset) {
  check_pack_code_rows(codes, bits, c10::DeviceType::CPU);
  const int64_t n = codes.size(0), S = codes.size(1);
  const int64_t F = 64 / bits;
  const int64_t W = (n + F - 1) / F;
  at::Tensor out = at::zeros({S, W}, codes.options().dtype(at::kLong));
  if (n == 0 || S == 0) return out;
  at::Tensor c = codes.contiguous();
  const int32_t* cp = c.data_ptr<int32_t>();
  uint64_t* op = reinterpret_cast<uint64_t*>(out.data_ptr<int64_t>());
  const int64_t limit = bits >= 63 ? INT64_MAX : ((int64_t)1 << bits);
  // Range check first (before writing anything).
  const int64_t bad = at::parallel_reduce(
      0, n * S, 1 << 16, (int64_t)0,
      [&](int64_t b, int64_t e, int64_t acc) {
        int64_t nbad = 0;
        for (int64_t i = b; i < e; ++i) {
          const int64_t v = (int64_t)cp[i] + offset;
          nbad += (v < 0) | (v >= limit);
        }
        return acc + nbad;
      },
      [](int64_t a, int64_t b) { return a + b; });
  TORCH_CHECK(bad == 0, "pack_code_rows: ", bad, " codes + offset outside [0, 2^", bits,
              ")");
  constexpr int64_t kBlk = 1024;
  const int64_t nblk = (S + kBlk - 1) / kBlk;
  at::parallel_for(0, nblk, grain_for(nblk, kBlk * n), [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t i0 = blk * kBlk, i1 = std::min(S, i0 + kBlk);
      for (int64_t j = 0; j < n; ++j) {
        const int64_t w = j / F;
        const int sh = (int)((j % F) * bits);
        const int32_t* row = cp + j * S;
        for (int64_t i = i0; i < i1; ++i) {
          op[i * W + w] |= (uint64_t)((int64_t)row[i] + offset) << sh;
        }
      }
    }
  });
  return out;
}

// ---------------------------------------------------------------- sort_unique_rows

// A run of varying bits of key word `w`, moved to compressed word `cw`.
struct Segment {
  int32_t w, shift, cw, cshift;
  uint64_t mask;  // (1 << len) - 1
};

constexpr int kMaxDigitBits = 11;

// Records are R uint64 words: the compressed key (Wc words, least significant
// first) followed by the weight when there is one.

template <int RC>
DEI_INLINE bool rec_less(const uint64_t* a, const uint64_t* b, int64_t Wc) {
  for (int64_t c = Wc - 1; c >= 0; --c)
    if (a[c] != b[c]) return a[c] < b[c];
  return false;
}

// Sorts the n records at `a` by their key (n small: a few dozen at most); `t`:
// scratch for one record (records may be of any width).
template <int RC>
void insertion_sort(uint64_t* a, uint64_t* t, int64_t n, int rt_R, int64_t Wc) {
  const int R = RC > 0 ? RC : rt_R;
  for (int64_t i = 1; i < n; ++i) {
    if (!rec_less<RC>(a + i * R, a + (i - 1) * R, Wc)) continue;
    for (int k = 0; k < R; ++k) t[k] = a[i * R + k];
    int64_t j = i;
    while (j > 0 && rec_less<RC>(t, a + (j - 1) * R, Wc)) {
      for (int k = 0; k < R; ++k) a[j * R + k] = a[(j - 1) * R + k];
      --j;
    }
    for (int k = 0; k < R; ++k) a[j * R + k] = t[k];
  }
}

// Sorts the n records at `a` by their key with std::sort on their positions, then
// moves them into that order through `b` (scratch for n records): O(n log n)
// comparisons whatever the keys, the fallback of msd_sort_range below.
template <int RC>
void comparison_sort(uint64_t* a, uint64_t* b, int64_t n, int rt_R, int64_t Wc) {
  const int R = RC > 0 ? RC : rt_R;
  std::vector<int64_t> order((size_t)n);
  for (int64_t i = 0; i < n; ++i) order[(size_t)i] = i;
  std::sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
    return rec_less<RC>(a + x * R, a + y * R, Wc);
  });
  for (int64_t i = 0; i < n; ++i) std::memcpy(b + i * R, a + order[(size_t)i] * R, sizeof(uint64_t) * R);
  std::memcpy(a, b, sizeof(uint64_t) * (size_t)(n * R));
}

// Splits of msd_sort_range's loop before it hands the rest to comparison_sort:
// random keys need about log256(n) splits (4 for 2^31 rows); keys that differ a
// bit at a time (one-hot or thermometer rows) peel off a few rows a split, and
// each split copies every record, which grew as n^2 times the record width
// (67 s for 32000 one-hot rows of 508 words on one thread, 0.62 s now).
constexpr int kMaxSplits = 16;

// Sorts the n records at `a` (scratch `b`) by their key, most significant
// digit first: the top (up to) 8 varying bits of the range split it into
// buckets, each sorted the same way; small ones by insertion sort. For the
// buckets left by radix_sort's first pass (hundreds of rows of mostly random
// bits) one more split leaves a couple of rows per bucket, far less work than
// LSD passes over every remaining bit. Not stable (records with equal keys are
// merged afterwards, so their order does not matter). Result in `a`.
// The largest bucket is sorted by the loop, the others by recursion: each call
// then has at most half its caller's rows, so the stack holds at most log2(n)
// frames however many bits the keys vary in (a frame per split once: thousands
// for keys of hundreds of words, which overflowed a thread's stack). Words above
// `top` are equal in every record of the range (a caller's split found them so).
template <int RC>
void msd_sort_range(uint64_t* a, uint64_t* b, int64_t n, int rt_R, int64_t Wc, int64_t top) {
  const int R = RC > 0 ? RC : rt_R;
  for (int splits = 0;; ++splits) {
    if (n <= 24) {
      insertion_sort<RC>(a, b, n, R, Wc);
      return;
    }
    if (splits == kMaxSplits) {
      comparison_sort<RC>(a, b, n, R, Wc);
      return;
    }
    int64_t c = -1;
    uint64_t var = 0;
    for (int64_t w = top; w >= 0 && c < 0; --w) {
      uint64_t vor = 0, vand = ~0ull;
      for (int64_t i = 0; i < n; ++i) { vor |= a[i * R + w]; vand &= a[i * R + w]; }
      if (vor != vand) { c = w; var = vor ^ vand; }
    }
    if (c < 0) return;  // every key equal
    top = c;
    const int hi = 64 - __builtin_clzll(var);
    const int shift = std::max(__builtin_ctzll(var), hi - 8);
    const int64_t nb = (int64_t)1 << (hi - shift);
    const uint64_t mask = (uint64_t)nb - 1;
    uint32_t start[257];
    for (int64_t v = 0; v <= nb; ++v) start[v] = 0;
    for (int64_t i = 0; i < n; ++i) ++start[((a[i * R + c] >> shift) & mask) + 1];
    for (int64_t v = 0; v < nb; ++v) start[v + 1] += start[v];
    uint32_t next[256];
    for (int64_t v = 0; v < nb; ++v) next[v] = start[v];
    for (int64_t i = 0; i < n; ++i) {
      const uint64_t* p = a + i * R;
      uint64_t* q = b + (int64_t)next[(p[c] >> shift) & mask]++ * R;
      for (int k = 0; k < R; ++k) q[k] = p[k];
    }
    std::memcpy(a, b, sizeof(uint64_t) * (size_t)(n * R));
    int64_t largest = 0;
    for (int64_t v = 1; v < nb; ++v)
      if (start[v + 1] - start[v] > start[largest + 1] - start[largest]) largest = v;
    for (int64_t v = 0; v < nb; ++v) {
      const int64_t m = (int64_t)(start[v + 1] - start[v]);
      if (v != largest && m > 1) msd_sort_range<RC>(a + (int64_t)start[v] * R, b, m, R, Wc, top);
    }
    a += (int64_t)start[largest] * R;
    n = (int64_t)(start[largest + 1] - start[largest]);
  }
}

// MSD pass on the top digit (parallel scatter buf -> tmp), then every bucket
// sorted in cache. Result in buf.
template <int RC>
void radix_sort(uint64_t* buf, uint64_t* tmp, int64_t M, int rt_R,
                int64_t Wc, int64_t B) {
  const int R = RC > 0 ? RC : rt_R;
  const int64_t cw = Wc - 1;
  const int bc = (int)(B - 64 * cw);
  const int tbits = std::min(bc, kMaxDigitBits);
  const int tshift = bc - tbits;
  const int64_t nb = (int64_t)1 << tbits;
  const uint64_t mask = (uint64_t)nb - 1;
  const int64_t nthreads = std::max<int64_t>(1, at::get_num_threads());
  const int64_t nchunks = std::max<int64_t>(1, std::min<int64_t>(nthreads, M / 4096));
  const int64_t chunk = (M + nchunks - 1) / nchunks;
  std::vector<int64_t> hist((size_t)(nchunks * nb), 0);
  at::parallel_for(0, nchunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      int64_t* h = hist.data() + c * nb;
      const int64_t b = c * chunk, e = std::min(M, b + chunk);
      const uint64_t* p = buf + b * R + cw;
      for (int64_t i = b; i < e; ++i, p += R) ++h[(*p >> tshift) & mask];
    }
  });
  const std::vector<int64_t> bstart = bucket_offsets(hist, nchunks, nb);
  at::parallel_for(0, nchunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      int64_t* off = hist.data() + c * nb;
      const int64_t b = c * chunk, e = std::min(M, b + chunk);
      const uint64_t* p = buf + b * R;
      uint64_t* dst = tmp;
      for (int64_t i = b; i < e; ++i, p += R) {
        uint64_t* q = dst + off[(p[cw] >> tshift) & mask]++ * R;
        for (int k = 0; k < R; ++k) q[k] = p[k];
      }
    }
  });
  // Buckets: sorted in tmp (scratch: the same range of buf), then copied back.
  at::parallel_for(0, nb, 1, [&](int64_t v0, int64_t v1) {
    for (int64_t v = v0; v < v1; ++v) {
      const int64_t b = bstart[v], n = bstart[v + 1] - b;
      if (n == 0) continue;
      uint64_t* a = tmp + b * R;
      uint64_t* s = buf + b * R;
      if (n >= ((int64_t)1 << 31))  // msd_sort_range's bucket offsets are 32-bit
        comparison_sort<RC>(a, s, n, R, Wc);
      else
        msd_sort_range<RC>(a, s, n, R, Wc, Wc - 1);
      std::memcpy(s, a, sizeof(uint64_t) * (size_t)(n * R));
    }
  });
}

std::tuple<at::Tensor, at::Tensor> sort_unique_rows_cpu(const at::Tensor& keys,
                                                         const c10::optional<at::Tensor>& weights) {
  const bool has_w = check_sort_unique_rows(keys, weights, c10::DeviceType::CPU);
  const int64_t M = keys.size(0), W = keys.size(1);
  at::Tensor wt = has_w ? weights->contiguous() : at::Tensor();
  const auto lopt = keys.options().dtype(at::kLong);
  if (M == 0) return std::make_tuple(at::empty({0, W}, lopt), at::empty({0}, lopt));
  at::Tensor k = keys.contiguous();
  const uint64_t* kp = reinterpret_cast<const uint64_t*>(k.data_ptr<int64_t>());
  const int64_t* wp = has_w ? wt.data_ptr<int64_t>() : nullptr;

  // Per-word OR / AND over all rows: bits equal in every row need no sorting.
  std::vector<uint64_t> all_or((size_t)W, 0), all_and((size_t)W, ~0ull);
  {
    const int64_t nthreads = std::max<int64_t>(1, at::get_num_threads());
    const int64_t nchunks = std::max<int64_t>(1, std::min<int64_t>(nthreads, M / 4096));
    const int64_t chunk = (M + nchunks - 1) / nchunks;
    std::vector<uint64_t> por((size_t)(nchunks * W), 0), pand((size_t)(nchunks * W), ~0ull);
    at::parallel_for(0, nchunks, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        uint64_t* o = por.data() + c * W;
        uint64_t* a = pand.data() + c * W;
        const int64_t b = c * chunk, e = std::min(M, b + chunk);
        for (int64_t i = b; i < e; ++i) {
          for (int64_t w = 0; w < W; ++w) {
            o[w] |= kp[i * W + w];
            a[w] &= kp[i * W + w];
          }
        }
      }
    });
    for (int64_t c = 0; c < nchunks; ++c)
      for (int64_t w = 0; w < W; ++w) {
        all_or[w] |= por[c * W + w];
        all_and[w] &= pand[c * W + w];
      }
  }
  // Varying bits, least significant first (last word is least significant),
  // packed into a compressed big number of Wc words.
  std::vector<Segment> segs;
  int64_t pos = 0;
  for (int64_t w = W - 1; w >= 0; --w) {
    const uint64_t var = all_or[w] ^ all_and[w];
    int bit = 0;
    while (bit < 64) {
      if (!((var >> bit) & 1)) { ++bit; continue; }
      int end = bit;
      while (end < 64 && ((var >> end) & 1)) ++end;
      int start = bit;
      while (start < end) {
        const int room = 64 - (int)(pos % 64);
        const int len = std::min(end - start, room);
        Segment s;
        s.w = (int32_t)w; s.shift = start; s.cw = (int32_t)(pos / 64);
        s.cshift = (int32_t)(pos % 64);
        s.mask = len == 64 ? ~0ull : ((1ull << len) - 1);
        segs.push_back(s);
        pos += len; start += len;
      }
      bit = end;
    }
  }
  const int64_t B = pos;
  const int64_t Wc = (B + 63) / 64;
  const int R = (int)(Wc + (has_w ? 1 : 0));

  if (B == 0) {  // every row equal
    int64_t total = M;
    if (has_w) {
      total = 0;
      for (int64_t i = 0; i < M; ++i) total += wp[i];
    }
    at::Tensor u = k.narrow(0, 0, 1).clone();
    at::Tensor cnt = at::full({1}, total, lopt);
    return std::make_tuple(u, cnt);
  }

  // Uninitialized (every word is written before it is read): zero-filling 2 x M x R words
  // on one thread, and taking their page faults there, cost more than the compression.
  std::unique_ptr<uint64_t[]> buf_owner(new uint64_t[(size_t)(M * R)]);
  std::unique_ptr<uint64_t[]> tmp_owner(new uint64_t[(size_t)(M * R)]);
  uint64_t* buf = buf_owner.get();
  uint64_t* tmp = tmp_owner.get();
  at::parallel_for(0, M, 1 << 14, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      uint64_t* r = buf + i * R;
      for (int64_t c = 0; c < Wc; ++c) r[c] = 0;
      const uint64_t* row = kp + i * W;
      for (const Segment& s : segs) r[s.cw] |= ((row[s.w] >> s.shift) & s.mask) << s.cshift;
      if (has_w) r[Wc] = (uint64_t)wp[i];
    }
  });
  switch (R) {
    case 1: radix_sort<1>(buf, tmp, M, R, Wc, B); break;
    case 2: radix_sort<2>(buf, tmp, M, R, Wc, B); break;
    case 3: radix_sort<3>(buf, tmp, M, R, Wc, B); break;
    case 4: radix_sort<4>(buf, tmp, M, R, Wc, B); break;
    default: radix_sort<0>(buf, tmp, M, R, Wc, B); break;
  }
  tmp_owner.reset();

  // Runs of equal keys.
  auto same = [&](int64_t i, int64_t j) {
    const uint64_t* a = buf + i * R;
    const uint64_t* b = buf + j * R;
    for (int64_t c = 0; c < Wc; ++c)
      if (a[c] != b[c]) return false;
    return true;
  };
  std::vector<int64_t> starts;
  starts.reserve(1024);
  starts.push_back(0);
  for (int64_t i = 1; i < M; ++i)
    if (!same(i, i - 1)) starts.push_back(i);
  const int64_t U = (int64_t)starts.size();
  starts.push_back(M);
  at::Tensor uniq = at::empty({U, W}, lopt);
  at::Tensor cnt = at::empty({U}, lopt);
  uint64_t* up = reinterpret_cast<uint64_t*>(uniq.data_ptr<int64_t>());
  int64_t* cp = cnt.data_ptr<int64_t>();
  at::parallel_for(0, U, 1 << 12, [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t b = starts[u], e = starts[u + 1];
      const uint64_t* r = buf + b * R;
      uint64_t* row = up + u * W;
      for (int64_t w = 0; w < W; ++w) row[w] = all_and[w] & ~(all_or[w] ^ all_and[w]);
      for (const Segment& s : segs) row[s.w] |= ((r[s.cw] >> s.cshift) & s.mask) << s.shift;
      if (has_w) {
        int64_t t = 0;
        for (int64_t i = b; i < e; ++i) t += (int64_t)buf[i * R + Wc];
        cp[u] = t;
      } else {
        cp[u] = e - b;
      }
    }
  });
  return std::make_tuple(uniq, cnt);
}

// ---------------------------------------------------------------- prefix_counts

at::Tensor prefix_counts_cpu(const at::Tensor& unique, const at::Tensor& counts,
                             int64_t prefix_words) {
  check_prefix_counts(unique, counts, prefix_words, c10::DeviceType::CPU);
  const int64_t U = unique.size(0), W = unique.size(1);
  const auto lopt = counts.options();
  if (U == 0) return at::empty({0}, lopt);
  at::Tensor u = unique.contiguous(), c = counts.contiguous();
  const int64_t* up = u.data_ptr<int64_t>();
  const int64_t* cp = c.data_ptr<int64_t>();
  std::vector<int64_t> out;
  int64_t acc = cp[0];
  for (int64_t i = 1; i < U; ++i) {
    const bool eq = std::memcmp(up + i * W, up + (i - 1) * W,
                                (size_t)prefix_words * sizeof(int64_t)) == 0;
    if (eq) {
      acc += cp[i];
    } else {
      out.push_back(acc);
      acc = cp[i];
    }
  }
  out.push_back(acc);
  at::Tensor r = at::empty({(int64_t)out.size()}, lopt);
  std::memcpy(r.data_ptr<int64_t>(), out.data(), out.size() * sizeof(int64_t));
  return r;
}

}  // namespace
}  // namespace cpu
}  // namespace deep_ei_fast

TORCH_LIBRARY_IMPL(deep_ei_fast, CPU, m) {
  m.impl("vector_codes_", &deep_ei_fast::cpu::vector_codes_cpu);
  m.impl("pack_code_rows", &deep_ei_fast::cpu::pack_code_rows_cpu);
  m.impl("sort_unique_rows", &deep_ei_fast::cpu::sort_unique_rows_cpu);
  m.impl("prefix_counts", &deep_ei_fast::cpu::prefix_counts_cpu);
}
