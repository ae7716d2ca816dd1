#include "server/runtime/preprocess.h"

#include <vector>

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "server/runtime/model_config.h"

namespace wtserve::runtime {
namespace {

using ::testing::HasSubstr;

config::ModelConfig Config(const std::string& input, const std::string& preprocessing = "") {
  auto cfg = ParseModelConfigText("name: \"m\" architecture { name: \"a\" } max_batch_size: 4\n" + input +
                                      "\noutput { name: \"y\" data_type: TYPE_FP32 dims: [10] }\n" + preprocessing,
                                  "test");
  EXPECT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_TRUE(ValidateModelConfig(*cfg, "test", "m").ok());
  return *cfg;
}

cv::Mat Gradient(int rows, int cols, int type) {
  cv::Mat m(rows, cols, type);
  const int channels = m.channels();
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      for (int k = 0; k < channels; ++k) {
        m.ptr<uint8_t>(r)[c * channels + k] = static_cast<uint8_t>((r * 7 + c * 3 + k * 50) % 256);
      }
    }
  }
  return m;
}

std::string Encode(const cv::Mat& bgr_or_gray, const std::string& ext) {
  std::vector<uchar> buffer;
  EXPECT_TRUE(cv::imencode(ext, bgr_or_gray, buffer));
  return std::string(buffer.begin(), buffer.end());
}

TEST(Preprocess, Uint8AndScaledFloatNormalizeBitIdentically) {
  const config::ModelConfig cfg = Config("input { name: \"x\" data_type: TYPE_UINT8 dims: [1, 4, 4] }",
                                         "input_preprocessing { mean: 0.2860 std: 0.3530 }");
  const auto& pp = cfg.input_preprocessing();
  const at::Tensor pixels = at::arange(0, 32, at::kFloat).mul(8).to(at::kByte).view({2, 1, 4, 4});
  // What a client sends as FP32: float(pixel) * scale in float32.
  std::vector<float> scaled(32);
  for (int i = 0; i < 32; ++i) {
    scaled[i] = static_cast<float>(pixels.data_ptr<uint8_t>()[i]) * pp.scale();
  }
  const at::Tensor from_float = *NormalizePixels(at::from_blob(scaled.data(), {2, 1, 4, 4}, at::kFloat), pp);
  const at::Tensor from_uint8 = *NormalizePixels(pixels, pp);
  ASSERT_EQ(from_uint8.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(from_uint8, from_float));
  // And both equal the documented formula computed in float32 here.
  const float expected = (static_cast<float>(255 & (5 * 8)) * pp.scale() - 0.2860f) / 0.3530f;
  EXPECT_EQ(from_uint8.view(-1)[5].item<float>(), expected);
}

TEST(Preprocess, NormalizePerChannel) {
  const config::ModelConfig cfg = Config("input { name: \"x\" data_type: TYPE_FP32 dims: [3, 1, 1] }",
                                         "input_preprocessing { mean: [0.5, 0.25, 0] std: [0.5, 0.25, 2] }");
  std::vector<float> v = {1.0f, 1.0f, 1.0f};
  const at::Tensor out = *NormalizePixels(at::from_blob(v.data(), {1, 3, 1, 1}, at::kFloat), cfg.input_preprocessing());
  EXPECT_FLOAT_EQ(out.view(-1)[0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(out.view(-1)[1].item<float>(), 3.0f);
  EXPECT_FLOAT_EQ(out.view(-1)[2].item<float>(), 0.5f);
  EXPECT_EQ(v[0], 1.0f);  // the input is not modified in place
}

// NormalizePixels' loops against the ATen expression they replaced (to, mul_, sub_, div_ with
// broadcast mean and std): bit-identical for uint8 and float32, several channels, a
// non-contiguous input.
TEST(Preprocess, NormalizeMatchesTheAtenExpressionBitForBit) {
  config::InputPreprocessing pp;
  pp.set_scale(1.0f / 255.0f);
  for (float m : {0.485f, 0.456f, 0.406f}) pp.add_mean(m);
  for (float d : {0.229f, 0.224f, 0.225f}) pp.add_std(d);
  const at::Tensor mean = at::tensor({0.485f, 0.456f, 0.406f}).view({1, 3, 1, 1});
  const at::Tensor std = at::tensor({0.229f, 0.224f, 0.225f}).view({1, 3, 1, 1});
  const at::Tensor bytes = at::randint(0, 256, {2, 3, 7, 5}, at::kByte);
  const at::Tensor from_bytes = *NormalizePixels(bytes, pp);
  EXPECT_TRUE(at::equal(from_bytes, bytes.to(at::kFloat).mul_(pp.scale()).sub_(mean).div_(std)));
  const at::Tensor floats = at::rand({2, 5, 7, 3}).permute({0, 3, 2, 1});  // [2, 3, 7, 5], not contiguous
  const at::Tensor from_floats = *NormalizePixels(floats, pp);
  EXPECT_TRUE(from_floats.is_contiguous());
  EXPECT_TRUE(at::equal(from_floats, floats.contiguous().clone().sub_(mean).div_(std)));
}

TEST(Preprocess, NormalizeRejectsBadTensors) {
  const config::ModelConfig cfg = Config("input { name: \"x\" data_type: TYPE_FP32 dims: [1, 2, 2] }");
  const auto& pp = cfg.input_preprocessing();
  EXPECT_THAT(NormalizePixels(at::zeros({1, 2, 2}), pp).status().message(), HasSubstr("rank 3"));
  EXPECT_THAT(NormalizePixels(at::zeros({1, 3, 2, 2}), pp).status().message(), HasSubstr("3 channels"));
  EXPECT_THAT(NormalizePixels(at::zeros({1, 1, 2, 2}, at::kDouble), pp).status().message(),
              HasSubstr("uint8 or float32"));
}

TEST(Preprocess, DecodePngGrayKeepsPixelsExactly) {
  const config::ModelConfig cfg = Config("input { name: \"x\" data_type: TYPE_STRING dims: [1, 28, 28] }");
  const cv::Mat gray = Gradient(28, 28, CV_8UC1);
  const at::Tensor pixels = *DecodeImage(Encode(gray, ".png"), cfg.input(0), cfg.input_preprocessing());
  ASSERT_EQ(pixels.sizes(), at::IntArrayRef({1, 28, 28}));
  ASSERT_EQ(pixels.scalar_type(), at::kByte);
  const at::Tensor expected = at::from_blob(gray.data, {1, 28, 28}, at::kByte);
  EXPECT_TRUE(at::equal(pixels, expected));
  // The same image given as a Mat (what the offline evaluation does) gives the same pixels.
  EXPECT_TRUE(at::equal(*ImageToPixels(gray, cfg.input(0), cfg.input_preprocessing()), pixels));
}

TEST(Preprocess, DecodeColorIsRgbChannelFirst) {
  const config::ModelConfig cfg = Config("input { name: \"x\" data_type: TYPE_STRING dims: [3, 2, 2] }");
  cv::Mat bgr(2, 2, CV_8UC3, cv::Scalar(10, 20, 30));  // B=10, G=20, R=30
  const at::Tensor pixels = *DecodeImage(Encode(bgr, ".png"), cfg.input(0), cfg.input_preprocessing());
  EXPECT_EQ(pixels[0][0][0].item<uint8_t>(), 30);
  EXPECT_EQ(pixels[1][1][1].item<uint8_t>(), 20);
  EXPECT_EQ(pixels[2][0][1].item<uint8_t>(), 10);
  // A color image for a gray model is converted with OpenCV's luma weights.
  const config::ModelConfig gray_cfg = Config("input { name: \"x\" data_type: TYPE_STRING dims: [1, 2, 2] }");
  const at::Tensor gray = *DecodeImage(Encode(bgr, ".png"), gray_cfg.input(0), gray_cfg.input_preprocessing());
  EXPECT_NEAR(gray[0][0][0].item<uint8_t>(), 0.299 * 30 + 0.587 * 20 + 0.114 * 10, 1.0);
}

TEST(Preprocess, ResizeShorterSideThenCenterCrop) {
  const config::ModelConfig cfg = Config("input { name: \"x\" data_type: TYPE_STRING dims: [1, 4, 4] }",
                                         "input_preprocessing { resize_shorter_side: 4 center_crop: 4 interpolation: "
                                         "\"nearest\" }");
  // 4 rows x 8 cols: already the right shorter side, so only the center crop acts.
  const cv::Mat wide = Gradient(4, 8, CV_8UC1);
  const at::Tensor pixels = *DecodeImage(Encode(wide, ".png"), cfg.input(0), cfg.input_preprocessing());
  ASSERT_EQ(pixels.sizes(), at::IntArrayRef({1, 4, 4}));
  EXPECT_EQ(pixels[0][0][0].item<uint8_t>(), wide.at<uint8_t>(0, 2));
  EXPECT_EQ(pixels[0][3][3].item<uint8_t>(), wide.at<uint8_t>(3, 5));
  // 8 x 16 is halved (nearest) then cropped.
  const at::Tensor big =
      *DecodeImage(Encode(Gradient(8, 16, CV_8UC1), ".png"), cfg.input(0), cfg.input_preprocessing());
  EXPECT_EQ(big.sizes(), at::IntArrayRef({1, 4, 4}));
}

TEST(Preprocess, ResizeStraightToModelSize) {
  const config::ModelConfig cfg = Config("input { name: \"x\" data_type: TYPE_STRING dims: [1, 28, 28] }");
  const at::Tensor pixels =
      *DecodeImage(Encode(Gradient(56, 40, CV_8UC1), ".jpg"), cfg.input(0), cfg.input_preprocessing());
  EXPECT_EQ(pixels.sizes(), at::IntArrayRef({1, 28, 28}));
}

TEST(Preprocess, VariableSizeInputsKeepResizeOrCropEncodedImages) {
  const std::string input = "input { name: \"x\" data_type: TYPE_STRING dims: [1, -1, -1] min_side: 4 max_side: 40 }";
  const cv::Mat image = Gradient(12, 30, CV_8UC1);
  const std::string png = Encode(image, ".png");
  // No resize: served at the size it came in, pixels untouched.
  const config::ModelConfig as_is = Config(input);
  const at::Tensor kept = *DecodeImage(png, as_is.input(0), as_is.input_preprocessing());
  ASSERT_EQ(kept.sizes(), at::IntArrayRef({1, 12, 30}));
  EXPECT_EQ(kept[0][11][29].item<uint8_t>(), image.at<uint8_t>(11, 29));
  // Shorter side to 6, aspect kept (torchvision Resize(6): 30 * 6 / 12 = 15).
  const config::ModelConfig resize = Config(input, "input_preprocessing { resize_shorter_side: 6 }");
  EXPECT_EQ(DecodeImage(png, resize.input(0), resize.input_preprocessing())->sizes(), at::IntArrayRef({1, 6, 15}));
  // Resize + center crop: the square crop.
  const config::ModelConfig crop = Config(input, "input_preprocessing { resize_shorter_side: 12 center_crop: 8 }");
  EXPECT_EQ(DecodeImage(png, crop.input(0), crop.input_preprocessing())->sizes(), at::IntArrayRef({1, 8, 8}));
  // Outside [min_side, max_side]: refused, naming both sizes.
  absl::StatusOr<at::Tensor> wide =
      DecodeImage(Encode(Gradient(12, 41, CV_8UC1), ".png"), as_is.input(0), as_is.input_preprocessing());
  ASSERT_FALSE(wide.ok());
  EXPECT_EQ(wide.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wide.status().message(),
              HasSubstr("image of 41x12 pixels: H x W = 12 x 41 is outside the model's bounds: "
                        "each side in [4, 40]"));
  EXPECT_FALSE(DecodeImage(Encode(Gradient(3, 8, CV_8UC1), ".png"), as_is.input(0), as_is.input_preprocessing()).ok());
}

TEST(Preprocess, UndecodableBytesAreInvalidArgument) {
  const config::ModelConfig cfg = Config("input { name: \"x\" data_type: TYPE_STRING dims: [1, 28, 28] }");
  for (const std::string& bad :
       {std::string(), std::string("not an image"), Encode(Gradient(8, 8, CV_8UC1), ".png").substr(0, 20)}) {
    auto result = DecodeImage(bad, cfg.input(0), cfg.input_preprocessing());
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(result.status().message(), HasSubstr("decode"));
  }
}

TEST(Preprocess, HugeOrForeignImagesAreRefusedBeforeDecoding) {
  const config::ModelConfig cfg = Config("input { name: \"x\" data_type: TYPE_STRING dims: [1, 28, 28] }");
  // A PNG whose header declares 9000 x 8000 pixels: refused from the header alone.
  std::string png = Encode(Gradient(8, 8, CV_8UC1), ".png");
  const unsigned char size[8] = {0, 0, 0x23, 0x28, 0, 0, 0x1f, 0x40};  // 9000, 8000 big-endian
  png.replace(16, 8, reinterpret_cast<const char*>(size), 8);
  auto huge = DecodeImage(png, cfg.input(0), cfg.input_preprocessing());
  ASSERT_FALSE(huge.ok());
  EXPECT_THAT(huge.status().message(), HasSubstr("PNG of 9000x8000 pixels"));
  // Sides whose product overflows 64 bits (found by fuzz_image): refused the same way.
  const unsigned char giant[8] = {0xC2, 0xC2, 0xC2, 0xC2, 0xC2, 0xC2, 0xC2, 0xC2};
  png.replace(16, 8, reinterpret_cast<const char*>(giant), 8);
  auto giant_png = DecodeImage(png, cfg.input(0), cfg.input_preprocessing());
  ASSERT_FALSE(giant_png.ok());
  EXPECT_THAT(giant_png.status().message(), HasSubstr("PNG of 3267543746x3267543746 pixels"));
  // The same for a JPEG's SOF header.
  std::string jpeg = Encode(Gradient(8, 8, CV_8UC1), ".jpg");
  const size_t sof = jpeg.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  jpeg[sof + 5] = '\x30';  // height 0x3008
  jpeg[sof + 7] = '\x30';  // width 0x3008
  auto huge_jpeg = DecodeImage(jpeg, cfg.input(0), cfg.input_preprocessing());
  ASSERT_FALSE(huge_jpeg.ok());
  EXPECT_THAT(huge_jpeg.status().message(), HasSubstr("JPEG of 12296x12296"));
  // Formats other than PNG and JPEG.
  auto bmp = DecodeImage(Encode(Gradient(8, 8, CV_8UC1), ".bmp"), cfg.input(0), cfg.input_preprocessing());
  ASSERT_FALSE(bmp.ok());
  EXPECT_THAT(bmp.status().message(), HasSubstr("not a PNG or JPEG"));
}

// A JPEG cut off part-way decodes in libjpeg with grey rows and only a warning: it must be
// refused instead (PIL refuses it too). Whole files, progressive ones and files with bytes after
// the end-of-image marker still decode. A cut-off PNG is refused before libpng sees it (which
// would print an error line per request).
TEST(Preprocess, TruncatedImagesAreRefused) {
  const config::ModelConfig cfg = Config("input { name: \"x\" data_type: TYPE_STRING dims: [1, 28, 28] }");
  const cv::Mat image = Gradient(28, 28, CV_8UC1);
  std::vector<uchar> progressive_buffer;
  ASSERT_TRUE(cv::imencode(".jpg", image, progressive_buffer, {cv::IMWRITE_JPEG_PROGRESSIVE, 1}));
  const std::string progressive(progressive_buffer.begin(), progressive_buffer.end());
  for (const std::string& whole : {Encode(image, ".jpg"), progressive}) {
    EXPECT_TRUE(DecodeImage(whole, cfg.input(0), cfg.input_preprocessing()).ok());
    EXPECT_TRUE(DecodeImage(whole + "trailing bytes", cfg.input(0), cfg.input_preprocessing()).ok());
    for (const double kept : {0.6, 0.9, 0.99}) {
      const std::string cut = whole.substr(0, static_cast<size_t>(kept * whole.size()));
      auto result = DecodeImage(cut, cfg.input(0), cfg.input_preprocessing());
      ASSERT_FALSE(result.ok()) << kept;
      EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(result.status().message(), HasSubstr("truncated"));
    }
  }
  const std::string png = Encode(image, ".png");
  auto cut_png = DecodeImage(png.substr(0, png.size() * 6 / 10), cfg.input(0), cfg.input_preprocessing());
  ASSERT_FALSE(cut_png.ok());
  EXPECT_EQ(cut_png.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(cut_png.status().message(), HasSubstr("truncated"));
  EXPECT_TRUE(DecodeImage(png + "trailing bytes", cfg.input(0), cfg.input_preprocessing()).ok());
}

}  // namespace
}  // namespace wtserve::runtime
