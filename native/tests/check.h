// A minimal test harness for native test executables (no framework): CHECK
// records a failure with file and line; the process exits non-zero if any failed
// and prints a closing "N passed, N failed" line.
#pragma once
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace tessera_test {

struct Case {
  const char* name;
  std::function<void()> fn;
};
inline std::vector<Case>& cases() {
  static std::vector<Case> c;
  return c;
}
inline int& failures() {
  static int f = 0;
  return f;
}
struct Register {
  Register(const char* name, std::function<void()> fn) { cases().push_back({name, std::move(fn)}); }
};

inline int run_all() {
  int passed = 0, failed = 0;
  for (auto& c : cases()) {
    int before = failures();
    try {
      c.fn();
    } catch (const std::exception& e) {
      std::printf("  exception: %s\n", e.what());
      ++failures();
    }
    bool ok = failures() == before;
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", c.name);
    (ok ? passed : failed)++;
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}

}  // namespace tessera_test

#define TEST_CASE(name)                                                     \
  static void name();                                                       \
  static tessera_test::Register name##_reg(#name, name);                    \
  static void name()
#define CHECK(cond)                                                                         \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::printf("  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);                \
      ++tessera_test::failures();                                                           \
    }                                                                                       \
  } while (0)
#define CHECK_NEAR(a, b, tol)                                                                          \
  do {                                                                                                 \
    double _a = (a), _b = (b);                                                                         \
    if (!(std::fabs(_a - _b) <= (tol))) {                                                              \
      std::printf("  %s:%d: %s = %.9g vs %s = %.9g (tol %g)\n", __FILE__, __LINE__, #a, _a, #b, _b, double(tol)); \
      ++tessera_test::failures();                                                                      \
    }                                                                                                  \
  } while (0)
#define TEST_MAIN() \
  int main() { return tessera_test::run_all(); }
