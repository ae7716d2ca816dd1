#include "server/nn/wtconv/wavelets.h"

#include <algorithm>
#include <stdexcept>

#include <ATen/Functions.h>

namespace wtserve::nn {
namespace {

// Decomposition low-pass filters (PyWavelets' Wavelet(name).dec_lo, printed with 17 significant
// digits so they round-trip to the same doubles). The other three filters of these orthogonal
// wavelets follow from dec_lo exactly (see MakeBank), which tests/nn checks against pywt.
struct DecLo {
  const char* name;
  std::vector<double> dec_lo;
};

const std::vector<DecLo>& Table() {
  static const std::vector<DecLo> table = {
    {"db1", {
        0.7071067811865476, 0.7071067811865476,
    }},
    {"db2", {
        -0.12940952255126037, 0.2241438680420134, 0.8365163037378079,
        0.48296291314453416,
    }},
    {"db3", {
        0.03522629188570953, -0.08544127388202666, -0.13501102001025458,
        0.45987750211849154, 0.8068915093110925, 0.33267055295008263,
    }},
    {"db4", {
        -0.010597401785069032, 0.0328830116668852, 0.030841381835560764,
        -0.18703481171909309, -0.027983769416859854, 0.6308807679298589,
        0.7148465705529157, 0.2303778133088965,
    }},
    {"db5", {
        0.0033357252854737712, -0.012580751999081999, -0.006241490212798274,
        0.07757149384004572, -0.032244869584638375, -0.24229488706638203,
        0.13842814590132074, 0.7243085284377729, 0.6038292697971896,
        0.16010239797419293,
    }},
    {"db6", {
        -0.0010773010853084796, 0.004777257510945511, 0.0005538422011614961,
        -0.03158203931748603, 0.027522865530305727, 0.09750160558732304,
        -0.12976686756726194, -0.22626469396543983, 0.31525035170919763,
        0.7511339080210954, 0.49462389039845306, 0.11154074335010947,
    }},
    {"sym2", {
        -0.12940952255092145, 0.22414386804185735, 0.836516303737469,
        0.48296291314469025,
    }},
    {"sym3", {
        0.035226291882100656, -0.08544127388224149, -0.13501102001039084,
        0.4598775021193313, 0.8068915093133388, 0.3326705529509569,
    }},
    {"sym4", {
        -0.07576571478927333, -0.02963552764599851, 0.49761866763201545,
        0.8037387518059161, 0.29785779560527736, -0.09921954357684722,
        -0.012603967262037833, 0.0322231006040427,
    }},
    {"sym5", {
        0.027333068345077982, 0.029519490925774643, -0.039134249302383094,
        0.1993975339773936, 0.7234076904024206, 0.6339789634582119,
        0.01660210576452232, -0.17532808990845047, -0.021101834024758855,
        0.019538882735286728,
    }},
    {"sym6", {
        0.015404109327027373, 0.0034907120842174702, -0.11799011114819057,
        -0.048311742585633, 0.4910559419267466, 0.787641141030194,
        0.3379294217276218, -0.07263752278646252, -0.021060292512300564,
        0.04472490177066578, 0.0017677118642428036, -0.007800708325034148,
    }},
    {"coif1", {
        -0.015655728135791993, -0.07273261951252645, 0.3848648468648578,
        0.8525720202116004, 0.3378976624574818, -0.07273261951252645,
    }},
    {"coif2", {
        -0.000720549445520347, -0.0018232088709110323, 0.005611434819368834,
        0.02368017194684777, -0.05943441864643109, -0.07648859907828076,
        0.4170051844232391, 0.8127236354494135, 0.3861100668227629,
        -0.0673725547237256, -0.04146493678687178, 0.01638733646320364,
    }},
    {"coif3", {
        -3.459977319727278e-05, -7.0983302506379e-05, 0.0004662169598204029,
        0.0011175187708306303, -0.0025745176881367972, -0.009007976136730624,
        0.015880544863669452, 0.03455502757329774, -0.08230192710629983,
        -0.07179982161915484, 0.42848347637737, 0.7937772226260872,
        0.40517690240911824, -0.06112339000297255, -0.06577191128146936,
        0.023452696142077168, 0.007782596425672746, -0.003793512864380802,
    }},
  };
  return table;
}

WaveletFilterBank MakeBank(const std::string& name, const std::vector<double>& dec_lo) {
  // Orthogonal quadrature-mirror relations, as PyWavelets applies them:
  // rec_lo = reverse(dec_lo), rec_hi[k] = (-1)^k dec_lo[k], dec_hi = reverse(rec_hi).
  WaveletFilterBank bank;
  bank.name = name;
  bank.dec_lo = dec_lo;
  bank.rec_lo.assign(dec_lo.rbegin(), dec_lo.rend());
  bank.rec_hi.resize(dec_lo.size());
  for (size_t k = 0; k < dec_lo.size(); ++k) bank.rec_hi[k] = (k % 2 == 0) ? dec_lo[k] : -dec_lo[k];
  bank.dec_hi.assign(bank.rec_hi.rbegin(), bank.rec_hi.rend());
  return bank;
}

std::string SupportedList() {
  std::string out;
  for (const auto& n : SupportedWavelets()) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// The reference's 4 outer products, stacked and repeated per channel. Products are formed in
// float32 from float32-rounded coefficients, as torch does in create_wavelet_filter.
at::Tensor Build2d(const std::vector<double>& lo_d, const std::vector<double>& hi_d, int64_t channels) {
  const int64_t f = static_cast<int64_t>(lo_d.size());
  std::vector<float> lo(lo_d.begin(), lo_d.end());
  std::vector<float> hi(hi_d.begin(), hi_d.end());
  at::Tensor one = at::empty({4, 1, f, f}, at::TensorOptions().dtype(at::kFloat));
  float* p = one.data_ptr<float>();
  const std::vector<float>* col[4] = {&lo, &lo, &hi, &hi};  // indexed by j (W)
  const std::vector<float>* row[4] = {&lo, &hi, &lo, &hi};  // indexed by i (H)
  for (int s = 0; s < 4; ++s)
    for (int64_t i = 0; i < f; ++i)
      for (int64_t j = 0; j < f; ++j) *p++ = (*col[s])[j] * (*row[s])[i];
  return one.repeat({channels, 1, 1, 1});
}

}  // namespace

const std::vector<std::string>& SupportedWavelets() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n = {"haar"};
    for (const auto& e : Table()) n.emplace_back(e.name);
    return n;
  }();
  return names;
}

bool IsHaarWavelet(const std::string& name) { return name == "haar" || name == "db1"; }

WaveletFilterBank GetWaveletFilterBank(const std::string& name) {
  const std::string key = name == "haar" ? "db1" : name;
  for (const auto& e : Table()) {
    if (key == e.name) return MakeBank(name, e.dec_lo);
  }
  throw std::invalid_argument("unknown wavelet '" + name + "'; supported: " + SupportedList());
}

std::pair<at::Tensor, at::Tensor> CreateWaveletFilters(const std::string& name, int64_t channels) {
  if (channels < 1) {
    throw std::invalid_argument("wavelet filters need channels >= 1, got " + std::to_string(channels));
  }
  const WaveletFilterBank bank = GetWaveletFilterBank(name);
  // Analysis: the reference reverses dec_lo/dec_hi (conv2d is a correlation).
  std::vector<double> dec_lo(bank.dec_lo.rbegin(), bank.dec_lo.rend());
  std::vector<double> dec_hi(bank.dec_hi.rbegin(), bank.dec_hi.rend());
  // Synthesis: reversed then flipped back, i.e. rec_lo/rec_hi as given.
  return {Build2d(dec_lo, dec_hi, channels), Build2d(bank.rec_lo, bank.rec_hi, channels)};
}

}  // namespace wtserve::nn
