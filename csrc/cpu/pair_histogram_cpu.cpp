// CPU kernel of pair_histogram_accumulate_: counts[a, b, x[a,i], y[b,i]] += 1.
//
// Work item = (group of kGroup consecutive b, one a); items are ordered
// b-group-major so that a thread's contiguous range of items reuses the same
// few y rows (kept in L2) while it streams over the x rows. Each (a, b) pair
// histogram lives in `counts` itself (RX*RY int32, L1/L2 sized) and is only
// touched by the thread owning that item, so the result is independent of the
// number of threads. Several b histograms are updated per sample for ILP.
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "cpu_common.h"
#include "deep_ei_fast/op_checks.h"

namespace deep_ei_fast {
namespace cpu {
namespace {

constexpr int64_t kGroup = 4;
constexpr int64_t kXBlock = 2048;

template <typename code_t>
int64_t max_code(const at::Tensor& codes) {
  const code_t* p = codes.data_ptr<code_t>();
  const int64_t n = codes.numel();
  if (n == 0) return -1;
  // Unsigned view: negative int32 codes become huge and fail the check.
  using ucode_t = typename std::make_unsigned<code_t>::type;
  const ucode_t* up = reinterpret_cast<const ucode_t*>(p);
  return at::parallel_reduce(
      0, n, 1 << 16, (int64_t)0,
      [&](int64_t b, int64_t e, int64_t acc) {
        ucode_t m = 0;
        for (int64_t i = b; i < e; ++i) m = up[i] > m ? up[i] : m;
        return std::max<int64_t>(acc, (int64_t)m);
      },
      [](int64_t x, int64_t y) { return std::max(x, y); });
}

template <typename code_t, int G>
DEI_CLONES void accumulate_group(int32_t* __restrict const* h, const code_t* __restrict x,
                                 const code_t* __restrict const* y, int64_t S, int32_t RY) {
  alignas(64) int32_t xo[kXBlock];
  const code_t* __restrict y0 = y[0];
  const code_t* __restrict y1 = G > 1 ? y[1] : nullptr;
  const code_t* __restrict y2 = G > 2 ? y[2] : nullptr;
  const code_t* __restrict y3 = G > 3 ? y[3] : nullptr;
  int32_t* __restrict h0 = h[0];
  int32_t* __restrict h1 = G > 1 ? h[1] : nullptr;
  int32_t* __restrict h2 = G > 2 ? h[2] : nullptr;
  int32_t* __restrict h3 = G > 3 ? h[3] : nullptr;
  for (int64_t i0 = 0; i0 < S; i0 += kXBlock) {
    const int64_t cnt = std::min(kXBlock, S - i0);
    for (int64_t i = 0; i < cnt; ++i) xo[i] = (int32_t)x[i0 + i] * RY;
    const code_t* __restrict b0 = y0 + i0;
    const code_t* __restrict b1 = G > 1 ? y1 + i0 : nullptr;
    const code_t* __restrict b2 = G > 2 ? y2 + i0 : nullptr;
    const code_t* __restrict b3 = G > 3 ? y3 + i0 : nullptr;
    for (int64_t i = 0; i < cnt; ++i) {
      const int32_t o = xo[i];
      ++h0[o + (int32_t)b0[i]];
      if (G > 1) ++h1[o + (int32_t)b1[i]];
      if (G > 2) ++h2[o + (int32_t)b2[i]];
      if (G > 3) ++h3[o + (int32_t)b3[i]];
    }
  }
}

// accumulate_group for a run-time group size G in 1..kGroup.
template <typename code_t>
void accumulate_groups(int64_t G, int32_t* const* h, const code_t* x, const code_t* const* y,
                       int64_t S, int32_t stride) {
  switch (G) {
    case 4: accumulate_group<code_t, 4>(h, x, y, S, stride); break;
    case 3: accumulate_group<code_t, 3>(h, x, y, S, stride); break;
    case 2: accumulate_group<code_t, 2>(h, x, y, S, stride); break;
    default: accumulate_group<code_t, 1>(h, x, y, S, stride); break;
  }
}

template <typename code_t>
void run(int32_t* counts, const code_t* xc, const code_t* yc, int64_t na, int64_t nb,
         int64_t S, int64_t RX, int64_t RY) {
  const int64_t ngroups = (nb + kGroup - 1) / kGroup;
  const int64_t items = ngroups * na;
  const int64_t cell = RX * RY;
  at::parallel_for(0, items, grain_for(items, kGroup * S), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t g = t / na, a = t % na;
      const int64_t b_begin = g * kGroup;
      const int64_t G = std::min(kGroup, nb - b_begin);
      int32_t* h[kGroup];
      const code_t* y[kGroup];
      for (int64_t k = 0; k < G; ++k) {
        h[k] = counts + (a * nb + b_begin + k) * cell;
        y[k] = yc + (b_begin + k) * S;
      }
      const code_t* x = xc + a * S;
      accumulate_groups(G, h, x, y, S, (int32_t)RY);
    }
  });
}

// Small tables: the codes of output neurons 2j and 2j+1 are combined into one
// joint code y[2j] * RY + y[2j+1], so that one increment counts two pairs in a
// thread-local RX x RY^2 table, whose two marginals are then added to the pair
// tables. Exact (integer counts), with half the increments. Used when kGroup
// such tables fit in L1 (8 bins: 9 x 81 counters each).
constexpr int64_t kJointCells = 2048;

bool use_joint_codes(int64_t RX, int64_t RY, int64_t nb) {
  return nb >= 2 && RY * RY <= 256 && RX * RY * RY <= kJointCells;
}

template <typename code_t>
void run_joint(int32_t* counts, const code_t* xc, const code_t* yc, int64_t na, int64_t nb,
               int64_t S, int64_t RX, int64_t RY) {
  const int64_t nj = (nb + 1) / 2, RJ = RY * RY;
  std::vector<code_t> yj((size_t)(nj * S));  // RJ <= 256: joint codes fit code_t
  at::parallel_for(0, nj, grain_for(nj, S), [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      const code_t* y0 = yc + 2 * j * S;
      code_t* out = yj.data() + j * S;
      if (2 * j + 1 < nb) {
        const code_t* y1 = y0 + S;
        for (int64_t i = 0; i < S; ++i) out[i] = (code_t)((int32_t)y0[i] * RY + y1[i]);
      } else {  // odd nb: the last joint code pairs neuron 2j with a constant 0
        for (int64_t i = 0; i < S; ++i) out[i] = (code_t)((int32_t)y0[i] * RY);
      }
    }
  });
  const int64_t ngroups = (nj + kGroup - 1) / kGroup;
  const int64_t items = ngroups * na;
  const int64_t table = RX * RJ;
  at::parallel_for(0, items, grain_for(items, kGroup * S), [&](int64_t t0, int64_t t1) {
    std::vector<int32_t> tables((size_t)(kGroup * table));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t g = t / na, a = t % na;
      const int64_t j_begin = g * kGroup;
      const int64_t G = std::min(kGroup, nj - j_begin);
      std::fill(tables.begin(), tables.end(), 0);
      int32_t* h[kGroup];
      const code_t* y[kGroup];
      for (int64_t k = 0; k < G; ++k) {
        h[k] = tables.data() + k * table;
        y[k] = yj.data() + (j_begin + k) * S;
      }
      const code_t* x = xc + a * S;
      accumulate_groups(G, h, x, y, S, (int32_t)RJ);
      for (int64_t k = 0; k < G; ++k) {  // the two marginals
        const int64_t b0 = 2 * (j_begin + k), b1 = b0 + 1;
        int32_t* c0 = counts + (a * nb + b0) * RX * RY;
        int32_t* c1 = b1 < nb ? counts + (a * nb + b1) * RX * RY : nullptr;
        for (int64_t r = 0; r < RX; ++r) {
          const int32_t* row = h[k] + r * RJ;
          for (int64_t u = 0; u < RY; ++u)
            for (int64_t v = 0; v < RY; ++v) {
              const int32_t n = row[u * RY + v];
              c0[r * RY + u] += n;
              if (c1) c1[r * RY + v] += n;
            }
        }
      }
    }
  });
}

template <typename code_t>
void accumulate_typed(at::Tensor& counts, const at::Tensor& x, const at::Tensor& y,
                      const HistogramShape& s, bool check_codes) {
  if (check_codes) {
    check_code_range(0, max_code<code_t>(x), s.RX, "x");  // negative int32 codes read as huge
    check_code_range(0, max_code<code_t>(y), s.RY, "y");
  }
  auto kernel = use_joint_codes(s.RX, s.RY, s.nb) ? run_joint<code_t> : run<code_t>;
  kernel(counts.data_ptr<int32_t>(), x.data_ptr<code_t>(), y.data_ptr<code_t>(), s.na, s.nb,
         s.S, s.RX, s.RY);
}

void pair_histogram_accumulate_cpu(at::Tensor counts, const at::Tensor& x_codes,
                                   const at::Tensor& y_codes, bool check_codes) {
  const HistogramShape s = check_pair_histogram(counts, x_codes, y_codes, c10::DeviceType::CPU);
  if (s.na == 0 || s.nb == 0 || s.S == 0) return;
  at::Tensor x = x_codes.contiguous(), y = y_codes.contiguous();
  if (x.scalar_type() == at::kByte) {
    accumulate_typed<uint8_t>(counts, x, y, s, check_codes);
  } else {
    accumulate_typed<int32_t>(counts, x, y, s, check_codes);
  }
}

}  // namespace
}  // namespace cpu
}  // namespace deep_ei_fast

TORCH_LIBRARY_IMPL(deep_ei_fast, CPU, m) {
  m.impl("pair_histogram_accumulate_", &deep_ei_fast::cpu::pair_histogram_accumulate_cpu);
  // The one-hot formulation only differs on CUDA (tensor cores); on the CPU it
  // is the same function, computed by the same loop.
  m.impl("pair_histogram_onehot_accumulate_",
         &deep_ei_fast::cpu::pair_histogram_accumulate_cpu);
}
