#include "client/corrupt/params.h"

namespace wtserve::corrupt {
namespace {

// make_cifar_c.py (32 px).
SeverityTable MakeCifar() {
  constexpr double R = 32;
  SeverityTable t{};
  t.reference_size = 32;
  t.gaussian_noise = {0.04, 0.06, 0.08, 0.09, 0.10};
  t.shot_noise = {500, 250, 100, 75, 50};
  t.impulse_noise = {0.01, 0.02, 0.03, 0.05, 0.07};
  t.speckle_noise = {0.06, 0.10, 0.12, 0.16, 0.20};
  t.gaussian_blur = {0.4, 0.6, 0.7, 0.8, 1.0};
  t.glass_blur = {{{0.05, 1, 1}, {0.25, 1, 1}, {0.4, 1, 1}, {0.25, 1, 2}, {0.4, 1, 2}}};
  t.defocus_blur = {{{0.3, 0.4}, {0.4, 0.5}, {0.5, 0.6}, {1, 0.2}, {1.5, 0.1}}};
  t.motion_blur = {{{6, 1}, {6, 1.5}, {6, 2}, {8, 2}, {9, 2.5}}};
  // np.arange(1, 1.06, .01) has 7 elements (float rounding keeps 1.06), (1, 1.11) has 12.
  t.zoom_blur = {{{0.01, 7}, {0.01, 12}, {0.01, 16}, {0.01, 21}, {0.01, 26}}};
  t.snow = {{{0.1, 0.2, 1, 0.6, 8, 3, 0.95},
             {0.1, 0.2, 1, 0.5, 10, 4, 0.9},
             {0.15, 0.3, 1.75, 0.55, 10, 4, 0.9},
             {0.25, 0.3, 2.25, 0.6, 12, 6, 0.85},
             {0.3, 0.3, 1.25, 0.65, 14, 12, 0.8}}};
  t.frost = {{{1, 0.2}, {1, 0.3}, {0.9, 0.4}, {0.85, 0.4}, {0.75, 0.45}}};
  t.frost_texture_scale = 0.2;
  t.fog = {{{0.2, 3}, {0.5, 3}, {0.75, 2.5}, {1, 2}, {1.5, 1.75}}};
  t.brightness = {0.05, 0.1, 0.15, 0.2, 0.3};
  t.contrast = {0.75, 0.5, 0.4, 0.3, 0.15};
  t.elastic_transform = {{{R * 0, R * 0, R * 0.08},
                          {R * 0.05, R * 0.2, R * 0.07},
                          {R * 0.08, R * 0.06, R * 0.06},
                          {R * 0.1, R * 0.04, R * 0.05},
                          {R * 0.1, R * 0.03, R * 0.03}}};
  t.pixelate = {0.95, 0.9, 0.85, 0.75, 0.65};
  t.jpeg_compression = {80, 65, 58, 50, 40};
  t.spatter = {{{0.62, 0.1, 0.7, 0.7, 0.5, false},
                {0.65, 0.1, 0.8, 0.7, 0.5, false},
                {0.65, 0.3, 1, 0.69, 0.5, false},
                {0.65, 0.1, 0.7, 0.69, 0.6, true},
                {0.65, 0.1, 0.5, 0.68, 0.6, true}}};
  t.saturate = {{{0.3, 0}, {0.1, 0}, {1.5, 0}, {2, 0.1}, {2.5, 0.2}}};
  return t;
}

// make_tinyimagenet_c.py (64 px).
SeverityTable MakeTinyImageNet() {
  constexpr double R = 64;
  SeverityTable t{};
  t.reference_size = 64;
  t.gaussian_noise = {0.04, 0.08, 0.12, 0.15, 0.18};
  t.shot_noise = {250, 100, 50, 30, 15};
  t.impulse_noise = {0.01, 0.02, 0.05, 0.08, 0.14};
  t.speckle_noise = {0.15, 0.2, 0.25, 0.3, 0.35};
  t.gaussian_blur = {0.5, 0.75, 1, 1.25, 1.5};
  t.glass_blur = {{{0.1, 1, 1}, {0.5, 1, 1}, {0.6, 1, 2}, {0.7, 2, 1}, {0.9, 2, 2}}};
  t.defocus_blur = {{{0.5, 0.6}, {1, 0.1}, {1.5, 0.1}, {2.5, 0.01}, {3, 0.1}}};
  t.motion_blur = {{{10, 1}, {10, 1.5}, {10, 2}, {10, 2.5}, {12, 3}}};
  t.zoom_blur = {{{0.01, 7}, {0.01, 12}, {0.01, 16}, {0.01, 21}, {0.01, 26}}};
  t.snow = {{{0.1, 0.2, 1, 0.6, 8, 3, 0.8},
             {0.1, 0.2, 1, 0.5, 10, 4, 0.8},
             {0.15, 0.3, 1.75, 0.55, 10, 4, 0.7},
             {0.25, 0.3, 2.25, 0.6, 12, 6, 0.65},
             {0.3, 0.3, 1.25, 0.65, 14, 12, 0.6}}};
  t.frost = {{{1, 0.3}, {0.9, 0.4}, {0.8, 0.45}, {0.75, 0.5}, {0.7, 0.55}}};
  t.frost_texture_scale = 0.3;
  t.fog = {{{0.4, 3}, {0.7, 3}, {1, 2.5}, {1.5, 2}, {2, 1.75}}};
  t.brightness = {0.1, 0.2, 0.3, 0.4, 0.5};
  t.contrast = {0.4, 0.3, 0.2, 0.1, 0.05};
  t.elastic_transform = {{{R * 0, R * 0, R * 0.08},
                          {R * 0.05, R * 0.3, R * 0.06},
                          {R * 0.1, R * 0.08, R * 0.06},
                          {R * 0.1, R * 0.03, R * 0.03},
                          {R * 0.16, R * 0.03, R * 0.02}}};
  t.pixelate = {0.9, 0.8, 0.7, 0.6, 0.5};
  t.jpeg_compression = {65, 58, 50, 40, 25};
  t.spatter = {{{0.62, 0.1, 0.7, 0.7, 0.6, false},
                {0.65, 0.1, 0.8, 0.7, 0.6, false},
                {0.65, 0.3, 1, 0.69, 0.6, false},
                {0.65, 0.1, 0.7, 0.68, 0.6, true},
                {0.65, 0.1, 0.5, 0.67, 0.6, true}}};
  t.saturate = {{{0.3, 0}, {0.1, 0}, {2, 0}, {5, 0.1}, {30, 0.2}}};
  return t;
}

// make_imagenet_c.py (224 px).
SeverityTable MakeImageNet() {
  // The script writes 244 where it meant 224 (its own comment); the values are kept as published.
  constexpr double K = 244;
  SeverityTable t{};
  t.reference_size = 224;
  t.gaussian_noise = {0.08, 0.12, 0.18, 0.26, 0.38};
  t.shot_noise = {60, 25, 12, 5, 3};
  t.impulse_noise = {0.03, 0.06, 0.09, 0.17, 0.27};
  t.speckle_noise = {0.15, 0.2, 0.35, 0.45, 0.6};
  t.gaussian_blur = {1, 2, 3, 4, 6};
  t.glass_blur = {{{0.7, 1, 2}, {0.9, 2, 1}, {1, 2, 3}, {1.1, 3, 2}, {1.5, 4, 2}}};
  t.defocus_blur = {{{3, 0.1}, {4, 0.5}, {6, 0.5}, {8, 0.5}, {10, 0.5}}};
  t.motion_blur = {{{10, 3}, {15, 5}, {15, 8}, {15, 12}, {20, 15}}};
  // np.arange(1, 1.11, .01) has 12 elements, (1, 1.16, .01) 16, (1, 1.21, .02) 11,
  // (1, 1.26, .02) 13, (1, 1.31, .03) 11.
  t.zoom_blur = {{{0.01, 12}, {0.01, 16}, {0.02, 11}, {0.02, 13}, {0.03, 11}}};
  t.snow = {{{0.1, 0.3, 3, 0.5, 10, 4, 0.8},
             {0.2, 0.3, 2, 0.5, 12, 4, 0.7},
             {0.55, 0.3, 4, 0.9, 12, 8, 0.7},
             {0.55, 0.3, 4.5, 0.85, 12, 8, 0.65},
             {0.55, 0.3, 2.5, 0.85, 12, 12, 0.55}}};
  t.frost = {{{1, 0.4}, {0.8, 0.6}, {0.7, 0.7}, {0.65, 0.7}, {0.6, 0.75}}};
  t.frost_texture_scale = 1.0;
  t.fog = {{{1.5, 2}, {2, 2}, {2.5, 1.7}, {2.5, 1.5}, {3, 1.4}}};
  t.brightness = {0.1, 0.2, 0.3, 0.4, 0.5};
  t.contrast = {0.4, 0.3, 0.2, 0.1, 0.05};
  t.elastic_transform = {{{K * 2, K * 0.7, K * 0.1},
                          {K * 2, K * 0.08, K * 0.2},
                          {K * 0.05, K * 0.01, K * 0.02},
                          {K * 0.07, K * 0.01, K * 0.02},
                          {K * 0.12, K * 0.01, K * 0.02}}};
  t.pixelate = {0.6, 0.5, 0.4, 0.3, 0.25};
  t.jpeg_compression = {25, 18, 15, 10, 7};
  t.spatter = {{{0.65, 0.3, 4, 0.69, 0.6, false},
                {0.65, 0.3, 3, 0.68, 0.6, false},
                {0.65, 0.3, 2, 0.68, 0.5, false},
                {0.65, 0.3, 1, 0.65, 1.5, true},
                {0.67, 0.4, 1, 0.65, 1.5, true}}};
  t.saturate = {{{0.3, 0}, {0.1, 0}, {2, 0}, {5, 0.1}, {20, 0.2}}};
  return t;
}

}  // namespace

const SeverityTable& TableFor(ParameterTable table) {
  static const SeverityTable kCifar = MakeCifar();
  static const SeverityTable kTiny = MakeTinyImageNet();
  static const SeverityTable kImageNet = MakeImageNet();
  switch (table) {
    case ParameterTable::kCifar: return kCifar;
    case ParameterTable::kTinyImageNet: return kTiny;
    case ParameterTable::kImageNet: break;
  }
  return kImageNet;
}

}  // namespace wtserve::corrupt
