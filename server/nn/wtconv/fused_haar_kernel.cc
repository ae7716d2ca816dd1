// Row kernels of the fused Haar CPU path, compiled once per ISA: CMake builds this file three
// times with WTSERVE_KERNEL_ISA = 512 (-mavx512f -mfma), 256 (-mavx2 -mfma) or 128 (baseline
// x86-64: SSE2), each into its own namespace. Only raw pointers and GCC vector types, no
// library headers (see fused_haar_kernel.h for why).
//
// The depthwise convs are vectorised over channels (NHWC: the channel dimension is contiguous)
// and blocked over four output columns, so one weight vector load feeds four FMAs; the columns
// outermost keep the k rows x (4 + k - 1) columns of input and all k*k weight vectors of the
// channels in L1 while the channel blocks are walked.
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


// Calls body(V{}, c) for consecutive channel blocks [c, c + lanes of V): the widest vector of
// this ISA first, then narrower ones and scalars for the channels left over.
template <typename Body>
inline void ForEachChannelBlock(int64_t channels, Body body) {
  int64_t c = 0;
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

// Output rows r0 .. r0 + kRows - 1, columns [col, col + kCols), channels [c0, c0 + lanes):
// rows[t] is padded row r0 + t - left (t < k + kRows - 1), weights tap-major with `w_stride`
// floats per tap, out[i] a row with `out_stride` floats per pixel. One weight vector load feeds
// kRows * kCols multiply-adds (8 for the 2 x 4 block: 8 accumulators of 16 AVX registers).
template <typename V, int kRows, int kCols>
inline void ConvBlock(const float* const* rows, int64_t k, const Taps& taps, int64_t ch, const float* w,
                      int64_t w_stride, int64_t col, int64_t c0, const float* init, float* const* out,
                      int64_t out_stride) {
  V acc[kRows][kCols];
  const V start = init != nullptr ? Load<V>(init + c0) : V{};
  for (int i = 0; i < kRows; ++i) {
    for (int j = 0; j < kCols; ++j) acc[i][j] = start;
  }
  for (int64_t a = taps.a0; a <= taps.a1; ++a) {
    const float* wa = w + a * k * w_stride + c0;
    const float* x[kRows];
    for (int i = 0; i < kRows; ++i) x[i] = rows[a + i] + col * ch + c0;
    for (int64_t b = taps.b0; b <= taps.b1; ++b) {
      const V wv = Load<V>(wa + b * w_stride);
      for (int i = 0; i < kRows; ++i) {
        for (int j = 0; j < kCols; ++j) acc[i][j] += wv * Load<V>(x[i] + (b + j) * ch);
      }
    }
  }
  for (int i = 0; i < kRows; ++i) {
    for (int j = 0; j < kCols; ++j) Store<V>(out[i] + (col + j) * out_stride + c0, acc[i][j]);
  }
}

// kRows output rows of `width` pixels (+ init per channel) from padded rows of a map of `height`
// rows. Channel blocks outermost: one block walks the columns left to right, so the cache lines
// of its sliding (4 + k - 1)-column window stay in L1 across the k * k taps.
template <int kRows>
void ConvRows(const float* const* rows, int64_t k, int64_t height, int64_t width, int64_t ch, const float* w,
              int64_t w_stride, const float* init, float* const* out, int64_t out_stride) {
  const Taps taps = UsefulTaps(k, height, width);
  ForEachChannelBlock(ch, [&](auto tag, int64_t c0) {
    using V = decltype(tag);
    int64_t col = 0;
    for (; col + 4 <= width; col += 4) {
      ConvBlock<V, kRows, 4>(rows, k, taps, ch, w, w_stride, col, c0, init, out, out_stride);
    }
    // The one to three columns left over as one block.
    switch (width - col) {
      case 3: ConvBlock<V, kRows, 3>(rows, k, taps, ch, w, w_stride, col, c0, init, out, out_stride); break;
      case 2: ConvBlock<V, kRows, 2>(rows, k, taps, ch, w, w_stride, col, c0, init, out, out_stride); break;
      case 1: ConvBlock<V, kRows, 1>(rows, k, taps, ch, w, w_stride, col, c0, init, out, out_stride); break;
      default: break;
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
    for (int64_t col = 0; col < width; ++col) __builtin_memcpy(body + col * ch, src + col * stride, sizeof(float) * ch);
  }
  Zero(body + width * ch, right * ch);
}

// Which raw bands BandsRow writes.
enum class BandSet { kHigh, kAll, kLowOnly };

// Raw bands of band row r of `in` (height x width pixels, pixel stride `stride`, `ch` channels)
// into rows [w] of pixels `out_stride` floats apart, one row every `plane` floats: kHigh LH, HL,
// HH; kAll LL, LH, HL, HH; kLowOnly LL. Same association as haar_cpu.cc: LL (a+c) + (b+d),
// LH (a-c) + (b-d), HL (a+c) - (b+d), HH (a-c) - (b-d); pixels past an odd edge are zeros.
void BandsRow(const float* in, int64_t height, int64_t width, int64_t ch, int64_t stride, int64_t r, BandSet set,
              float* bands, int64_t plane, int64_t out_stride) {
  const int64_t w = (width + 1) / 2;
  const float* top = in + 2 * r * width * stride;
  const bool has_bottom = 2 * r + 1 < height;
  float* ll_row = set == BandSet::kHigh ? nullptr : bands;
  float* lh_row = set == BandSet::kHigh ? bands : set == BandSet::kAll ? bands + plane : nullptr;
  for (int64_t j = 0; j < w; ++j) {
    const bool has_right = 2 * j + 1 < width;
    const float* pa = top + 2 * j * stride;
    float* ll = ll_row != nullptr ? ll_row + j * out_stride : nullptr;
    float* lh = lh_row != nullptr ? lh_row + j * out_stride : nullptr;
    float* hl = lh != nullptr ? lh + plane : nullptr;
    float* hh = lh != nullptr ? hl + plane : nullptr;
    if (has_bottom && has_right) {
      const float* pb = pa + stride;
      const float* pc = pa + width * stride;
      const float* pd = pc + stride;
      ForEachChannelBlock(ch, [&](auto tag, int64_t c) {
        using V = decltype(tag);
        const V a = Load<V>(pa + c), b = Load<V>(pb + c), cc = Load<V>(pc + c), d = Load<V>(pd + c);
        const V pe = a + cc, po = b + d, qe = a - cc, qo = b - d;
        if (ll != nullptr) Store<V>(ll + c, pe + po);
        if (lh != nullptr) {
          Store<V>(lh + c, qe + qo);
          Store<V>(hl + c, pe - po);
          Store<V>(hh + c, qe - qo);
        }
      });
    } else {
      for (int64_t c = 0; c < ch; ++c) {
        const float b = has_right ? pa[stride + c] : 0.f;
        const float cc = has_bottom ? pa[width * stride + c] : 0.f;
        const float d = has_right && has_bottom ? pa[width * stride + stride + c] : 0.f;
        const float pe = pa[c] + cc, po = b + d, qe = pa[c] - cc, qo = b - d;
        if (ll != nullptr) ll[c] = pe + po;
        if (lh != nullptr) {
          lh[c] = qe + qo;
          hl[c] = pe - po;
          hh[c] = qe - qo;
        }
      }
    }
  }
}

// Adds the raw synthesis of one band row into output rows 2i and 2i+1 (the latter only inside
// the image) of `out` (pixel stride `stride`). LL comes from `ll` (pixel stride `ll_stride`) or
// is zero; LH, HL, HH from the compact rows of `v`, `plane` floats apart.
void SynthesisRow(const float* ll, int64_t ll_stride, const float* v, int64_t plane, int64_t height, int64_t width,
                  int64_t ch, int64_t stride, int64_t i, float* out) {
  const int64_t w = (width + 1) / 2;
  float* top = out + 2 * i * width * stride;
  const bool has_bottom = 2 * i + 1 < height;
  for (int64_t j = 0; j < w; ++j) {
    const bool has_right = 2 * j + 1 < width;
    const float* lh = v + j * ch;
    const float* hl = lh + plane;
    const float* hh = hl + plane;
    const float* lo = ll != nullptr ? ll + j * ll_stride : nullptr;
    float* ta = top + 2 * j * stride;
    if (has_bottom && has_right && lo != nullptr) {
      float* tb = ta + stride;
      float* tc = ta + width * stride;
      float* td = tc + stride;
      ForEachChannelBlock(ch, [&](auto tag, int64_t c) {
        using V = decltype(tag);
        const V l = Load<V>(lo + c), x = Load<V>(lh + c), y = Load<V>(hl + c), z = Load<V>(hh + c);
        const V p = l + x, q = l - x, r = y + z, s = y - z;
        Store<V>(ta + c, Load<V>(ta + c) + (p + r));
        Store<V>(tb + c, Load<V>(tb + c) + (p - r));
        Store<V>(tc + c, Load<V>(tc + c) + (q + s));
        Store<V>(td + c, Load<V>(td + c) + (q - s));
      });
    } else {
      for (int64_t c = 0; c < ch; ++c) {
        const float l = lo != nullptr ? lo[c] : 0.f;
        const float p = l + lh[c], q = l - lh[c], r = hl[c] + hh[c], s = hl[c] - hh[c];
        ta[c] += p + r;
        if (has_right) ta[stride + c] += p - r;
        if (has_bottom) ta[width * stride + c] += q + s;
        if (has_bottom && has_right) ta[width * stride + stride + c] += q - s;
      }
    }
  }
}

constexpr int64_t kMaxKernel = 64;

// Where LevelRows keeps its rows in the scratch buffer: k + 1 padded input rows, one padded
// zero row, k + 1 slots of `bands` padded band rows, 2 x `bands` convolved band rows. One
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
  l.conv = l.band_ring + (k + 1) * l.bands * l.padded_band;
  l.total = l.conv + 2 * l.bands * w * ch;
  return l;
}

int64_t LevelScratchFloats(const FusedLevelArgs& a) { return Layout(a).total; }

void LevelRows(const FusedLevelArgs& a, int64_t row_begin, int64_t row_end, float* scratch) {
  const int64_t k = a.kernel, left = (k - 1) / 2, ch = a.channels, ps = a.stride, kk = k * k * ps;
  const int64_t h = (a.height + 1) / 2, w = (a.width + 1) / 2;
  const ScratchLayout layout = Layout(a);
  const int64_t padded_in = layout.padded_in, padded_band = layout.padded_band, bands = layout.bands;
  // With ll_w the LL band is made and convolved here too (the deepest level), else LL comes in.
  const bool own_ll = a.ll_w != nullptr;
  const int64_t in_slots = k + 1, band_slots = k + 1, plane = w * ch;
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
      PadRow(a.in + r * a.width * ps, a.width, ch, ps, k, in_ring + s * padded_in);
      in_slot_row[s] = r;
    }
    return in_ring + s * padded_in;
  };
  const float* rows[kMaxKernel + 1];
  // Output rows r and r + 1 (if below `last`) of the direct conv, bias included.
  auto direct_rows = [&](int64_t r, int64_t last) {
    for (int64_t t = 0; t <= k; ++t) rows[t] = input_row(r + t - left);
    float* out[2] = {a.out + r * a.width * ps, a.out + (r + 1) * a.width * ps};
    if (r + 1 < last) {
      ConvRows<2>(rows, k, a.height, a.width, ch, a.direct_w, ps, a.bias, out, ps);
    } else {
      ConvRows<1>(rows, k, a.height, a.width, ch, a.direct_w, ps, a.bias, out, ps);
    }
  };
  int64_t band_slot_row[kMaxKernel + 1];
  for (int64_t s = 0; s < band_slots; ++s) {
    band_slot_row[s] = -1;
    for (int64_t b = 0; b < bands; ++b) PadRow(zero_row, w, ch, ch, k, band_ring + (s * bands + b) * padded_band);
  }
  // Band rows in pairs (i, i + 1): the window of k + 1 band rows lives in k + 1 ring slots.
  for (int64_t i = row_begin; i < row_end; i += 2) {
    const bool pair = i + 1 < row_end;
    for (int64_t t = 0; t <= k; ++t) {
      const int64_t r = i + t - left;
      if (r < 0 || r >= h || band_slot_row[r % band_slots] == r) continue;
      BandsRow(a.in, a.height, a.width, ch, ps, r, own_ll ? BandSet::kAll : BandSet::kHigh,
               band_ring + (r % band_slots) * bands * padded_band + left * ch, padded_band, ch);
      band_slot_row[r % band_slots] = r;
    }
    // conv holds [2 rows][bands][w][ch]; band 0 is LL when own_ll.
    for (int64_t band = 0; band < bands; ++band) {
      for (int64_t t = 0; t <= k; ++t) {
        const int64_t r = i + t - left;
        rows[t] = r >= 0 && r < h ? band_ring + ((r % band_slots) * bands + band) * padded_band : zero_row;
      }
      const float* weights = own_ll ? (band == 0 ? a.ll_w : a.band_w + (band - 1) * kk) : a.band_w + band * kk;
      float* out[2] = {conv + band * plane, conv + (bands + band) * plane};
      if (pair) {
        ConvRows<2>(rows, k, h, w, ch, weights, ps, nullptr, out, ch);
      } else {
        ConvRows<1>(rows, k, h, w, ch, weights, ps, nullptr, out, ch);
      }
    }
    // The output rows of these band rows: direct conv, then the synthesis added on top.
    for (int64_t row = i; row < (pair ? i + 2 : i + 1); ++row) {
      direct_rows(2 * row, a.height);
      const float* v = conv + (row - i) * bands * plane;
      if (own_ll) {
        SynthesisRow(v, ch, v + plane, plane, a.height, a.width, ch, ps, row, a.out);
      } else {
        SynthesisRow(a.ll != nullptr ? a.ll + row * w * ps : nullptr, ps, v, plane, a.height, a.width, ch, ps, row,
                     a.out);
      }
    }
  }
}

void LowpassRows(const float* in, int64_t height, int64_t width, int64_t ch, int64_t stride, float* out,
                 int64_t row_begin, int64_t row_end) {
  const int64_t w = (width + 1) / 2;
  for (int64_t r = row_begin; r < row_end; ++r) {
    BandsRow(in, height, width, ch, stride, r, BandSet::kLowOnly, out + r * w * stride, 0, stride);
  }
}

}  // namespace

#if WTSERVE_KERNEL_ISA == 512
FusedHaarKernels FusedHaarKernelsAvx512() { return {"avx512", &LevelRows, &LevelScratchFloats, &LowpassRows}; }
#elif WTSERVE_KERNEL_ISA == 256
FusedHaarKernels FusedHaarKernelsAvx2() { return {"avx2", &LevelRows, &LevelScratchFloats, &LowpassRows}; }
#else
FusedHaarKernels FusedHaarKernelsBaseline() { return {"baseline", &LevelRows, &LevelScratchFloats, &LowpassRows}; }
#endif

}  // namespace wtserve::nn::detail
