// Wavelet filter banks for WTConv2d (orthogonal: Daubechies, symlets, coiflets; biorthogonal:
// bior/rbio), and the 2-D analysis/synthesis filters built from them exactly as the reference
// layer builds them.
//
// Source: S. E. Finder, R. Amoyal, E. Treister, O. Freifeld, "Wavelet Convolutions for Large
// Receptive Fields", ECCV 2024 (arXiv 2407.05848); reference code BGU-CS-VIL/WTConv (MIT),
// function create_wavelet_filter. Coefficients are those of PyWavelets (pywt.Wavelet(name)),
// stored here as data so the C++ layer needs no Python; tests/nn checks them against pywt.
//
// Why we copy the reference even where it is wrong: the reference convolves with these filters
// at stride 2 with zero padding filter_len/2 - 1 on every side (wavelet_transform /
// inverse_wavelet_transform in wtconv2d.cc) and crops. That is only a perfect-reconstruction
// transform for db1/haar; for longer filters (db2, sym3, coif1, ...) analysis followed by
// synthesis does not give back the input, and the bands are shifted against a textbook DWT
// (reference issue #21). Trained checkpoints have learned their wavelet_convs weights on top of
// exactly this transform, so a "corrected" transform would silently change every released and
// every user-trained model. We therefore build the same filters, in the same order, rounded the
// same way (coefficients to float32 first, then float32 outer products), and apply them with the
// same padding.
#ifndef WTSERVE_SERVER_NN_WTCONV_WAVELETS_H_
#define WTSERVE_SERVER_NN_WTCONV_WAVELETS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace wtserve::nn {

// The four 1-D filters of a wavelet, in PyWavelets' conventions and order, all of one even
// length. For the orthogonal families the synthesis filters are the analysis filters reversed;
// for bior/rbio they are a different (dual) pair.
struct WaveletFilterBank {
  std::string name;
  std::vector<double> dec_lo;
  std::vector<double> dec_hi;
  std::vector<double> rec_lo;
  std::vector<double> rec_hi;
};

// Names accepted by GetWaveletFilterBank / CreateWaveletFilters, in this order: "haar" (= "db1"),
// db1..db6, sym2..sym6, coif1..coif3, then PyWavelets' 15 biorthogonal wavelets bior1.1 ..
// bior6.8 and their 15 reverses rbio1.1 .. rbio6.8.
const std::vector<std::string>& SupportedWavelets();

// Throws std::invalid_argument naming the supported wavelets if `name` is not one of them.
WaveletFilterBank GetWaveletFilterBank(const std::string& name);

// The reference's create_wavelet_filter(name, channels, channels, torch.float):
//   first  = analysis filters  (4*channels, 1, f, f) float32, built from dec_lo/dec_hi reversed;
//   second = synthesis filters (4*channels, 1, f, f) float32, built from rec_lo/rec_hi as given.
// For each channel c the four filters at rows 4c..4c+3 are, with (row, col) = (i, j),
//   F0[i][j] = lo[j]*lo[i], F1[i][j] = lo[j]*hi[i], F2[i][j] = hi[j]*lo[i], F3[i][j] = hi[j]*hi[i]
// i.e. LL, LH (high-pass along rows/H), HL (high-pass along columns/W), HH.
// f = 2 for db1/haar, 2N for dbN/symN, 6N for coifN, pywt's filter length for bior/rbio (2 for
// 1.1 up to 20 for 3.9). CPU tensors.
// Throws std::invalid_argument for an unknown name or channels < 1.
std::pair<at::Tensor, at::Tensor> CreateWaveletFilters(const std::string& name, int64_t channels);

// True for the names whose filters are the Haar wavelet ("haar", "db1").
bool IsHaarWavelet(const std::string& name);

}  // namespace wtserve::nn

#endif  // WTSERVE_SERVER_NN_WTCONV_WAVELETS_H_
