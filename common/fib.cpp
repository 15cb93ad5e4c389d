#include "fib.hpp"

namespace fibs {

std::uint64_t fib(unsigned n) {
    if (n < 2) return n;
    return fib(n - 1) + fib(n - 2);
}

}  // namespace fibs
