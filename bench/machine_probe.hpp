// The machine's own delay, measured beside every run (as cyclictest does): a thread that sleeps
// until the next tick of a fixed schedule and records how late past the tick it woke. On an idle
// machine that is the timer's slack and the scheduler's wake-up; on a shared VM it is also every
// moment the machine did not run us. A latency below this lateness says nothing about the server.
#pragma once
#include <atomic>
#include <chrono>
#include <optional>
#include <string_view>
#include <thread>

#include "histogram.hpp"

namespace fibs::bench {

struct MachineDelay {
    Histogram late;     // ns past each tick
    double cpu_s = 0;   // what the probe itself cost
    // The whole machine meanwhile (/proc/stat), in CPU seconds: every core's busy time, and the
    // time the hypervisor ran someone else on our virtual cores (steal). Negative: not known.
    double machine_busy_s = -1, steal_s = -1;
    // Set by run_load once it knows its own and the server's CPU: the cores that other processes
    // (and the hypervisor's steal) took from the window; negative when not known.
    double others_cores = -1;
};

// /proc/stat's first line, in seconds of CPU: busy (user, nice, system, steal: what processes
// ran, and what the hypervisor gave others) and steal alone. nullopt when the text is not that line.
struct CpuTimes {
    double busy_s = 0, steal_s = 0;
};
std::optional<CpuTimes> parse_proc_stat(std::string_view text);
std::optional<CpuTimes> read_cpu_times();

class MachineProbe {
public:
    // One tick every 2.5 ms: each wake-up costs about 17 µs of CPU on a 2-core VM (timers are
    // dear under a hypervisor), so 400 a second stay under 1% of a core (docs/bench.md).
    static constexpr std::chrono::microseconds kTick{2500};

    MachineProbe();
    ~MachineProbe();  // stops the thread if stop() was not called
    MachineProbe(const MachineProbe&) = delete;
    MachineProbe& operator=(const MachineProbe&) = delete;

    MachineDelay stop();

private:
    std::atomic<bool> stop_{false};
    MachineDelay delay_;
    std::optional<CpuTimes> cpu0_;
    std::thread thread_;
};

}  // namespace fibs::bench
