// tessera::Error — the one exception type the core throws. Each carries a stable
// code (EINVAL-style names surface in JS as err.code) and a message that says what
// was wrong, the value, and the rule. The addon catches it at the N-API boundary.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace tessera {

enum class ErrorCode {
  InvalidArgument,  // a value breaks a documented rule
  ShapeMismatch,    // tensor shapes do not fit together
  OutOfMemory,      // an allocation failed
  Unsupported,      // valid request the build/backend cannot serve
  Io,               // file read/write failed
  Format,           // a file is malformed
  Cancelled,        // the caller aborted
  Backend,          // a backend (CUDA) call failed
  Internal,         // a broken invariant: a bug in tessera
};

const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }
  const char* code_name() const { return error_code_name(code_); }

 private:
  ErrorCode code_;
};

// Builds a message from streamable parts: fail(ErrorCode::InvalidArgument, "width ", w, " must be ...").
template <class... Parts>
[[noreturn]] void fail(ErrorCode code, const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  throw Error(code, os.str());
}

}  // namespace tessera

#define TS_CHECK(cond, code, ...)                    \
  do {                                               \
    if (!(cond)) ::tessera::fail(code, __VA_ARGS__); \
  } while (0)
#define TS_CHECK_ARG(cond, ...) TS_CHECK(cond, ::tessera::ErrorCode::InvalidArgument, __VA_ARGS__)
#define TS_CHECK_SHAPE(cond, ...) TS_CHECK(cond, ::tessera::ErrorCode::ShapeMismatch, __VA_ARGS__)
