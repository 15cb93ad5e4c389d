// `fib-bench compare`: the same scenarios against every server model, one table, CSV/JSON, plots.
#pragma once
#include <string>
#include <vector>

#include "histogram.hpp"
#include "load.hpp"
#include "server_process.hpp"

namespace fibs::bench {

struct CompareConfig {
    bool quick = false;         // short runs and fewer idle connections: about 20 s, for tests
    std::string out = "results";
    std::string bin_dir;        // where the servers are; default: beside fib-bench
    int threads = 1;            // fib-bench client threads
    bool plots = true;
};

int run_compare(const CompareConfig& cfg);

// The latency sweep (table 6): fib(kSweepN), about 0.1 ms a request, so that the server, not the
// bench, saturates; its knee is the highest load with a p99 under kKneeNs.
inline constexpr unsigned kSweepN = 25;
inline constexpr double kKneeNs = 10e6;

// One point of the floor's sweep: offered and answered per second, and its p99 (ns).
struct SweepPoint {
    double offered, replies, p99_ns;
};
// When the floor's own sweep failed (its p99 over the knee at its first point, under 95% of what
// was offered at a load below its capacity, or more replies than were offered), the machine or the
// bench was the limit in that run, not the servers: one line that says so and which figure shows
// it; "" when the sweep looks sound. `capacity`: the floor's, the sweep's ruler.
std::string machine_limit(const std::vector<SweepPoint>& floor, double capacity);

// One run of the report: which server, which scenario and setting, what it measured.
struct Setting {
    std::string scenario;  // "clients", "hol", "idle"
    std::string setting;   // "8", "0 idle"
    LoadConfig load;
    int round = 0;         // the tables of CPU per reply measure each row in rounds
};
struct Measured {
    ServerKind server;
    Setting setting;
    LoadResult result;
    Spread point_p99;  // latency points: the median p99 of the point's rounds and their spread (ns)
    std::string spoiled;              // why the machine, not the server, was the limit (verdict.hpp); "" if not
    std::vector<std::string> flags;   // figures that cannot be true (verdict.hpp)
    bool says_nothing() const { return !spoiled.empty() || !flags.empty(); }
};

}  // namespace fibs::bench
