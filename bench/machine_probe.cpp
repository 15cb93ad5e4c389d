#include "machine_probe.hpp"

#include <sys/resource.h>
#include <time.h>

#include <cerrno>
#include <cstdint>

namespace fibs::bench {

namespace {

std::int64_t monotonic_ns() {
    timespec t{};
    ::clock_gettime(CLOCK_MONOTONIC, &t);
    return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

double thread_cpu_s() {
    rusage u{};
    ::getrusage(RUSAGE_THREAD, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

MachineProbe::MachineProbe()
    : thread_([this] {
          const std::int64_t tick = std::chrono::nanoseconds(kTick).count();
          double cpu0 = thread_cpu_s();
          for (std::int64_t due = monotonic_ns() + tick; !stop_.load(std::memory_order_relaxed); due += tick) {
              timespec at{static_cast<time_t>(due / 1'000'000'000), static_cast<long>(due % 1'000'000'000)};
              while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr) == EINTR) {
              }
              std::int64_t woke = monotonic_ns();
              delay_.late.record(static_cast<std::uint64_t>(woke - due));
              if (woke - due > tick) due = woke;  // a stall: the next tick counts from now, not a burst to catch up
          }
          delay_.cpu_s = thread_cpu_s() - cpu0;
      }) {}

MachineDelay MachineProbe::stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return delay_;
}

MachineProbe::~MachineProbe() { stop(); }

}  // namespace fibs::bench
