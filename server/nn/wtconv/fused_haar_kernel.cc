// Row kernels of the fused Haar CPU path, compiled once per ISA: CMake builds this file three
// times with WTSERVE_KERNEL_ISA = 512 (-mavx512f -mfma), 256 (-mavx2 -mfma) or 128 (baseline
// x86-64: SSE2), each into its own namespace. Only raw pointers and GCC vector types, no
// library headers (see fused_haar_kernel.h for why).
//
// The depthwise convs are vectorised over channels (NHWC: the channel dimension is contiguous)
// and computed one output row at a time in blocks of up to 8 (AVX2, SSE) or 16 (AVX-512) columns
// (ConvBlockK: a kernel row's weights in registers, each input vector loaded once per kernel
// row). A level processes one band row at a time: its band rows are made into a ring of k padded
// rows and convolved, then its two output rows are computed by the direct conv with accumulators
// that start from the synthesis of those convolved bands (StartAccumulators), so each output
// row is stored once.
#include "server/nn/wtconv/fused_haar_kernel.h"

#ifndef WTSERVE_KERNEL_ISA
#error "WTSERVE_KERNEL_ISA must be 512, 256 or 128"
#endif

namespace wtserve::nn::detail {
namespace {

typedef float F16 __attribute__((vector_size(64), aligned(4)));
typedef float F8 __attribute__((vector_size(32), aligned(4)));
typedef float F4 __attribute__((vector_size(16), aligned(4)));

template <typename V>
inline V Load(const float* p) {
  V v;
  __builtin_memcpy(&v, p, sizeof(V));
  return v;
}
template <typename V>
inline void Store(float* p, V v) {
  __builtin_memcpy(p, &v, sizeof(V));
}

inline int64_t Min(int64_t a, int64_t b) { return a < b ? a : b; }

// Calls body(V{}, c) for consecutive channel blocks [c, c + lanes of V) from channel `first` on:
// the widest vector of this ISA first, then narrower ones and scalars for the channels left over.
template <typename Body>
inline void ForEachChannelBlock(int64_t channels, Body body, int64_t first = 0) {
  int64_t c = first;
#if WTSERVE_KERNEL_ISA >= 512
  for (; c + 16 <= channels; c += 16) body(F16{}, c);
#endif
#if WTSERVE_KERNEL_ISA >= 256
  for (; c + 8 <= channels; c += 8) body(F8{}, c);
#endif
  for (; c + 4 <= channels; c += 4) body(F4{}, c);
  for (; c < channels; ++c) body(float{}, c);
}

// Rows are zero-padded copies of one channel slice: a padded row holds (width + k - 1) pixels
// of `ch` channels (compact), input column col at padded column col + left, so every output
// column sees all k taps and no tap is clipped; a row outside the image is a row of zeros.

// The taps of a k x k kernel that can meet the image on a height x width map ('same' padding):
// on maps smaller than the kernel the others only ever meet zero padding and are skipped (the
// same sums; the deep levels and the compact model's 3x3 stage are mostly such taps).
struct Taps {
  int64_t a0, a1, b0, b1;  // rows [a0, a1], columns [b0, b1]
};
Taps UsefulTaps(int64_t k, int64_t height, int64_t width) {
  const int64_t left = (k - 1) / 2;
  const int64_t a0 = left - (height - 1), a1 = left + height - 1, b0 = left - (width - 1), b1 = left + width - 1;
  return {a0 > 0 ? a0 : 0, a1 < k - 1 ? a1 : k - 1, b0 > 0 ? b0 : 0, b1 < k - 1 ? b1 : k - 1};
}

// Where a conv block's accumulators start. Band convs: zero. A level's direct conv: the bias (if
// any) plus the raw Haar synthesis of the level's convolved bands at each output pixel, so the
// output row is stored once, complete, instead of being stored by the conv and then read and
// written again by a synthesis pass. For output pixel (row, col), band pixel m = col / 2: with
// l = LL (zero without ll), x, y, z = LH, HL, HH, an even row starts at (l + x) + (y + z) (even
// col) or (l + x) - (y + z) (odd col), an odd row at (l - x) + (y - z) or (l - x) - (y - z) —
// haar_cpu.cc's synthesis, term for term.
struct BlockInit {
  const float* bias = nullptr;  // [ch] or nullptr
  const float* ll = nullptr;    // LL of the band row, pixel stride ll_stride, or nullptr (zero)
  int64_t ll_stride = 0;
  const float* bands = nullptr;  // LH, HL, HH of the band row, `plane` floats apart, `ch` per pixel; nullptr: none
  int64_t plane = 0;
  bool odd_row = false;
};

// acc[j] for columns col + j, channels [c, c + lanes), per `init`. Blocks with synthesis start at
// even columns (ConvRowK splits rows so), so a column's parity is j's.
template <typename V, int kCols>
inline void StartAccumulators(V (&acc)[kCols], const BlockInit& init, int64_t col, int64_t c, int64_t ch) {
  const V bias = init.bias != nullptr ? Load<V>(init.bias + c) : V{};
  if (init.bands == nullptr) {
#pragma GCC unroll 16
    for (int j = 0; j < kCols; ++j) acc[j] = bias;
    return;
  }
  const float* band = init.bands + col / 2 * ch + c;
  const float* ll = init.ll != nullptr ? init.ll + col / 2 * init.ll_stride + c : nullptr;
  const int64_t plane = init.plane;
#pragma GCC unroll 8
  for (int j = 0; j < kCols; j += 2) {
    const int64_t m = j / 2;
    const V l = ll != nullptr ? Load<V>(ll + m * init.ll_stride) : V{};
    const V x = Load<V>(band + m * ch), y = Load<V>(band + plane + m * ch), z = Load<V>(band + 2 * plane + m * ch);
    const V p = init.odd_row ? l - x : l + x, r = init.odd_row ? y - z : y + z;
    acc[j] = bias + (p + r);
    if (j + 1 < kCols) acc[j + 1] = bias + (p - r);
  }
}

// The general block: output columns [col, col + kCols) of one row, channels [c0, c0 + lanes),
// any k and any useful-tap window. rows[t] is padded row r + t - left, weights tap-major with
// `w_stride` floats per tap. One weight vector load feeds kCols multiply-adds.
template <typename V, int kCols>
inline void ConvBlock(const float* const* rows, int64_t k, const Taps& taps, int64_t ch, const float* w,
                      int64_t w_stride, int64_t col, int64_t c0, const BlockInit& init, float* out,
                      int64_t out_stride) {
  V acc[kCols];
  StartAccumulators<V, kCols>(acc, init, col, c0, ch);
  for (int64_t a = taps.a0; a <= taps.a1; ++a) {
    const float* wa = w + a * k * w_stride + c0;
    const float* x = rows[a] + col * ch + c0;
    for (int64_t b = taps.b0; b <= taps.b1; ++b) {
      const V wv = Load<V>(wa + b * w_stride);
      for (int j = 0; j < kCols; ++j) acc[j] += wv * Load<V>(x + (b + j) * ch);
    }
  }
  for (int j = 0; j < kCols; ++j) Store<V>(out + (col + j) * out_stride + c0, acc[j]);
}

// The same block for a K x K kernel whose taps all meet the map (K known at compile time): a
// kernel row's K weight vectors stay in registers and every input vector is loaded once per
// kernel row, feeding up to K accumulators, so a block of kCols columns costs K + kCols + K - 1
// loads for K * kCols multiply-adds per kernel row (instead of K * (kCols + 1)). Registers:
// kCols accumulators + K weights + 1 input (14 of AVX2's 16 at K = 5, kCols = 8). A block at the
// map's left (kLeft) or right (kRight) edge skips the padded columns there, which are zeros
// (at 7 columns and K = 5: 6 of 35 multiply-adds per kernel row).
template <typename V, int K, int kCols, bool kLeft, bool kRight, int kVecs = 1>
inline void ConvBlockK(const float* const* rows, int64_t a0, int64_t a1, int64_t ch, const float* w, int64_t w_stride,
                       int64_t col, int64_t c0, const BlockInit& init, float* out, int64_t out_stride) {
  // kVecs consecutive channel vectors side by side (narrow maps, NarrowRowK): kVecs x kCols
  // independent accumulators.
  constexpr int64_t kLanes = sizeof(V) / sizeof(float);
  V acc[kVecs][kCols];
#pragma GCC unroll 4
  for (int v = 0; v < kVecs; ++v) StartAccumulators<V, kCols>(acc[v], init, col, c0 + v * kLanes, ch);
  for (int64_t a = a0; a <= a1; ++a) {
    V wv[kVecs][K];
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) {
#pragma GCC unroll 16
      for (int b = 0; b < K; ++b) wv[v][b] = Load<V>(w + (a * K + b) * w_stride + c0 + v * kLanes);
    }
    const float* x = rows[a] + col * ch + c0;
    constexpr int kFirst = kLeft ? (K - 1) / 2 : 0, kEnd = kCols + K - 1 - (kRight ? K - 1 - (K - 1) / 2 : 0);
#pragma GCC unroll 32
    for (int t = kFirst; t < kEnd; ++t) {
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v) {
        const V xv = Load<V>(x + t * ch + v * kLanes);
#pragma GCC unroll 16
        for (int j = 0; j < kCols; ++j) {
          if (t - j >= 0 && t - j < K) acc[v][j] += wv[v][t - j] * xv;
        }
      }
    }
  }
#pragma GCC unroll 4
  for (int v = 0; v < kVecs; ++v) {
#pragma GCC unroll 16
    for (int j = 0; j < kCols; ++j) Store<V>(out + (col + j) * out_stride + c0 + v * kLanes, acc[v][j]);
  }
}

// Widest column block of ConvBlockK: accumulators + K weights + 1 input in the vector
// registers. AVX2 and SSE have 16: at most 8 columns (10 at K = 5 made GCC spill accumulators
// to the stack). AVX-512 has 32: up to 16 columns, so a 14-wide map is one block (each kernel
// row's weights loaded once for 14 columns, and 14 independent accumulator chains to hide the
// FMA latency instead of 7).
template <int K>
constexpr int BlockColumns() {
#if WTSERVE_KERNEL_ISA >= 512
  constexpr int kRegisters = 32, kMaxColumns = 16;
#else
  constexpr int kRegisters = 16, kMaxColumns = 8;
#endif
  return kRegisters - 1 - K < kMaxColumns ? kRegisters - 1 - K : kMaxColumns;
}

// Columns [col, col + n) with 0 < n <= kCols as one block of exactly n columns.
template <typename V, int K, int kCols, bool kLeft, bool kRight>
inline void ConvTailK(int64_t n, const float* const* rows, int64_t a0, int64_t a1, int64_t ch, const float* w,
                      int64_t w_stride, int64_t col, int64_t c0, const BlockInit& init, float* out,
                      int64_t out_stride) {
  if constexpr (kCols > 0) {
    if (n == kCols) {
      ConvBlockK<V, K, kCols, kLeft, kRight>(rows, a0, a1, ch, w, w_stride, col, c0, init, out, out_stride);
    } else {
      ConvTailK<V, K, kCols - 1, kLeft, kRight>(n, rows, a0, a1, ch, w, w_stride, col, c0, init, out, out_stride);
    }
  }
}
template <typename V, int kCols>
inline void ConvTail(int64_t n, const float* const* rows, int64_t k, const Taps& taps, int64_t ch, const float* w,
                     int64_t w_stride, int64_t col, int64_t c0, const BlockInit& init, float* out, int64_t out_stride) {
  if constexpr (kCols > 0) {
    if (n == kCols) {
      ConvBlock<V, kCols>(rows, k, taps, ch, w, w_stride, col, c0, init, out, out_stride);
    } else {
      ConvTail<V, kCols - 1>(n, rows, k, taps, ch, w, w_stride, col, c0, init, out, out_stride);
    }
  }
}

#if WTSERVE_KERNEL_ISA >= 512
// A row of exactly kCols columns, both edges in the block, as blocks of kVecs 16-channel vectors
// side by side, kVecs as many as 32 registers hold (kVecs x (kCols + K + 1) <= 31): the maps of
// the deep levels are 1-9 columns wide, too narrow for enough accumulators from columns alone
// (7 columns: 7 chains of dependent FMAs, fewer than two FMA units with a 4-cycle latency keep
// busy). Returns the channels done; the rest go through ConvRowK's one-vector blocks.
template <int K, int kCols>
int64_t NarrowRowK(int64_t width, const float* const* rows, int64_t a0, int64_t a1, int64_t ch, const float* w,
                   int64_t w_stride, const BlockInit& init, float* out, int64_t out_stride) {
  if constexpr (kCols == 0) {
    return 0;
  } else if (width != kCols) {
    return NarrowRowK<K, kCols - 1>(width, rows, a0, a1, ch, w, w_stride, init, out, out_stride);
  } else {
    constexpr int kFit = 31 / (kCols + K + 1), kVecs = kFit > 4 ? 4 : kFit;
    if constexpr (kVecs < 2) {
      return 0;
    } else {
      int64_t c0 = 0;
      for (; c0 + kVecs * 16 <= ch; c0 += kVecs * 16) {
        ConvBlockK<F16, K, kCols, true, true, kVecs>(rows, a0, a1, ch, w, w_stride, 0, c0, init, out, out_stride);
      }
      return c0;
    }
  }
}
#endif

template <int K>
void ConvRowK(const float* const* rows, int64_t a0, int64_t a1, int64_t width, int64_t ch, const float* w,
              int64_t w_stride, const BlockInit& init, float* out, int64_t out_stride) {
  constexpr int kCols = BlockColumns<K>();
  static_assert(kCols % 2 == 0, "blocks must start at even columns (StartAccumulators)");
  // Columns in blocks of at most kCols, as equal as column pairs allow (28 columns in blocks of
  // 16: 14 + 14, not 16 + 12), so every block has close to the most accumulators; every block but
  // the last has an even width, so every block starts at an even column.
  const int64_t blocks = (width + kCols - 1) / kCols, pairs = (width + 1) / 2;
  const int64_t base = pairs / blocks, longer = pairs % blocks;
  int64_t first_channel = 0;
#if WTSERVE_KERNEL_ISA >= 512
  if (blocks == 1) first_channel = NarrowRowK<K, kCols>(width, rows, a0, a1, ch, w, w_stride, init, out, out_stride);
#endif
  ForEachChannelBlock(
      ch,
      [&](auto tag, int64_t c0) {
        using V = decltype(tag);
        int64_t col = 0;
        for (int64_t block = 0; block < blocks; ++block) {
          const int64_t n = block == blocks - 1 ? width - col : 2 * (base + (block < longer ? 1 : 0));
          const bool left = block == 0, right = block == blocks - 1;
          if (left && right) {
            ConvTailK<V, K, kCols, true, true>(n, rows, a0, a1, ch, w, w_stride, col, c0, init, out, out_stride);
          } else if (left) {
            ConvTailK<V, K, kCols, true, false>(n, rows, a0, a1, ch, w, w_stride, col, c0, init, out, out_stride);
          } else if (right) {
            ConvTailK<V, K, kCols, false, true>(n, rows, a0, a1, ch, w, w_stride, col, c0, init, out, out_stride);
          } else {
            ConvTailK<V, K, kCols, false, false>(n, rows, a0, a1, ch, w, w_stride, col, c0, init, out, out_stride);
          }
          col += n;
        }
      },
      first_channel);
}

// Output row `row` (`width` pixels, started from `init`) of a map of `height` rows from its padded
// rows. Kernel rows that meet only the zero rows above or below the map are skipped (at 7 x 7 and
// k = 5 that is 6 of 35 row products). Channel blocks outermost: one block walks the columns left
// to right, so the cache lines of its sliding window stay in L1 across the k * k taps.
void ConvRow(const float* const* rows, int64_t k, int64_t height, int64_t width, int64_t row, int64_t ch,
             const float* w, int64_t w_stride, const BlockInit& init, float* out, int64_t out_stride) {
  const int64_t left = (k - 1) / 2;
  Taps taps = UsefulTaps(k, height, width);
  taps.a0 = taps.a0 > left - row ? taps.a0 : left - row;
  taps.a1 = taps.a1 < height - 1 - row + left ? taps.a1 : height - 1 - row + left;
  if (taps.b0 == 0 && taps.b1 == k - 1) {
    switch (k) {
      case 3: return ConvRowK<3>(rows, taps.a0, taps.a1, width, ch, w, w_stride, init, out, out_stride);
      case 5: return ConvRowK<5>(rows, taps.a0, taps.a1, width, ch, w, w_stride, init, out, out_stride);
      case 7: return ConvRowK<7>(rows, taps.a0, taps.a1, width, ch, w, w_stride, init, out, out_stride);
      default: break;
    }
  }
  constexpr int kCols = 8;
  ForEachChannelBlock(ch, [&](auto tag, int64_t c0) {
    using V = decltype(tag);
    int64_t col = 0;
    for (; col + kCols <= width; col += kCols) {
      ConvBlock<V, kCols>(rows, k, taps, ch, w, w_stride, col, c0, init, out, out_stride);
    }
    if (col < width) {
      ConvTail<V, kCols - 1>(width - col, rows, k, taps, ch, w, w_stride, col, c0, init, out, out_stride);
    }
  });
}

void Zero(float* p, int64_t n) {
  for (int64_t i = 0; i < n; ++i) p[i] = 0.f;
}

// Copies `width` pixels of `ch` channels (pixel stride `stride`) into a compact padded row.
void PadRow(const float* src, int64_t width, int64_t ch, int64_t stride, int64_t k, float* dst) {
  const int64_t left = (k - 1) / 2, right = k - 1 - left;
  Zero(dst, left * ch);
  float* body = dst + left * ch;
  if (stride == ch) {
    __builtin_memcpy(body, src, sizeof(float) * width * ch);
  } else {
    // Vector copies: a slice is often one or two vectors wide, too short for a memcpy call.
    for (int64_t col = 0; col < width; ++col) {
      const float* from = src + col * stride;
      float* to = body + col * ch;
      ForEachChannelBlock(ch,
                          [&](auto tag, int64_t c) { Store<decltype(tag)>(to + c, Load<decltype(tag)>(from + c)); });
    }
  }
  Zero(body + width * ch, right * ch);
}

// Which raw bands BandsRow writes.
enum class BandSet { kHigh, kAll, kLowOnly };

// The raw bands of one 2 x 2 block (top-left pixel pa; the pixel to the right `stride` floats on,
// the one below `row_step`) into ll and lh / lh + plane / lh + 2 * plane. Pixels past an odd edge
// (kRight / kBottom false) are zero vectors: the same vector code on edges, where on small odd maps
// such as 7 x 7 nearly half the blocks are. Same association as haar_cpu.cc: LL (a+c) + (b+d),
// LH (a-c) + (b-d), HL (a+c) - (b+d), HH (a-c) - (b-d).
template <BandSet kSet, bool kRight, bool kBottom>
inline void BandsBlock(const float* pa, int64_t stride, int64_t row_step, int64_t ch, float* ll, float* lh,
                       int64_t plane) {
  ForEachChannelBlock(ch, [&](auto tag, int64_t c) {
    using V = decltype(tag);
    const V a = Load<V>(pa + c);
    const V b = kRight ? Load<V>(pa + stride + c) : V{};
    const V cc = kBottom ? Load<V>(pa + row_step + c) : V{};
    const V d = kRight && kBottom ? Load<V>(pa + row_step + stride + c) : V{};
    const V pe = a + cc, po = b + d, qe = a - cc, qo = b - d;
    if constexpr (kSet != BandSet::kHigh) Store<V>(ll + c, pe + po);
    if constexpr (kSet != BandSet::kLowOnly) {
      Store<V>(lh + c, qe + qo);
      Store<V>(lh + plane + c, pe - po);
      Store<V>(lh + 2 * plane + c, qe - qo);
    }
  });
}

template <BandSet kSet, bool kBottom>
void BandsRowT(const float* top, int64_t width, int64_t ch, int64_t stride, float* bands, int64_t plane,
               int64_t out_stride) {
  // kAll: LL at bands, LH HL HH the next planes; kHigh: LH HL HH from bands; kLowOnly: LL.
  float* ll_row = bands;
  float* lh_row = kSet == BandSet::kAll ? bands + plane : bands;
  const int64_t row_step = width * stride, full = width / 2;
  for (int64_t j = 0; j < full; ++j) {
    BandsBlock<kSet, true, kBottom>(top + 2 * j * stride, stride, row_step, ch, ll_row + j * out_stride,
                                    lh_row + j * out_stride, plane);
  }
  if (width % 2 != 0) {
    BandsBlock<kSet, false, kBottom>(top + 2 * full * stride, stride, row_step, ch, ll_row + full * out_stride,
                                     lh_row + full * out_stride, plane);
  }
}

// Raw bands of band row r of `in` (height x width pixels, pixel stride `stride`, `ch` channels)
// into rows [w] of pixels `out_stride` floats apart, one row every `plane` floats: kHigh LH, HL,
// HH; kAll LL, LH, HL, HH; kLowOnly LL. Edges and band sets are template arguments, so the
// per-pixel loop tests nothing per channel vector.
void BandsRow(const float* in, int64_t height, int64_t width, int64_t ch, int64_t stride, int64_t r, BandSet set,
              float* bands, int64_t plane, int64_t out_stride) {
  const float* top = in + 2 * r * width * stride;
  const bool bottom = 2 * r + 1 < height;
  switch (set) {
    case BandSet::kHigh:
      return bottom ? BandsRowT<BandSet::kHigh, true>(top, width, ch, stride, bands, plane, out_stride)
                    : BandsRowT<BandSet::kHigh, false>(top, width, ch, stride, bands, plane, out_stride);
    case BandSet::kAll:
      return bottom ? BandsRowT<BandSet::kAll, true>(top, width, ch, stride, bands, plane, out_stride)
                    : BandsRowT<BandSet::kAll, false>(top, width, ch, stride, bands, plane, out_stride);
    case BandSet::kLowOnly:
      return bottom ? BandsRowT<BandSet::kLowOnly, true>(top, width, ch, stride, bands, plane, out_stride)
                    : BandsRowT<BandSet::kLowOnly, false>(top, width, ch, stride, bands, plane, out_stride);
  }
}

constexpr int64_t kMaxKernel = 64;

// Where LevelRows keeps its rows in the scratch buffer: k + 1 padded input rows, one padded
// zero row, k slots of `bands` padded band rows, `bands` convolved band rows. One
// function for LevelRows and for the caller's allocation (LevelScratchFloats).
struct ScratchLayout {
  int64_t padded_in, padded_band, bands, in_ring, zero_row, band_ring, conv, total;  // floats / offsets
};
ScratchLayout Layout(const FusedLevelArgs& a) {
  const int64_t k = a.kernel, ch = a.channels, w = (a.width + 1) / 2;
  ScratchLayout l;
  l.padded_in = (a.width + k - 1) * ch;
  l.padded_band = (w + k - 1) * ch;
  l.bands = a.ll_w != nullptr ? 4 : 3;  // with ll_w the LL band is made and convolved here too
  l.in_ring = 0;
  l.zero_row = l.in_ring + (k + 1) * l.padded_in;
  l.band_ring = l.zero_row + l.padded_in;
  l.conv = l.band_ring + k * l.bands * l.padded_band;
  l.total = l.conv + l.bands * w * ch;
  return l;
}

int64_t LevelScratchFloats(const FusedLevelArgs& a) { return Layout(a).total; }

void LevelRows(const FusedLevelArgs& a, int64_t row_begin, int64_t row_end, float* scratch) {
  const int64_t k = a.kernel, left = (k - 1) / 2, ch = a.channels, kk = k * k * a.w_stride;
  const int64_t is = a.in_stride, os = a.out_stride;
  const int64_t h = (a.height + 1) / 2, w = (a.width + 1) / 2;
  const ScratchLayout layout = Layout(a);
  const int64_t padded_in = layout.padded_in, padded_band = layout.padded_band, bands = layout.bands;
  // With ll_w the LL band is made and convolved here too (the deepest level), else LL comes in.
  const bool own_ll = a.ll_w != nullptr;
  const int64_t in_slots = k + 1, band_slots = k, plane = w * ch;
  float* in_ring = scratch + layout.in_ring;
  float* zero_row = scratch + layout.zero_row;
  float* band_ring = scratch + layout.band_ring;
  float* conv = scratch + layout.conv;
  Zero(zero_row, padded_in);
  int64_t in_slot_row[kMaxKernel + 1];
  for (int64_t s = 0; s < in_slots; ++s) in_slot_row[s] = -1;
  // Input row r as a padded row (copied once into its ring slot; k + 1 consecutive rows never
  // share a slot).
  auto input_row = [&](int64_t r) -> const float* {
    if (r < 0 || r >= a.height) return zero_row;
    const int64_t s = r % in_slots;
    if (in_slot_row[s] != r) {
      PadRow(a.in + r * a.width * is, a.width, ch, is, k, in_ring + s * padded_in);
      in_slot_row[s] = r;
    }
    return in_ring + s * padded_in;
  };
  const float* rows[kMaxKernel + 1];
  // Output row r, complete: the direct conv started from the bias and the synthesis of band row
  // r / 2 (`synthesis`, its convolved bands).
  auto output_row = [&](int64_t r, BlockInit synthesis) {
    for (int64_t t = 0; t < k; ++t) rows[t] = input_row(r + t - left);
    synthesis.bias = a.bias;
    synthesis.odd_row = r % 2 != 0;
    ConvRow(rows, k, a.height, a.width, r, ch, a.direct_w, a.w_stride, synthesis, a.out + r * a.width * os, os);
  };
  int64_t band_slot_row[kMaxKernel];
  // BandsRow writes the w pixels between a band row's padding columns; only the padding needs
  // zeros (zeroing whole rows was a sixth of level 0's stores at 56 x 56).
  for (int64_t s = 0; s < band_slots; ++s) {
    band_slot_row[s] = -1;
    for (int64_t b = 0; b < bands; ++b) {
      float* row = band_ring + (s * bands + b) * padded_band;
      Zero(row, left * ch);
      Zero(row + (left + w) * ch, (k - 1 - left) * ch);
    }
  }
  // Band row i needs band rows i - left .. i - left + k - 1: a window of k rows in k ring slots,
  // each row made once.
  for (int64_t i = row_begin; i < row_end; ++i) {
    for (int64_t t = 0; t < k; ++t) {
      const int64_t r = i + t - left;
      if (r < 0 || r >= h || band_slot_row[r % band_slots] == r) continue;
      BandsRow(a.in, a.height, a.width, ch, is, r, own_ll ? BandSet::kAll : BandSet::kHigh,
               band_ring + (r % band_slots) * bands * padded_band + left * ch, padded_band, ch);
      band_slot_row[r % band_slots] = r;
    }
    // conv holds [bands][w][ch]; band 0 is LL when own_ll.
    for (int64_t band = 0; band < bands; ++band) {
      for (int64_t t = 0; t < k; ++t) {
        const int64_t r = i + t - left;
        rows[t] = r >= 0 && r < h ? band_ring + ((r % band_slots) * bands + band) * padded_band : zero_row;
      }
      const float* weights = own_ll ? (band == 0 ? a.ll_w : a.band_w + (band - 1) * kk) : a.band_w + band * kk;
      ConvRow(rows, k, h, w, i, ch, weights, a.w_stride, BlockInit{}, conv + band * plane, ch);
    }
    // The output rows of this band row. LL is the band convolved here (own_ll) or the deeper
    // level's output row i.
    BlockInit synthesis;
    synthesis.plane = plane;
    if (own_ll) {
      synthesis.ll = conv;
      synthesis.ll_stride = ch;
      synthesis.bands = conv + plane;
    } else {
      synthesis.ll = a.ll != nullptr ? a.ll + i * w * a.ll_stride : nullptr;
      synthesis.ll_stride = a.ll_stride;
      synthesis.bands = conv;
    }
    output_row(2 * i, synthesis);
    if (2 * i + 1 < a.height) output_row(2 * i + 1, synthesis);
  }
}

void LowpassRows(const float* in, int64_t height, int64_t width, int64_t ch, int64_t in_stride, float* out,
                 int64_t out_stride, int64_t row_begin, int64_t row_end) {
  const int64_t w = (width + 1) / 2;
  for (int64_t r = row_begin; r < row_end; ++r) {
    BandsRow(in, height, width, ch, in_stride, r, BandSet::kLowOnly, out + r * w * out_stride, 0, out_stride);
  }
}

}  // namespace

// Widest channel slice of one task (a multiple of 16). A task's padded rows hold `slice` floats
// per pixel and the conv walks one vector of channels along k of them. AVX2 on the AMD host: at
// 128 floats (512 B, a power of two) those loads fell into 8 of L1's 64 sets and evicted each
// other (the row conv at 25 GFLOP/s at 14 and 28 columns against 42-47 with 32-96 channels), 64
// still conflicted at 28 columns, 48 ran at 43 GFLOP/s at 7-56 columns. AVX-512 on the Intel
// host (48 KB L1): 96 channels (6 vectors, half the tasks and row calls of 48) gave a geometric
// mean fused/depthwise ratio 5% lower than 48 over the layer benchmark's rows, in two runs.
#if WTSERVE_KERNEL_ISA == 512
FusedHaarKernels FusedHaarKernelsAvx512() { return {"avx512", 96, &LevelRows, &LevelScratchFloats, &LowpassRows}; }
#elif WTSERVE_KERNEL_ISA == 256
FusedHaarKernels FusedHaarKernelsAvx2() { return {"avx2", 48, &LevelRows, &LevelScratchFloats, &LowpassRows}; }
#else
FusedHaarKernels FusedHaarKernelsBaseline() { return {"baseline", 48, &LevelRows, &LevelScratchFloats, &LowpassRows}; }
#endif

}  // namespace wtserve::nn::detail
