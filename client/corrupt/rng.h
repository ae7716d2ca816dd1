// Seed mixing and the random generator behind every corruption.  Our own generator (xoshiro256**)
// and distributions rather than <random>'s, whose normal/Poisson algorithms differ between
// standard libraries: the corruptions should be reproducible from (seed, index, name, severity)
// wherever the project builds.
#ifndef WTSERVE_CLIENT_CORRUPT_RNG_H_
#define WTSERVE_CLIENT_CORRUPT_RNG_H_

#include <cstdint>
#include <string_view>

namespace wtserve::corrupt {

// SplitMix64's finaliser (Steele, Lea & Flood 2014): a bijective 64-bit mix with full avalanche.
uint64_t Mix64(uint64_t x);

// FNV-1a, 64 bit.
uint64_t Fnv1a64(std::string_view text);

class Rng {
 public:
  explicit Rng(uint64_t seed);

  uint64_t NextU64();
  // Uniform in [0, 1) with 53 random bits.
  double Uniform();
  // Uniform in [lo, hi).
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  // Uniform integer in [lo, hi) (numpy.random.randint's half-open convention); requires lo < hi.
  int64_t UniformInt(int64_t lo, int64_t hi);
  // Standard normal (Marsaglia's polar method).
  double Normal();
  double Normal(double mean, double stddev) { return mean + stddev * Normal(); }
  // Poisson with the given mean >= 0: inversion by multiplication below 10, Hoermann's PTRS
  // transformed rejection above (the algorithms numpy uses).
  int64_t Poisson(double mean);

 private:
  uint64_t s_[4];
  bool has_spare_normal_ = false;
  double spare_normal_ = 0.0;
};

}  // namespace wtserve::corrupt

#endif  // WTSERVE_CLIENT_CORRUPT_RNG_H_
