#include "machine_probe.hpp"

#include <time.h>

#include <cerrno>
#include <cstdint>

#include "connections.hpp"  // now_ns: the run's clock
#include "proc_stats.hpp"

namespace fibs::bench {

MachineProbe::MachineProbe()
    : thread_([this] {
          const std::int64_t tick = std::chrono::nanoseconds(kTick).count();
          double cpu0 = thread_cpu_s();
          for (std::int64_t due = now_ns() + tick; !stop_.load(std::memory_order_relaxed); due += tick) {
              timespec at{static_cast<time_t>(due / 1'000'000'000), static_cast<long>(due % 1'000'000'000)};
              while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr) == EINTR) {
              }
              std::int64_t woke = now_ns();
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
