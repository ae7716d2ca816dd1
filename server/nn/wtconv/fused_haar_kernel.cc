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

// Rows are zero-padded copies: a padded row holds (width + k - 1) pixels, input column col at
// padded column col + left, so every output column sees all k taps and no tap is clipped; a row
// outside the image is a row of zeros. The conv kernels below therefore have no borders.
//
// Output rows r0 .. r0 + kRows - 1, columns [col, col + kCols), channels [c0, c0 + lanes):
// rows[t] is padded input row r0 + t - left (t < k + kRows - 1). Each weight vector load feeds
// kRows * kCols multiply-adds (8 for the 2 x 4 block: 8 accumulators of 16 AVX registers).
template <typename V, int kRows, int kCols>
inline void ConvBlock(const float* const* rows, int64_t k, int64_t channels, const float* w, int64_t col, int64_t c0,
                      const float* init, float* const* out) {
  V acc[kRows][kCols];
  const V start = init != nullptr ? Load<V>(init + c0) : V{};
  for (int i = 0; i < kRows; ++i) {
    for (int j = 0; j < kCols; ++j) acc[i][j] = start;
  }
  for (int64_t a = 0; a < k; ++a) {
    const float* wa = w + a * k * channels + c0;
    const float* x[kRows];
    for (int i = 0; i < kRows; ++i) x[i] = rows[a + i] + col * channels + c0;
    for (int64_t b = 0; b < k; ++b) {
      const V wv = Load<V>(wa + b * channels);
      for (int i = 0; i < kRows; ++i) {
        for (int j = 0; j < kCols; ++j) acc[i][j] += wv * Load<V>(x[i] + (b + j) * channels);
      }
    }
  }
  for (int i = 0; i < kRows; ++i) {
    for (int j = 0; j < kCols; ++j) Store<V>(out[i] + (col + j) * channels + c0, acc[i][j]);
  }
}

// kRows output rows (each [width][channels], + init per channel) from padded rows. Channel
// blocks outermost: one block walks the columns left to right, so the few cache lines of its
// sliding (4 + k - 1)-column window stay in L1 across the k * k taps (columns outermost
// thrashed L1 at C = 96: about 18 KB of input plus 10 KB of weights per column block).
template <int kRows>
void ConvRows(const float* const* rows, int64_t k, int64_t width, int64_t channels, const float* w,
              const float* init, float* const* out) {
  ForEachChannelBlock(channels, [&](auto tag, int64_t c0) {
    using V = decltype(tag);
    int64_t col = 0;
    for (; col + 4 <= width; col += 4) ConvBlock<V, kRows, 4>(rows, k, channels, w, col, c0, init, out);
    // The one to three columns left over as one block.
    switch (width - col) {
      case 3: ConvBlock<V, kRows, 3>(rows, k, channels, w, col, c0, init, out); break;
      case 2: ConvBlock<V, kRows, 2>(rows, k, channels, w, col, c0, init, out); break;
      case 1: ConvBlock<V, kRows, 1>(rows, k, channels, w, col, c0, init, out); break;
      default: break;
    }
  });
}

// Copies row [width][channels] into a padded row (zeros at both ends); nullptr: all zeros.
void PadRow(const float* src, int64_t width, int64_t channels, int64_t k, float* dst) {
  const int64_t left = (k - 1) / 2, right = k - 1 - left;
  for (int64_t i = 0; i < left * channels; ++i) dst[i] = 0.f;
  float* body = dst + left * channels;
  if (src != nullptr) {
    __builtin_memcpy(body, src, sizeof(float) * width * channels);
  } else {
    for (int64_t i = 0; i < width * channels; ++i) body[i] = 0.f;
  }
  for (int64_t i = 0; i < right * channels; ++i) body[width * channels + i] = 0.f;
}

// Raw LH, HL, HH of band row r into three rows [w][channels] starting at `bands`, one every
// `plane` floats. Same association as haar_cpu.cc: (a-c) + (b-d), (a+c) - (b+d), (a-c) - (b+d).
void HighBandsRow(const float* in, int64_t height, int64_t width, int64_t channels, int64_t r, float* bands,
                  int64_t plane) {
  const int64_t w = (width + 1) / 2;
  const float* top = in + 2 * r * width * channels;
  const bool has_bottom = 2 * r + 1 < height;
  for (int64_t j = 0; j < w; ++j) {
    const bool has_right = 2 * j + 1 < width;
    const float* __restrict pa = top + 2 * j * channels;
    float* __restrict lh = bands + j * channels;
    float* __restrict hl = lh + plane;
    float* __restrict hh = hl + plane;
    if (has_bottom && has_right) {
      const float* pb = pa + channels;
      const float* pc = pa + width * channels;
      const float* pd = pc + channels;
      ForEachChannelBlock(channels, [&](auto tag, int64_t c) {
        using V = decltype(tag);
        const V a = Load<V>(pa + c), b = Load<V>(pb + c), cc = Load<V>(pc + c), d = Load<V>(pd + c);
        const V pe = a + cc, po = b + d, qe = a - cc, qo = b - d;
        Store<V>(lh + c, qe + qo);
        Store<V>(hl + c, pe - po);
        Store<V>(hh + c, qe - qo);
      });
    } else {
      for (int64_t c = 0; c < channels; ++c) {
        const float b = has_right ? pa[channels + c] : 0.f;
        const float cc = has_bottom ? pa[width * channels + c] : 0.f;
        const float d = has_right && has_bottom ? pa[width * channels + channels + c] : 0.f;
        const float pe = pa[c] + cc, po = b + d, qe = pa[c] - cc, qo = b - d;
        lh[c] = qe + qo;
        hl[c] = pe - po;
        hh[c] = qe - qo;
      }
    }
  }
}

// Adds the raw synthesis of one band row (LL from `ll` or zero, LH/HL/HH from the planes of
// `v`) into output rows 2i and 2i+1 (the latter only if inside the image).
void SynthesisRow(const float* ll, const float* v, int64_t height, int64_t width, int64_t channels, int64_t i,
                  float* out) {
  const int64_t w = (width + 1) / 2, plane = w * channels;
  float* top = out + 2 * i * width * channels;
  const bool has_bottom = 2 * i + 1 < height;
  for (int64_t j = 0; j < w; ++j) {
    const bool has_right = 2 * j + 1 < width;
    const float* __restrict lh = v + j * channels;
    const float* __restrict hl = lh + plane;
    const float* __restrict hh = hl + plane;
    const float* __restrict lo = ll != nullptr ? ll + j * channels : nullptr;
    float* __restrict ta = top + 2 * j * channels;
    if (has_bottom && has_right && lo != nullptr) {
      float* tb = ta + channels;
      float* tc = ta + width * channels;
      float* td = tc + channels;
      ForEachChannelBlock(channels, [&](auto tag, int64_t c) {
        using V = decltype(tag);
        const V l = Load<V>(lo + c), x = Load<V>(lh + c), y = Load<V>(hl + c), z = Load<V>(hh + c);
        const V p = l + x, q = l - x, r = y + z, s = y - z;
        Store<V>(ta + c, Load<V>(ta + c) + (p + r));
        Store<V>(tb + c, Load<V>(tb + c) + (p - r));
        Store<V>(tc + c, Load<V>(tc + c) + (q + s));
        Store<V>(td + c, Load<V>(td + c) + (q - s));
      });
    } else {
      for (int64_t c = 0; c < channels; ++c) {
        const float l = lo != nullptr ? lo[c] : 0.f;
        const float p = l + lh[c], q = l - lh[c], r = hl[c] + hh[c], s = hl[c] - hh[c];
        ta[c] += p + r;
        if (has_right) ta[channels + c] += p - r;
        if (has_bottom) ta[width * channels + c] += q + s;
        if (has_bottom && has_right) ta[width * channels + channels + c] += q - s;
      }
    }
  }
}

constexpr int64_t kMaxKernel = 64;

void LevelRows(const FusedLevelArgs& a, int64_t row_begin, int64_t row_end, float* scratch) {
  const int64_t k = a.kernel, left = (k - 1) / 2, ch = a.channels, kk = k * k * ch;
  const int64_t h = (a.height + 1) / 2, w = (a.width + 1) / 2;
  const int64_t padded_in = (a.width + k - 1) * ch, padded_band = (w + k - 1) * ch;
  // Scratch: k + 1 padded input rows, one padded zero row, k + 1 slots of three padded band
  // rows, two times three convolved band rows (FusedLevelScratchFloats counts the same).
  const int64_t in_slots = k + 1;
  float* in_ring = scratch;
  float* zero_row = in_ring + in_slots * padded_in;
  float* band_ring = zero_row + padded_in;
  float* conv = band_ring + (k + 1) * 3 * padded_band;
  for (int64_t i = 0; i < padded_in; ++i) zero_row[i] = 0.f;
  int64_t in_slot_row[kMaxKernel + 1];
  for (int64_t s = 0; s < in_slots; ++s) in_slot_row[s] = -1;
  // Input row r as a padded row (copied once into its ring slot; k + 1 consecutive rows never
  // share a slot).
  auto input_row = [&](int64_t r) -> const float* {
    if (r < 0 || r >= a.height) return zero_row;
    const int64_t s = r % in_slots;
    if (in_slot_row[s] != r) {
      PadRow(a.in + r * a.width * ch, a.width, ch, k, in_ring + s * padded_in);
      in_slot_row[s] = r;
    }
    return in_ring + s * padded_in;
  };
  const float* rows[kMaxKernel + 1];
  // Output rows r and r + 1 (if inside [r, last)) of the direct conv, bias included.
  auto direct_rows = [&](int64_t r, int64_t last) {
    for (int64_t t = 0; t <= k; ++t) rows[t] = input_row(r + t - left);
    float* out[2] = {a.out + r * a.width * ch, a.out + (r + 1) * a.width * ch};
    if (r + 1 < last) {
      ConvRows<2>(rows, k, a.width, ch, a.direct_w, a.bias, out);
    } else {
      ConvRows<1>(rows, k, a.width, ch, a.direct_w, a.bias, out);
    }
  };
  if (a.band_w == nullptr) {
    for (int64_t r = row_begin; r < row_end; r += 2) direct_rows(r, row_end);
    return;
  }
  // Band rows in pairs (i, i + 1): the window of k + 1 band rows lives in k + 1 ring slots.
  const int64_t band_slots = k + 1;
  int64_t band_slot_row[kMaxKernel + 1];
  for (int64_t s = 0; s < band_slots; ++s) {
    band_slot_row[s] = -1;
    for (int64_t b = 0; b < 3; ++b) PadRow(nullptr, w, ch, k, band_ring + (s * 3 + b) * padded_band);
  }
  const int64_t plane = w * ch;
  for (int64_t i = row_begin; i < row_end; i += 2) {
    const bool pair = i + 1 < row_end;
    // Band rows i - left .. i + 1 - left + k - 1, each computed once per call into its slot.
    for (int64_t t = 0; t <= k; ++t) {
      const int64_t r = i + t - left;
      if (r < 0 || r >= h || band_slot_row[r % band_slots] == r) continue;
      HighBandsRow(a.in, a.height, a.width, ch, r, band_ring + (r % band_slots) * 3 * padded_band + left * ch,
                   padded_band);
      band_slot_row[r % band_slots] = r;
    }
    for (int64_t band = 0; band < 3; ++band) {
      for (int64_t t = 0; t <= k; ++t) {
        const int64_t r = i + t - left;
        rows[t] = r >= 0 && r < h ? band_ring + ((r % band_slots) * 3 + band) * padded_band : zero_row;
      }
      // conv holds [2 rows][3 bands][w][ch].
      float* out[2] = {conv + band * plane, conv + (3 + band) * plane};
      if (pair) {
        ConvRows<2>(rows, k, w, ch, a.band_w + band * kk, nullptr, out);
      } else {
        ConvRows<1>(rows, k, w, ch, a.band_w + band * kk, nullptr, out);
      }
    }
    // The output rows of these band rows: direct conv, then the synthesis added on top.
    for (int64_t row = i; row < (pair ? i + 2 : i + 1); ++row) {
      direct_rows(2 * row, a.height);
      SynthesisRow(a.ll != nullptr ? a.ll + row * plane : nullptr, conv + (row - i) * 3 * plane, a.height, a.width,
                   ch, row, a.out);
    }
  }
}

void LowpassRows(const float* in, int64_t height, int64_t width, int64_t channels, float* out, int64_t row_begin,
                 int64_t row_end) {
  const int64_t w = (width + 1) / 2;
  for (int64_t r = row_begin; r < row_end; ++r) {
    const float* top = in + 2 * r * width * channels;
    const bool has_bottom = 2 * r + 1 < height;
    for (int64_t j = 0; j < w; ++j) {
      const bool has_right = 2 * j + 1 < width;
      const float* __restrict pa = top + 2 * j * channels;
      float* __restrict o = out + (r * w + j) * channels;
      if (has_bottom && has_right) {
        const float* __restrict pb = pa + channels;
        const float* __restrict pc = pa + width * channels;
        const float* __restrict pd = pc + channels;
        ForEachChannelBlock(channels, [&](auto tag, int64_t c) {
          using V = decltype(tag);
          Store<V>(o + c, (Load<V>(pa + c) + Load<V>(pc + c)) + (Load<V>(pb + c) + Load<V>(pd + c)));
        });
      } else {
        for (int64_t c = 0; c < channels; ++c) {
          const float b = has_right ? pa[channels + c] : 0.f;
          const float cc = has_bottom ? pa[width * channels + c] : 0.f;
          const float d = has_right && has_bottom ? pa[width * channels + channels + c] : 0.f;
          o[c] = (pa[c] + cc) + (b + d);
        }
      }
    }
  }
}

}  // namespace

#if WTSERVE_KERNEL_ISA == 512
FusedHaarKernels FusedHaarKernelsAvx512() { return {"avx512", &LevelRows, &LowpassRows}; }
#elif WTSERVE_KERNEL_ISA == 256
FusedHaarKernels FusedHaarKernelsAvx2() { return {"avx2", &LevelRows, &LowpassRows}; }
#else
FusedHaarKernels FusedHaarKernelsBaseline() { return {"baseline", &LevelRows, &LowpassRows}; }
#endif

}  // namespace wtserve::nn::detail
