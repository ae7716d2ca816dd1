// make_test_repo DIR: writes the Python client test's repository (model "fmnist", versions 1 and
// 2, random convnext_fmnist weights) into DIR.
#include <iostream>

#include "tests/integration/test_repo.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_test_repo DIR\n";
    return 2;
  }
  try {
    wtserve::testing::WriteFmnistModel(
        argv[1], "fmnist",
        wtserve::testing::FmnistConfig("fmnist", "dynamic_batching { max_queue_delay_microseconds: 2000 }\n"), {1, 2});
  } catch (const std::exception& e) {
    std::cerr << "make_test_repo: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
