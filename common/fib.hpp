// fib(n): the CPU work every server does for a request.
#pragma once
#include <cstdint>

namespace fibs {

// The largest n whose fib(n) fits in 64 bits (fib(93) does not).
inline constexpr unsigned kMaxFibN = 92;

// The article's naive recursion, kept on purpose: it is the slow, CPU-bound work the lesson needs.
// One deliberate difference: the article returns 1 for every n <= 2, so its fib(0) is 1; ours is
// the standard fib(0) = 0. What it costs for each n, measured: docs/protocol.md, "What fib(n)
// costs".
std::uint64_t fib(unsigned n);

}  // namespace fibs
