// The log's writer thread (common/log.hpp) when memory has run out: the lines already queued still
// go out, and it neither spins nor loses count. The seam: operator new, replaced in this test
// program, fails on demand in every thread but the test's own.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>
#include <string>

#include "log.hpp"

namespace {
std::atomic<bool> refuse_memory{false};
thread_local bool exempt = false;  // the test's own thread allocates as usual
}  // namespace

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FIBS_SANITIZER_OWNS_NEW 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define FIBS_SANITIZER_OWNS_NEW 1
#endif
#endif

#ifndef FIBS_SANITIZER_OWNS_NEW
void* operator new(std::size_t size) {
    if (refuse_memory && !exempt) throw std::bad_alloc();
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // the pair above and below is malloc's
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop
constexpr bool kSeam = true;
#else
constexpr bool kSeam = false;  // a sanitizer's runtime owns operator new
#endif

TEST(Log, LinesQueuedWhenMemoryRanOutStillGoOut) {
    if (!kSeam) GTEST_SKIP() << "a sanitizer's runtime owns operator new";
    exempt = true;
    testing::internal::CaptureStdout();
    fibs::log_line("started");  // the writer thread, made while memory is there
    fibs::log_drain(std::chrono::seconds(2));
    refuse_memory = true;  // from here on the writer finds no memory
    for (int i = 0; i < 100; ++i) fibs::log_line("a line longer than a string holds without memory " + std::to_string(i));
    fibs::log_drain(std::chrono::seconds(3));
    refuse_memory = false;
    std::string out = testing::internal::GetCapturedStdout();
    EXPECT_NE(out.find("memory 0\n"), std::string::npos) << out.size() << " bytes: " << out.substr(0, 200);
    EXPECT_NE(out.find("memory 99\n"), std::string::npos) << out.size() << " bytes";
}
