// The machine's own delay, measured beside every run (as cyclictest does): a thread that sleeps
// until the next tick of a fixed schedule and records how late past the tick it woke. On an idle
// machine that is the timer's slack and the scheduler's wake-up; on a shared VM it is also every
// moment the machine did not run us. A latency below this lateness says nothing about the server.
#pragma once
#include <atomic>
#include <chrono>
#include <thread>

#include "histogram.hpp"

namespace fibs::bench {

struct MachineDelay {
    Histogram late;     // ns past each tick
    double cpu_s = 0;   // what the probe itself cost
};

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
    std::thread thread_;
};

}  // namespace fibs::bench
