// The message of an exception as users should read it. LibTorch's c10::Error::what() appends
// a C++ backtrace (kilobytes, dozens of frames) that means nothing to a client or an operator
// reading a model's load error; what_without_backtrace() is the message alone.
#ifndef WTSERVE_SERVER_NN_EXCEPTION_TEXT_H_
#define WTSERVE_SERVER_NN_EXCEPTION_TEXT_H_

#include <exception>
#include <string>

#include <c10/util/Exception.h>

namespace wtserve::nn {

inline std::string ExceptionText(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) {
    return c10_error->what_without_backtrace();
  }
  return e.what();
}

}  // namespace wtserve::nn

#endif  // WTSERVE_SERVER_NN_EXCEPTION_TEXT_H_
