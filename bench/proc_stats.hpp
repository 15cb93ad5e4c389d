// What /proc says about a process: CPU time and memory. Works for any pid we may read.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace fibs::bench {

struct ProcStats {
    double cpu_s = 0;               // user + system, all threads
    std::uint64_t rss_kib = 0;      // resident now
    std::uint64_t hwm_kib = 0;      // resident at its peak
    int threads = 0;
};

std::optional<ProcStats> read_proc_stats(pid_t pid);

// This process's own CPU time (user + system, all threads).
double self_cpu_s();

}  // namespace fibs::bench
