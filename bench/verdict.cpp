#include "verdict.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>
#include <set>

#include "fib.hpp"
#include "proc_stats.hpp"

namespace fibs::bench {

std::string machine_spoiled(const MachineDelay& machine) {
    if (machine.others_cores < kOthersLimit) return "";  // below the limit, or not known (negative)
    char b[64];
    std::snprintf(b, sizeof b, "other processes used %.0f%% of a core", 100 * machine.others_cores);
    return b;
}

double fib_cpu_us(unsigned n) {
    double least = std::numeric_limits<double>::max();
    for (int i = 0; i < 3; ++i) {
        double t0 = thread_cpu_s();
        volatile std::uint64_t keep = fib(n);  // volatile: the call is not optimised away
        (void)keep;
        least = std::min(least, (thread_cpu_s() - t0) * 1e6);
    }
    return least;
}

std::vector<std::string> implausible(const LoadResult& r, double compute_us) {
    std::vector<std::string> out;
    double cpu = r.server_cpu_per_reply_us();
    if (r.server_measured && compute_us > 0 && r.main.replies > 0 && cpu < 0.8 * compute_us) {
        char b[96];
        std::snprintf(b, sizeof b, "CPU/reply %.0f µs under the %.0f µs its fib alone costs", cpu, compute_us);
        out.emplace_back(b);
    }
    if (r.config.rate > 0 && r.replies_per_s() > 1.05 * r.config.rate) out.emplace_back("more replies than were offered");
    return out;
}

std::vector<std::size_t> falling(const std::vector<Spread>& p99_by_load) {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < p99_by_load.size(); ++i) {
        for (std::size_t j = i + 1; j < p99_by_load.size(); ++j) {
            if (p99_by_load[j].max < p99_by_load[i].min) {  // the spreads do not even touch
                out.push_back(i);
                break;
            }
        }
    }
    return out;
}

int rerun_spoiled(std::vector<Measured>& rows, const std::function<std::optional<LoadResult>(const Measured&)>& run,
                  int tries, double budget_s, const std::function<double()>& now_s) {
    const double start = now_s();
    int runs = 0, spoiled_in_a_row = 0;
    for (int pass = 0; pass < tries; ++pass) {
        bool any = false;
        for (Measured& m : rows) {
            if (m.spoiled.empty()) continue;
            if (now_s() - start >= budget_s || spoiled_in_a_row == kBusyNow) return runs;
            any = true;
            std::optional<LoadResult> again = run(m);
            ++runs;
            if (!again) continue;
            std::string why = machine_spoiled(again->machine);
            spoiled_in_a_row = why.empty() ? 0 : spoiled_in_a_row + 1;
            if (why.empty() || again->machine.others_cores < m.result.machine.others_cores) {
                m.result = std::move(*again);
                m.spoiled = why;
            }
        }
        if (!any) break;
    }
    return runs;
}

std::optional<double> knee_of(const std::vector<const Measured*>& points, const P99Of& p99) {
    std::vector<const Measured*> by_load = points;
    std::sort(by_load.begin(), by_load.end(),
              [](const Measured* a, const Measured* b) { return a->result.config.rate < b->result.config.rate; });
    double knee = 0;
    for (const Measured* m : by_load) {
        if (m->says_nothing()) return std::nullopt;
        double p = p99 ? p99(*m) : static_cast<double>(m->result.main.latency.percentile(99));
        if (p >= kKneeNs) return knee;
        knee = m->result.config.rate;
    }
    return knee;  // never over the knee in the loads swept
}

std::string Claim::evidence() const {
    int rounds = held + against + unknown;
    std::string out = std::to_string(held) + " of " + std::to_string(rounds) + (rounds == 1 ? " round" : " rounds");
    if (against > 0) out += "; " + std::to_string(against) + " against";
    if (unknown > 0) out += "; " + std::to_string(unknown) + " could not say";
    return out;
}

namespace {

// Each round's usable row of `server` in one scenario and setting.
std::map<int, const Measured*> by_round(const std::vector<Measured>& rows, const std::string& scenario,
                                        const std::string& setting, const std::string& server) {
    std::map<int, const Measured*> out;
    for (const auto& m : rows) {
        if (m.setting.scenario == scenario && m.setting.setting == setting && m.server.label == server) out[m.setting.round] = &m;
    }
    return out;
}

// In each round: does `a`'s figure come under `b`'s by 10% or more (held), over it by 10% or more
// (against), or neither, or is a row missing or unusable (could not say)?
Claim below(const std::vector<Measured>& rows, std::string text, const std::string& scenario, const std::string& setting,
            const std::string& a, const std::string& b, const std::function<double(const LoadResult&)>& figure) {
    Claim c{std::move(text)};
    auto as = by_round(rows, scenario, setting, a), bs = by_round(rows, scenario, setting, b);
    for (const auto& [round, ra] : as) {
        auto rb = bs.find(round);
        if (rb == bs.end()) continue;  // b was not measured: no round to count
        if (ra->says_nothing() || rb->second->says_nothing()) {
            ++c.unknown;
            continue;
        }
        double fa = figure(ra->result), fb = figure(rb->second->result);
        if (fa * 1.1 <= fb) ++c.held;
        else if (fa >= fb * 1.1) ++c.against;
        else ++c.unknown;
    }
    return c;
}

// In each round of the sweep: is a's knee at or above b's?
Claim knee_at_least(const std::vector<Measured>& rows, std::string text, const std::string& a, const std::string& b) {
    Claim c{std::move(text)};
    std::map<int, std::vector<const Measured*>> pa, pb;
    for (const auto& m : rows) {
        if (m.setting.scenario != "latency") continue;
        if (m.server.label == a) pa[m.setting.round].push_back(&m);
        if (m.server.label == b) pb[m.setting.round].push_back(&m);
    }
    for (const auto& [round, points] : pa) {
        if (!pb.count(round)) continue;
        std::optional<double> ka = knee_of(points), kb = knee_of(pb[round]);
        if (!ka || !kb) ++c.unknown;
        else if (*ka >= *kb) ++c.held;
        else ++c.against;
    }
    return c;
}

double p99(const LoadResult& r) { return static_cast<double>(r.main.latency.percentile(99)); }
double cpu(const LoadResult& r) { return r.server_cpu_per_reply_us(); }

}  // namespace

std::vector<Claim> conclusions(const std::vector<Measured>& rows) {
    std::vector<Claim> out;
    Claim one{"blocking serves 1 of 8 clients at a time, the loop all 8 (Step 2)"};
    auto blocking = by_round(rows, "clients", "8", "blocking"), loop = by_round(rows, "clients", "8", "loop");
    for (const auto& [round, b] : blocking) {
        auto l = loop.find(round);
        if (l == loop.end()) continue;
        if (b->says_nothing() || l->second->says_nothing()) ++one.unknown;
        else if (b->result.main.served == 1 && l->second->result.main.served == 8) ++one.held;
        else ++one.against;
    }
    out.push_back(one);
    out.push_back(below(rows, "with 8 clients on fib(1), the loop spends less CPU per reply than the threads", "clients", "8",
                        "loop", "threads", cpu));
    out.push_back(below(rows, "beside a fib(35) hog, short requests wait less on the threads than on the loop (p99)", "hol",
                        "8 + hog", "threads", "loop", p99));
    std::string most_idle;  // the idle table's largest setting: "5000 idle" (--quick: "500 idle")
    for (const auto& m : rows) {
        if (m.setting.scenario == "idle" && m.result.config.idle > 0) most_idle = m.setting.setting;
    }
    out.push_back(below(rows, "with " + most_idle + " connections, epoll spends less CPU per reply than poll", "idle", most_idle,
                        "loop epoll", "loop poll", cpu));
    out.push_back(knee_at_least(rows, "the threads' knee is at or above two loops' (Step 5)", "threads", "2 loops handoff"));
    out.push_back(knee_at_least(rows, "one queue's knee is at or above two loops' (Step 6)", "one queue", "2 loops handoff"));
    std::vector<Claim> measured;
    for (auto& c : out) {
        if (c.held + c.against + c.unknown > 0) measured.push_back(std::move(c));
    }
    return measured;
}

}  // namespace fibs::bench
