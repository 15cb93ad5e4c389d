#include <gtest/gtest.h>

#include "fib.hpp"

TEST(Fib, MatchesAnIterativeReferenceFrom0To40) {
    std::uint64_t a = 0, b = 1;  // fib(n), fib(n + 1)
    for (unsigned n = 0; n <= 40; ++n) {
        EXPECT_EQ(fibs::fib(n), a) << "n = " << n;
        std::uint64_t next = a + b;
        a = b;
        b = next;
    }
}

TEST(Fib, StandardStartUnlikeTheArticle) {
    EXPECT_EQ(fibs::fib(0), 0u);  // the article's version gives 1
    EXPECT_EQ(fibs::fib(1), 1u);
    EXPECT_EQ(fibs::fib(2), 1u);
}
