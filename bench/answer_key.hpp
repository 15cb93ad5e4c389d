// The answer key every reply is checked against (by fib-bench, the tests and the fuzzer): fib(n)
// by iteration, independent of the servers' recursion, and instant.
#pragma once
#include <cstdint>
#include <string>
#include <utility>

namespace fibs {

inline std::uint64_t expected_fib(unsigned n) {
    std::uint64_t a = 0, b = 1;  // fib(i), fib(i + 1)
    for (unsigned i = 0; i < n; ++i) b = std::exchange(a, b) + b;
    return a;
}

// The reply line without its "\n": "6765" for 20.
inline std::string expected_reply(unsigned n) { return std::to_string(expected_fib(n)); }

}  // namespace fibs
