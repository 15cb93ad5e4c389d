#include <gtest/gtest.h>

#include "answer_key.hpp"
#include "fib.hpp"
#include "support.hpp"

// Up to 32: each fib(n) is the fib(n - 1) and fib(n - 2) checked before it, added, so a larger n
// checks the addition only (AnswerKeyKnowsTheLastOneThatFits checks the largest) and costs seconds.
TEST(Fib, MatchesTheAnswerKeyFrom0To32) {
    for (unsigned n = 0; n <= 32; ++n) EXPECT_EQ(fibs::fib(n), fibs::expected_fib(n)) << "n = " << n;
}

TEST(Fib, AnswerKeyKnowsTheLastOneThatFits) {
    EXPECT_EQ(fibs::expected_fib(10), 55u);
    EXPECT_EQ(fibs::expected_fib(fibs::kMaxFibN), 7540113804746346429u);  // fib(92)
}

TEST(Fib, StandardStartUnlikeTheArticle) {
    EXPECT_EQ(fibs::fib(0), 0u);  // the article's version gives 1
    EXPECT_EQ(fibs::fib(1), 1u);
    EXPECT_EQ(fibs::fib(2), 1u);
}

// The lesson needs slow requests: a server caught in the middle of one (a stop, a second signal, a
// short request beside it) is what the servers' tests look at. With a fast fib (Step 1's exercise
// 3) this test fails, once, with the reason; each test that needs a slow request is skipped with it.
TEST(Fib, IsTheSlowRecursionTheLessonsNeed) {
    auto why = fibs::test::no_slow_requests();
    EXPECT_FALSE(why) << *why;
}
