// compare's judgement of its own rows: whether the machine, not the server, was the limit in a
// run (then it is run again), whether a figure can be true at all, and which conclusions every
// round agrees on. Functions of what was measured and nothing else, so that the tests hand them a
// fake machine and a fake server (tests/test_bench.cpp, Verdict.*).
#pragma once
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "compare.hpp"

namespace fibs::bench {

// Other processes, and the hypervisor's steal, took at least this much of a core during a run's
// window: the run measured the machine, not the server (docs/bench.md says how it was chosen).
inline constexpr double kOthersLimit = 0.25;

// "" when the machine left the run alone, else why not: "other processes used 96% of a core".
std::string machine_spoiled(const MachineDelay& machine);

// What fib(n) alone costs this process's CPU, in µs: the least of a few tries.
double fib_cpu_us(unsigned n);

// Figures that cannot be true, a few words each: the server spent less CPU per reply than the
// cheapest request's fib costs (`compute_us`, 0: not known), or answered more than was offered.
std::vector<std::string> implausible(const LoadResult& r, double compute_us);

// A server's latency points in order of load (their p99's median and spread): the indexes of
// the points whose p99 is above a later point's by more than both spreads. Latency does not fall
// as load rises: the lower load was measured in a slow spell.
std::vector<std::size_t> falling(const std::vector<Spread>& p99_by_load);

// Runs again each row the machine spoiled (Measured::spoiled), in passes: every spoiled row once
// per pass, in their order, so that a drift of the machine lands on every server alike. At most
// `tries` passes, none started after `budget_s`, and none after kBusyNow reruns in a row that the
// machine spoiled again (it is busy now, not in a passing spell). A rerun the machine left alone replaces its
// row; otherwise the row keeps whichever of the two others disturbed less. `run` measures a row
// again (nullopt: the server cannot run now); `now_s` is the clock. Returns the runs made.
inline constexpr int kBusyNow = 5;
int rerun_spoiled(std::vector<Measured>& rows, const std::function<std::optional<LoadResult>(const Measured&)>& run,
                  int tries, double budget_s, const std::function<double()>& now_s);

// A server's knee: the last offered load before the first of its points whose p99 is over
// kKneeNs (0: the first point already was). nullopt when it cannot be told: a point the machine
// spoiled, or that cannot be true, comes before that first point over the knee. `p99` reads a
// point's p99: by default the row's own (one round's knee); compare's table passes each point's
// median over its rounds.
using P99Of = std::function<double(const Measured&)>;
std::optional<double> knee_of(const std::vector<const Measured*>& points, const P99Of& p99 = nullptr);

// One conclusion and the rounds that bear it out.
struct Claim {
    std::string text;
    int held = 0, against = 0, unknown = 0;  // rounds: bear it out, contradict it, cannot say
    bool stands() const { return held > 0 && against == 0 && unknown == 0; }
    std::string evidence() const;  // "3 of 3 rounds", "2 of 3 rounds; 1 could not say"
};

// What the lessons claim, each checked in every round it was measured: a row that the machine
// spoiled or whose figures cannot be true says nothing. Two figures closer than 10% say nothing
// either.
std::vector<Claim> conclusions(const std::vector<Measured>& rows);

}  // namespace fibs::bench
