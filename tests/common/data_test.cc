#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "common/data/dataset.h"
#include "common/data/idx.h"

namespace wtserve::data {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("wtserve_data_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

void WriteRaw(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

IdxArray Images(int n, int rows, int cols) {
  IdxArray a{{n, rows, cols}, std::string(static_cast<size_t>(n * rows * cols), '\0')};
  for (size_t i = 0; i < a.data.size(); ++i) a.data[i] = static_cast<char>(i * 7 % 256);
  return a;
}

IdxArray Labels(int n) {
  IdxArray a{{n}, std::string(static_cast<size_t>(n), '\0')};
  for (int i = 0; i < n; ++i) a.data[static_cast<size_t>(i)] = static_cast<char>(i % 10);
  return a;
}

TEST(FashionMnistTest, ReadsDebianTestSplit) {
  if (!fs::exists(kFashionMnistDir)) GTEST_FAIL() << "dataset-fashion-mnist not installed";
  auto data = ReadFashionMnist(kFashionMnistDir, Split::kTest);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->size(), 10000);
  EXPECT_EQ(data->height, 28);
  EXPECT_EQ(data->width, 28);
  EXPECT_EQ(data->channels, 1);
  ASSERT_EQ(data->class_names.size(), 10u);
  EXPECT_EQ(data->class_names[0], "T-shirt/top");
  EXPECT_EQ(data->class_names[9], "Ankle boot");
  // 1000 test images per class (docs/reference.md §3).
  std::vector<int> per_class(10, 0);
  for (int64_t label : data->labels) ++per_class[static_cast<size_t>(label)];
  for (int count : per_class) EXPECT_EQ(count, 1000);
  // Pixel mean on [0,1] is 0.2860 over the training split; the test split is close to it.
  double sum = 0;
  for (const cv::Mat& image : data->images) {
    ASSERT_EQ(image.type(), CV_8UC1);
    ASSERT_EQ(image.rows, 28);
    sum += cv::sum(image)[0];
  }
  EXPECT_NEAR(sum / (10000.0 * 28 * 28 * 255), 0.286, 0.01);
}

TEST(FashionMnistTest, ReadsDebianTrainSplitMean) {
  auto data = ReadFashionMnist(kFashionMnistDir, Split::kTrain);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->size(), 60000);
  double sum = 0;
  for (const cv::Mat& image : data->images) sum += cv::sum(image)[0];
  EXPECT_NEAR(sum / (60000.0 * 28 * 28 * 255), 0.2860, 0.00005);
}

TEST(FashionMnistTest, MissingDirIsNotFound) {
  auto data = ReadFashionMnist("/nonexistent/fmnist", Split::kTest);
  EXPECT_EQ(data.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(data.status().message(), HasSubstr("t10k-images-idx3-ubyte.gz"));
}

TEST(IdxTest, RoundTripsGzippedAndPlain) {
  TempDir dir;
  const IdxArray images = Images(3, 4, 5);
  ASSERT_TRUE(WriteGzippedFile(dir.File("i.gz"), EncodeIdx(images)).ok());
  WriteRaw(dir.File("l"), EncodeIdx(Labels(3)));  // plain IDX is accepted too
  auto data = ReadIdx(dir.File("i.gz"), dir.File("l"));
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->size(), 3);
  EXPECT_EQ(data->height, 4);
  EXPECT_EQ(data->width, 5);
  EXPECT_TRUE(data->class_names.empty());
  EXPECT_EQ(data->labels, (std::vector<int64_t>{0, 1, 2}));
  // Row-major: pixel (r, c) of image i is byte i*20 + r*5 + c.
  EXPECT_EQ(data->images[2].at<uint8_t>(3, 1), static_cast<uint8_t>((2 * 20 + 3 * 5 + 1) * 7 % 256));
}

TEST(IdxTest, RejectsWrongMagic) {
  TempDir dir;
  std::string labels_as_images = EncodeIdx(Labels(3));
  WriteRaw(dir.File("i"), labels_as_images);
  WriteRaw(dir.File("l"), EncodeIdx(Labels(3)));
  auto data = ReadIdx(dir.File("i"), dir.File("l"));
  EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(data.status().message(), HasSubstr("expected 3"));
  EXPECT_THAT(data.status().message(), HasSubstr(dir.File("i")));

  std::string bad = EncodeIdx(Images(1, 2, 2));
  bad[2] = 0x0D;  // float elements
  WriteRaw(dir.File("f"), bad);
  EXPECT_THAT(ReadIdx(dir.File("f"), dir.File("l")).status().message(), HasSubstr("element type"));
  WriteRaw(dir.File("png"), "\x89PNG\r\n\x1a\n....");
  EXPECT_THAT(ReadIdx(dir.File("png"), dir.File("l")).status().message(), HasSubstr("not an IDX file"));
}

TEST(IdxTest, RejectsTruncatedAndOverlongData) {
  TempDir dir;
  WriteRaw(dir.File("l"), EncodeIdx(Labels(3)));
  std::string images = EncodeIdx(Images(3, 4, 5));
  WriteRaw(dir.File("short"), images.substr(0, images.size() - 1));
  auto data = ReadIdx(dir.File("short"), dir.File("l"));
  EXPECT_EQ(data.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(data.status().message(), HasSubstr("truncated"));
  WriteRaw(dir.File("long"), images + "x");
  EXPECT_THAT(ReadIdx(dir.File("long"), dir.File("l")).status().message(), HasSubstr("trailing"));
  WriteRaw(dir.File("header"), images.substr(0, 9));
  EXPECT_THAT(ReadIdx(dir.File("header"), dir.File("l")).status().message(), HasSubstr("header"));
}

TEST(IdxTest, RejectsTruncatedGzip) {
  TempDir dir;
  WriteRaw(dir.File("l"), EncodeIdx(Labels(50)));
  ASSERT_TRUE(WriteGzippedFile(dir.File("i.gz"), EncodeIdx(Images(50, 28, 28))).ok());
  std::ifstream in(dir.File("i.gz"), std::ios::binary);
  std::string gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  WriteRaw(dir.File("cut.gz"), gz.substr(0, gz.size() / 2));
  auto data = ReadIdx(dir.File("cut.gz"), dir.File("l"));
  EXPECT_EQ(data.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(data.status().message(), HasSubstr("cut.gz"));
}

TEST(IdxTest, RejectsCountMismatch) {
  TempDir dir;
  WriteRaw(dir.File("i"), EncodeIdx(Images(3, 2, 2)));
  WriteRaw(dir.File("l"), EncodeIdx(Labels(4)));
  auto data = ReadIdx(dir.File("i"), dir.File("l"));
  EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(data.status().message(), HasSubstr("3 images but"));
}

TEST(IdxTest, FashionMnistRejectsBadLabelAndSize) {
  TempDir dir;
  IdxArray labels = Labels(2);
  labels.data[1] = 10;
  WriteRaw(dir.File("t10k-images-idx3-ubyte.gz"), EncodeIdx(Images(2, 28, 28)));
  WriteRaw(dir.File("t10k-labels-idx1-ubyte.gz"), EncodeIdx(labels));
  EXPECT_THAT(ReadFashionMnist(dir.path().string(), Split::kTest).status().message(),
              HasSubstr("label 10 of sample 1"));
  WriteRaw(dir.File("t10k-images-idx3-ubyte.gz"), EncodeIdx(Images(2, 32, 32)));
  EXPECT_THAT(ReadFashionMnist(dir.path().string(), Split::kTest).status().message(), HasSubstr("28x28"));
}

TEST(ImageFolderTest, ReadsClassesInSortedOrder) {
  TempDir dir;
  fs::create_directories(dir.path() / "b_cat");
  fs::create_directories(dir.path() / "a_dog");
  cv::Mat bgr(6, 4, CV_8UC3, cv::Scalar(10, 20, 30));  // B=10, G=20, R=30
  ASSERT_TRUE(cv::imwrite(dir.File("b_cat/1.png"), bgr));
  ASSERT_TRUE(cv::imwrite(dir.File("b_cat/0.png"), bgr));
  ASSERT_TRUE(cv::imwrite(dir.File("a_dog/x.png"), bgr));
  WriteRaw(dir.File("a_dog/README.txt"), "not an image");
  auto data = ReadImageFolder(dir.path().string(), 3);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->class_names, (std::vector<std::string>{"a_dog", "b_cat"}));
  EXPECT_EQ(data->labels, (std::vector<int64_t>{0, 1, 1}));
  EXPECT_EQ(data->height, 6);
  EXPECT_EQ(data->width, 4);
  ASSERT_EQ(data->images[0].type(), CV_8UC3);
  EXPECT_EQ(data->images[0].at<cv::Vec3b>(0, 0), cv::Vec3b(30, 20, 10));  // RGB order

  auto gray = ReadImageFolder(dir.path().string(), 1);
  ASSERT_TRUE(gray.ok()) << gray.status();
  EXPECT_EQ(gray->images[0].type(), CV_8UC1);
}

TEST(ImageFolderTest, VaryingSizesGiveZeroCommonSize) {
  TempDir dir;
  fs::create_directories(dir.path() / "c");
  ASSERT_TRUE(cv::imwrite(dir.File("c/0.png"), cv::Mat(6, 4, CV_8UC1, cv::Scalar(1))));
  ASSERT_TRUE(cv::imwrite(dir.File("c/1.png"), cv::Mat(5, 4, CV_8UC1, cv::Scalar(1))));
  auto data = ReadImageFolder(dir.path().string(), 1);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->height, 0);
  EXPECT_EQ(data->images[1].rows, 5);
}

TEST(ImageFolderTest, Errors) {
  TempDir dir;
  EXPECT_EQ(ReadImageFolder(dir.path().string(), 2).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadImageFolder(dir.File("missing"), 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(ReadImageFolder(dir.path().string(), 1).status().message(), HasSubstr("no class subfolders"));
  fs::create_directories(dir.path() / "empty");
  EXPECT_THAT(ReadImageFolder(dir.path().string(), 1).status().message(), HasSubstr("has no images"));
  WriteRaw(dir.File("empty/broken.png"), "garbage");
  EXPECT_EQ(ReadImageFolder(dir.path().string(), 1).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace wtserve::data
