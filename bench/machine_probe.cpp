#include "machine_probe.hpp"

#include <time.h>

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include "connections.hpp"  // now_ns: the run's clock
#include "proc_stats.hpp"

namespace fibs::bench {

std::optional<CpuTimes> parse_proc_stat(std::string_view text) {
    std::istringstream in{std::string(text.substr(0, text.find('\n')))};
    std::string name;
    double user, nice, system, idle, iowait, irq, softirq, steal = 0;
    if (!(in >> name >> user >> nice >> system >> idle >> iowait >> irq >> softirq) || name != "cpu") return std::nullopt;
    in >> steal;  // since Linux 2.6.11
    static const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
    // Not irq and softirq: with the kernel's IRQ time accounting, the TCP work of our own
    // loopback connections lands there, and in no process's CPU time.
    (void)irq, (void)softirq;
    return CpuTimes{(user + nice + system + steal) / tick, steal / tick};
}

std::optional<CpuTimes> read_cpu_times() {
    std::ifstream in("/proc/stat");
    std::string first;
    if (!std::getline(in, first)) return std::nullopt;
    return parse_proc_stat(first);
}

MachineProbe::MachineProbe()
    : cpu0_(read_cpu_times()), thread_([this] {
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
    if (!stop_.exchange(true) && cpu0_) {
        if (std::optional<CpuTimes> cpu1 = read_cpu_times()) {
            delay_.machine_busy_s = cpu1->busy_s - cpu0_->busy_s;
            delay_.steal_s = cpu1->steal_s - cpu0_->steal_s;
        }
    }
    if (thread_.joinable()) thread_.join();
    return delay_;
}

MachineProbe::~MachineProbe() { stop(); }

}  // namespace fibs::bench
