// `fib-bench compare`: every server model, the same scenarios, one report. Each scenario is a pair
// of functions found by its name: plan_<scenario> says what to measure, print_<scenario> prints its
// table from what was measured. run_compare (at the end) runs them in the order of the report.
#include "compare.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <thread>

#include "compare_plots.hpp"
#include "load.hpp"
#include "report.hpp"
#include "server_process.hpp"
#include "verdict.hpp"

#ifndef FIBS_BUILD_TYPE
#define FIBS_BUILD_TYPE "unknown"
#endif

namespace fibs::bench {

namespace {

namespace fs = std::filesystem;

// Tables 1, 2 and 5 run every server once per round, in turn, and show each row's round with the
// least CPU per reply. A slow spell of a shared machine (seconds long, everything about 35%
// slower: server and bench alike) only ever adds CPU time, and it lands on a few rows of a round,
// not on the same row in every round.
constexpr int kRounds = 3;

// The servers compare runs, each named once.
struct Kinds {
    // The ruler (bench/floor.cpp): the least a server can do here, measured in the same run.
    ServerKind floor{"floor", "fib-floor", {"--quiet"}};
    ServerKind blocking{"blocking", "fib-blocking", {"--quiet"}};
    ServerKind loop{"loop", "fib-loop", {"--quiet"}};
    ServerKind loop_await{"loop await", "fib-loop", {"--quiet", "--handler", "await"}};  // Step 4
    ServerKind loop_workers{"loop --workers 2", "fib-loop", {"--quiet", "--workers", "2"}};
    ServerKind loop_uring{"loop io_uring", "fib-loop", {"--quiet", "--backend", "io_uring"}};
    ServerKind threads{"threads", "fib-threads", {"--quiet"}};
    // Step 5: two loops, clients handed out in turn; and two loops that share one pool of two
    // workers for every fib(n) from the swept n on.
    ServerKind loops_handoff{"2 loops handoff", "fib-loop", {"--quiet", "--loops", "2", "--spread", "handoff"}};
    ServerKind loops_pool{"2 loops + 2 workers", "fib-loop",
                          {"--quiet", "--loops", "2", "--spread", "handoff", "--workers", "2", "--offload-min",
                           std::to_string(kSweepN)}};
    // Step 6: two threads on one queue (one epoll instance, each socket one-shot).
    ServerKind one_queue{"one queue", "fib-loop", {"--quiet", "--loops", "2", "--one-queue"}};
    std::vector<ServerKind> idle;  // table 5: each backend with its default limit
    Kinds() {
        idle.push_back(floor);
        for (const char* backend : {"select", "poll", "epoll", "io_uring"}) {
            idle.push_back({std::string("loop ") + backend, "fib-loop", {"--quiet", "--backend", backend}});
        }
        idle.push_back({"loop one queue", "fib-loop", {"--quiet", "--loops", "2", "--one-queue"}});  // Step 6
        idle.push_back({"threads", "fib-threads", {"--quiet", "--max-clients", "10000"}});  // past 1024
    }
};

using Plan = std::vector<std::pair<ServerKind, Setting>>;

// How long each run lasts, and in how many rounds: a full run, or --quick (about 20 s, for tests).
struct Durations {
    explicit Durations(const CompareConfig& c) : cfg(c), rounds(c.quick ? 1 : kRounds) {}
    const CompareConfig& cfg;
    int rounds;
    LoadConfig base(int clients) const {  // fib(1), a short warm-up, one window
        LoadConfig l;
        l.clients = clients;
        l.warmup_s = cfg.quick ? 0.1 : 0.5;
        l.duration_s = cfg.quick ? 0.2 : 1.5;
        l.fib_n = 1;
        return l;
    }
    LoadConfig in_rounds(LoadConfig l, double seconds) const {  // one round's run (--quick: one round, as base)
        l.duration_s = cfg.quick ? l.duration_s : seconds;
        l.warmup_s = cfg.quick ? l.warmup_s : 0.2;
        return l;
    }
};

// The servers of a table with Step 5's and Step 6's rows put in before the threads (the last):
// two loops (handoff: the spread whose clients are even, 4 and 4), then the one queue.
// (reuseport measures as handoff does: Step 5's table; left out, the full run keeps to 4 minutes.)
std::vector<const ServerKind*> and_step5(const Kinds& k, std::vector<const ServerKind*> servers) {
    auto at = servers.insert(servers.end() - 1, &k.one_queue);
    servers.insert(at, &k.loops_handoff);
    return servers;
}

std::vector<const ServerKind*> client_servers(const Kinds& k) {
    return and_step5(k, {&k.floor, &k.blocking, &k.loop, &k.loop_await, &k.loop_uring, &k.threads});
}

// ---- What each scenario measures ------------------------------------------------------------

// 1. Clients on fib(1), and 2. the same pipelined: every server in turn, in rounds.
void plan_clients_and_pipelined(Plan& plan, const Kinds& k, const Durations& d) {
    for (int round = 0; round < d.rounds; ++round) {
        for (const auto* s : client_servers(k)) {
            for (int c : {1, 8, 64}) plan.push_back({*s, {"clients", std::to_string(c), d.in_rounds(d.base(c), 0.5), round}});
        }
        for (const auto* s : and_step5(k, {&k.floor, &k.blocking, &k.loop, &k.loop_await, &k.threads})) {
            LoadConfig l = d.in_rounds(d.base(50), 0.5);
            l.pipeline = 16;
            plan.push_back({*s, {"pipelined", "50 x 16", l, round}});
        }
    }
}

// 3. Head-of-line: 8 clients on fib(1) beside a client looping on fib(35).
void plan_hol(Plan& plan, const Kinds& k, const Durations& d) {
    for (const auto* s : and_step5(k, {&k.blocking, &k.loop, &k.loop_workers, &k.threads})) {
        LoadConfig l = d.in_rounds(d.base(8), 1.0);  // a hundred fib(35) in 1 s
        l.hog = 1;
        l.hog_n = 35;
        l.timeout_s = 30;
        plan.push_back({*s, {"hol", "8 + hog", l}});
    }
}

// 4. Fairness: 8 clients on fib(1) beside a client that pipelines fib(20) and never reads.
void plan_fairness(Plan& plan, const Kinds& k, const Durations& d) {
    for (const auto* s : {&k.blocking, &k.loop, &k.loop_workers, &k.threads}) {
        LoadConfig l = d.in_rounds(d.base(8), 1.0);
        l.flood = 1;
        l.flood_n = 20;
        plan.push_back({*s, {"fairness", "8 + flood", l}});
    }
}

// Who is served when (timeline.svg): the same 8 clients on each model, every reply traced; then
// the loop beside a fib(35) hog, without and with workers, and two loops.
void plan_timeline(Plan& plan, const Kinds& k, const Durations& d) {
    for (const auto* s : {&k.blocking, &k.loop, &k.threads}) {
        LoadConfig l = d.base(8);
        l.duration_s = d.cfg.quick ? 0.1 : 0.3;
        l.warmup_s = d.cfg.quick ? l.warmup_s : 0.2;
        l.trace = 100'000;
        plan.push_back({*s, {"timeline", "8", l}});
    }
    for (const auto* s : {&k.loop, &k.loop_workers, &k.loops_handoff}) {
        LoadConfig l = d.base(8);
        l.duration_s = d.cfg.quick ? 0.15 : 0.3;
        l.warmup_s = d.cfg.quick ? l.warmup_s : 0.2;
        l.hog = 1;
        l.hog_n = 35;
        l.trace = 100'000;
        plan.push_back({*s, {"timeline", "8 + hog", l}});
    }
}

// 5. Idle connections beside 8 active clients: each backend, in rounds.
void plan_idle(Plan& plan, const Kinds& k, const Durations& d) {
    std::vector<int> idle_counts = d.cfg.quick ? std::vector<int>{0, 500} : std::vector<int>{0, 5000};
    for (int round = 0; round < d.rounds; ++round) {
        for (const auto& s : k.idle) {
            for (int idle : idle_counts) {
                LoadConfig l = d.in_rounds(d.base(8), 0.3);  // shorter: its lesson is 5x and 25x, not 5%
                l.idle = idle;
                plan.push_back({s, {"idle", std::to_string(idle) + " idle", l, round}});
            }
        }
    }
}

// 7. Batches: one client sends fib(30) and fib(29) together and waits for both replies before
// the next pair. Before a costly request (n >= 30) every server first sends the replies it has
// made (common/conversation.hpp), so a batch is answered in two writes: the row shows whether the
// second waits for the client's delayed ACK (about 40 ms a batch; it did, before TCP_NODELAY).
void plan_batches(Plan& plan, const Kinds& k, const Durations& d) {
    for (const auto* s : and_step5(k, {&k.floor, &k.blocking, &k.loop, &k.loop_await, &k.threads})) {
        LoadConfig l = d.in_rounds(d.base(1), 0.5);  // 0.5 s: a stall of 40 ms a batch shows in any window
        l.fib_n = 30;
        l.pipeline = 2;
        l.batch = true;
        plan.push_back({*s, {"batches", "1 x 2 (30)", l}});
    }
}

// ---- Running them ---------------------------------------------------------------------------

// Starts the server on a free port, runs one load against it, stops it. A fresh server per run, so
// RSS and CPU belong to that run alone.
LoadResult measure(const CompareConfig& cfg, const ServerKind& server, LoadConfig load) {
    ServerProcess proc(cfg.bin_dir + "/" + server.exe, server.args);
    load.port = proc.port();
    load.server_pid = proc.pid();
    load.threads = cfg.threads;
    LoadResult r = run_load(load);
    if (proc.stop() != 0) std::fprintf(stderr, "warning: %s did not exit cleanly\n", server.label.c_str());
    return r;
}

// Every run of the report, and which servers could not run here (io_uring where it is disabled).
class Results {
public:
    explicit Results(const CompareConfig& cfg) : cfg_(cfg) {}
    bool exists(const std::string& exe) const { return ::access((cfg_.bin_dir + "/" + exe).c_str(), X_OK) == 0; }
    bool ran(const ServerKind& s) const {
        return exists(s.exe) && std::find(cannot_start_.begin(), cannot_start_.end(), s.label) == cannot_start_.end();
    }
    // Measures one run and keeps it; false when the server could not run (its rows are left out).
    bool run(const ServerKind& server, const Setting& setting) {
        if (!ran(server)) return false;
        std::fprintf(stderr, "  %-20s %-9s %-10s\r", server.label.c_str(), setting.scenario.c_str(), setting.setting.c_str());
        try {
            LoadResult r = measure(cfg_, server, setting.load);
            std::string spoiled = machine_spoiled(r.machine);
            all.push_back({server, setting, std::move(r), {}, std::move(spoiled), {}});
            return true;
        } catch (const std::runtime_error& e) {
            std::string said = e.what();
            std::string last = said.substr(said.rfind('\n', said.size() - 2) + 1);
            std::printf("note: %s cannot run here; its rows are left out: %s", server.label.c_str(), last.c_str());
            cannot_start_.push_back(server.label);
            return false;
        }
    }
    // The runs of m's row, one per round.
    // The same row of a table (server, scenario, setting), in any round.
    static bool same_row(const Measured& a, const Measured& b) {
        return a.setting.scenario == b.setting.scenario && a.setting.setting == b.setting.setting && a.server.label == b.server.label;
    }
    std::vector<const Measured*> rounds_of(const Measured& m) const {
        std::vector<const Measured*> v;
        for (const auto& o : all) {
            if (same_row(o, m)) v.push_back(&o);
        }
        return v;
    }
    // A scenario's rows, one per server and setting: the round with the least CPU per reply (for a
    // latency point, the round whose p99 is the point's median). Chosen once per scenario.
    const std::vector<const Measured*>& pick(const std::string& scenario) {
        auto [at, fresh] = picked_.try_emplace(scenario);
        std::vector<const Measured*>& v = at->second;
        if (!fresh) return v;
        for (const auto& m : all) {
            if (m.setting.scenario != scenario || m.setting.round != 0) continue;
            auto same = rounds_of(m);
            auto by = [&](const Measured* a) {  // a round the machine spoiled only when every round is
                return (a->spoiled.empty() ? 0 : 1e18) +
                       (scenario == "latency" ? std::fabs(static_cast<double>(a->result.main.latency.percentile(99)) - m.point_p99.median)
                                              : a->result.server_cpu_per_reply_us());
            };
            v.push_back(*std::min_element(same.begin(), same.end(), [&](const Measured* a, const Measured* b) { return by(a) < by(b); }));
        }
        return v;
    }
    std::vector<std::string> labels_that_ran(const std::vector<const ServerKind*>& servers) const {
        std::vector<std::string> out;
        for (const auto* s : servers) {
            if (ran(*s)) out.push_back(s->label);
        }
        return out;
    }

    std::vector<Measured> all;
    double floor_capacity = 0;  // the latency sweep's ruler: the floor's replies/s on fib(kSweepN)
    double floor_capacity_end = 0;  // the same, measured again at the end of the run

private:
    const CompareConfig& cfg_;
    std::vector<std::string> cannot_start_;
    std::map<std::string, std::vector<const Measured*>> picked_;
};

// ---- 6. Latency against offered load --------------------------------------------------------
//
// One ruler for every curve: the floor's capacity on fib(25), measured first (a closed loop with 4
// requests in flight per client, so it is never short of work), and each server offered the same
// multiples of it on the open loop, from 0.5x up, until it falls behind (answers under 95% of
// what is offered) at two loads in a row: from there the queue grows for as long as the run
// lasts. (Not at the first p99 past 10 ms: a slow spell of the machine does that to a point far
// below the knee.) The servers take turns at each load, and the whole sweep is measured in three
// rounds: a point's p99 is the median of its three, a sweep apart, so a slow spell (seconds long)
// moves one of them, not the point; the bar is their spread (docs/bench.md).

std::vector<const ServerKind*> swept_servers(const Kinds& k) {
    return {&k.floor, &k.loop, &k.loops_handoff, &k.loops_pool, &k.one_queue, &k.threads};
}

// The floor's capacity: a closed loop with 4 requests in flight per client.
LoadConfig floor_closed_loop(const Durations& d) {
    LoadConfig closed = d.in_rounds(d.base(8), 0.6);
    closed.fib_n = kSweepN;
    closed.pipeline = 4;  // which mixes n and n - 1, as the open loop does
    return closed;
}

void sweep_latency(Results& results, const Kinds& k, const Durations& d) {
    const std::vector<double> multiples = d.cfg.quick ? std::vector<double>{0.25, 0.75, 1.1}
                                                      : std::vector<double>{0.5, 0.7, 0.9, 1.0, 1.1, 1.25, 1.4, 1.6};
    LoadConfig sweep = d.base(8);
    sweep.fib_n = kSweepN;
    if (results.exists(k.floor.exe)) {
        LoadConfig closed = floor_closed_loop(d);
        std::fprintf(stderr, "  %-20s %-9s %-10s\r", k.floor.label.c_str(), "latency", "capacity");
        // The higher of two measurements (one with --quick): a slow spell of the machine only ever
        // lowers a capacity, and a ruler measured in one would shift every curve.
        for (int i = 0; i < (d.cfg.quick ? 1 : 2); ++i) {
            results.floor_capacity = std::max(results.floor_capacity, measure(d.cfg, k.floor, closed).replies_per_s());
        }
    }
    if (results.floor_capacity <= 0) return;
    std::map<std::string, int> behind;  // loads in a row at which the server fell behind
    std::vector<std::pair<const ServerKind*, Setting>> points;  // what the first round measured
    for (double x : multiples) {
        for (const auto* s : swept_servers(k)) {
            if (behind[s->label] == 2) continue;
            LoadConfig open = sweep;
            open.warmup_s = d.cfg.quick ? 0.1 : 0.15;
            open.duration_s = d.cfg.quick ? 0.21 : 0.45;
            open.windows = d.rounds > 1 ? 1 : 3;  // --quick: one run, its window cut in three instead
            open.rate = x * results.floor_capacity;
            char setting[16];
            std::snprintf(setting, sizeof setting, "%.2f×", x);
            points.push_back({s, {"latency", setting, open}});
            if (!results.run(*s, points.back().second)) continue;
            int& n = behind[s->label];
            n = results.all.back().result.replies_per_s() < 0.95 * open.rate ? n + 1 : 0;
        }
    }
    for (int round = 1; round < d.rounds; ++round) {  // the same points again, a whole sweep later
        for (auto [s, point] : points) {
            point.round = round;
            results.run(*s, point);
        }
    }
}

// The floor's capacity again, at the end: the ruler of table 6 measured at the start. When the
// two differ by over 15%, the machine's speed moved during the run: "" when it held.
std::string floor_drift(Results& results, const Kinds& k, const Durations& d) {
    if (results.floor_capacity <= 0) return "";
    std::fprintf(stderr, "  %-20s %-9s %-10s\r", k.floor.label.c_str(), "latency", "capacity");
    double end = measure(d.cfg, k.floor, floor_closed_loop(d)).replies_per_s();
    results.floor_capacity_end = end;
    if (end > 0.85 * results.floor_capacity && end < results.floor_capacity / 0.85) return "";
    return "the machine's speed moved during the run: the floor served " + format_count(results.floor_capacity) +
           "/s of fib(" + std::to_string(kSweepN) + ") at the start and " + format_count(end) + "/s at the end";
}

// ---- What the machine spoiled, and what cannot be true ---------------------------------------
//
// Every run is judged as it ends (verdict.hpp): when other processes took a quarter of a core or
// more from its window, the machine, not the server, was the limit. Once every table is measured,
// those runs are made again, in passes over all of them (so a drift lands on every server alike),
// as long as the budget lasts; what stays spoiled is marked, and says nothing in the knees and the
// conclusions. Then each figure is checked for what cannot be true.

int rerun_spoiled_rows(Results& results, const Durations& d) {
    auto again = [&](const Measured& m) -> std::optional<LoadResult> {
        std::fprintf(stderr, "  %-20s %-9s %-10s again\r", m.server.label.c_str(), m.setting.scenario.c_str(), m.setting.setting.c_str());
        try {
            return measure(d.cfg, m.server, m.setting.load);
        } catch (const std::runtime_error&) {
            return std::nullopt;
        }
    };
    auto now = [] { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); };
    return rerun_spoiled(results.all, again, d.cfg.quick ? 1 : 2, d.cfg.quick ? 4.0 : 12.0, now);
}

// A point's p99: the median of its rounds' and their spread (of its window's thirds, with one
// round), from the rounds the machine left alone (all of them, when it left none alone). Then the
// flags: figures that cannot be true, and a p99 above a higher load's.
void judge_rows(Results& results) {
    for (auto& m : results.all) {
        if (m.setting.scenario != "latency") continue;
        std::vector<Histogram> each, alone;
        std::vector<const Measured*> rounds = results.rounds_of(m);
        for (const Measured* r : rounds) {
            each.push_back(r->result.main.latency);
            if (r->spoiled.empty()) alone.push_back(r->result.main.latency);
        }
        if (!alone.empty()) each = alone;
        m.point_p99 = rounds.size() > 1 ? spread_of(each, 99) : m.result.p99_by_window();
    }
    std::map<unsigned, double> cost;  // fib(n)'s CPU here, for the n a row's cheapest request asks
    for (auto& m : results.all) {
        const LoadConfig& c = m.result.config;
        unsigned cheapest = c.fib_n - ((c.pipeline > 1 || c.rate > 0) && c.fib_n > 1 ? 1 : 0);  // they mix n and n - 1
        if (cheapest >= 20 && !cost.count(cheapest)) cost[cheapest] = fib_cpu_us(cheapest);
        m.flags = implausible(m.result, cheapest >= 20 ? cost[cheapest] : 0);
    }
    std::map<std::string, std::vector<Measured*>> sweeps;  // each server's points, one row each
    for (auto& m : results.all) {
        if (m.setting.scenario == "latency" && m.setting.round == 0) sweeps[m.server.label].push_back(&m);
    }
    for (auto& [label, points] : sweeps) {
        std::sort(points.begin(), points.end(), [](auto* a, auto* b) { return a->result.config.rate < b->result.config.rate; });
        std::vector<Spread> p99s;
        for (auto* p : points) p99s.push_back(p->point_p99);
        for (std::size_t i : falling(p99s)) {
            const Measured point = *points[i];  // a copy: the rows it names are changed below
            for (auto& r : results.all) {
                if (Results::same_row(r, point)) r.flags.push_back("p99 above a higher load's");
            }
        }
    }
}

// ---- The tables -----------------------------------------------------------------------------

// Columns as wide as their widest cell (at least 13), measured in what a terminal shows: "µ", "×"
// and "°" are two bytes but one column.
int columns(const std::string& s) {
    return static_cast<int>(std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

void print_table(const std::string& title, const std::vector<std::string>& heads, const std::vector<const Measured*>& runs,
                 const std::function<std::vector<std::string>(const Measured&)>& cells) {
    std::vector<std::vector<std::string>> rows;
    std::vector<int> width(heads.size(), 13);
    for (const Measured* m : runs) {
        rows.push_back(cells(*m));
        for (std::size_t i = 0; i < rows.back().size() && i < width.size(); ++i) width[i] = std::max(width[i], columns(rows.back()[i]));
    }
    auto cell = [&](std::size_t i, const std::string& c) { std::printf(" %*s", width[i] + static_cast<int>(c.size()) - columns(c), c.c_str()); };
    std::printf("\n== %s\n", title.c_str());
    std::printf("%-20s %-12s", "server", "setting");
    for (std::size_t i = 0; i < heads.size(); ++i) cell(i, heads[i]);
    std::printf("\n");
    for (std::size_t r = 0; r < runs.size(); ++r) {
        std::printf("%-20s %-12s", runs[r]->server.label.c_str(), runs[r]->setting.setting.c_str());
        for (std::size_t i = 0; i < rows[r].size() && i < width.size(); ++i) cell(i, rows[r][i]);
        std::printf("%s%s%s\n", runs[r]->result.client_saturated ? "  *client-bound" : "", runs[r]->spoiled.empty() ? "" : "  ‡",
                    runs[r]->flags.empty() ? "" : "  !");
    }
}

std::string served(const ClassStats& s) { return std::to_string(s.served) + "/" + std::to_string(s.clients); }

std::string cpu_us(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f µs", v);
    return b;
}

// The cells every table shares. A latency is marked ° when it is within what the machine alone
// delays a sleeping thread in that run (its p99 lateness): such a figure says nothing about the
// server.
class Cells {
public:
    explicit Cells(Results& results) : results_(results) {}
    std::string lat(const Measured& m, double ns) {
        const Histogram& late = m.result.machine.late;
        bool within = late.count() > 0 && ns <= static_cast<double>(late.percentile(99));
        marked = marked || within;
        return format_ns(ns) + (within ? "°" : "");
    }
    std::string p(const Measured& m, const Histogram& h, double q) { return lat(m, static_cast<double>(h.percentile(q))); }
    // A row's CPU per reply over the floor's row in the same table (each the least of its rounds).
    std::string times_floor(const Measured& m) {
        for (const Measured* f : results_.pick(m.setting.scenario)) {
            if (f->server.label == "floor" && f->setting.setting == m.setting.setting && f->result.server_cpu_per_reply_us() > 0) {
                char b[32];
                std::snprintf(b, sizeof b, "%.2f×", m.result.server_cpu_per_reply_us() / f->result.server_cpu_per_reply_us());
                return b;
            }
        }
        return "-";
    }
    bool marked = false;

private:
    Results& results_;
};

void print_clients_and_pipelined(Results& results, Cells& cells, const Durations& d) {
    print_table("1. Clients on fib(1): throughput, latency, how many are served at once",
                {"replies/s", "p50", "p99", "served", "CPU/reply", "× floor"}, results.pick("clients"), [&](const Measured& m) {
                    const auto& r = m.result;
                    return std::vector<std::string>{format_count(r.replies_per_s()), cells.p(m, r.main.latency, 50),
                                                    cells.p(m, r.main.latency, 99), served(r.main),
                                                    cpu_us(r.server_cpu_per_reply_us()), cells.times_floor(m)};
                });
    if (d.rounds > 1) {
        std::printf("(tables 1, 2 and 5: every server in turn, %d rounds of 0.5 s (5: 0.3 s); each row is its round with\n"
                    " the least CPU/reply, × floor is that over the floor's row: docs/bench.md says why)\n", d.rounds);
    }
    print_table("2. Pipelined: 50 clients, each with 16 requests in flight, fib(1)",
                {"replies/s", "p50", "p99", "served", "CPU/reply", "× floor", "bench/reply"}, results.pick("pipelined"),
                [&](const Measured& m) {
                    const auto& r = m.result;
                    return std::vector<std::string>{format_count(r.replies_per_s()), cells.p(m, r.main.latency, 50),
                                                    cells.p(m, r.main.latency, 99), served(r.main),
                                                    cpu_us(r.server_cpu_per_reply_us()), cells.times_floor(m),
                                                    cpu_us(r.client_cpu_per_reply_us())};
                });
    if (results.exists("fib-blocking")) std::printf("(blocking serves one of the 50: the others wait in its listen backlog)\n");
}

void print_hol_and_fairness(Results& results, Cells& cells) {
    auto short_beside = [&](const Measured& m) {
        const auto& r = m.result;
        char other[32];
        double other_rate = r.window_s > 0 ? static_cast<double>(r.hog.replies) / r.window_s : 0;
        std::snprintf(other, sizeof other, "%.1f", other_rate);
        return std::vector<std::string>{cells.p(m, r.main.latency, 50), cells.p(m, r.main.latency, 99), served(r.main),
                                        format_count(r.replies_per_s()), other};
    };
    print_table("3. Head-of-line: 8 clients on fib(1) beside 1 client looping on fib(35)",
                {"short p50", "short p99", "served", "short rps", "hog rps"}, results.pick("hol"), short_beside);
    print_table("4. Fairness: 8 clients on fib(1) beside 1 client pipelining fib(20) without reading",
                {"short p50", "short p99", "served", "short rps"}, results.pick("fairness"), [&](const Measured& m) {
                    auto row = short_beside(m);
                    row.pop_back();
                    return row;
                });
}

void print_idle(Results& results, Cells& cells) {
    print_table("5. Idle connections beside 8 active clients on fib(1)",
                {"replies/s", "CPU/reply", "× floor", "RSS", "held", "refused", "p99"}, results.pick("idle"), [&](const Measured& m) {
                    const auto& r = m.result;
                    char rss[32];
                    std::snprintf(rss, sizeof rss, "%.1f MiB", static_cast<double>(r.server_rss_kib) / 1024);
                    int held = r.config.idle - r.connections.refused_by_server - static_cast<int>(r.errors.idle_closed);
                    return std::vector<std::string>{format_count(r.replies_per_s()), cpu_us(r.server_cpu_per_reply_us()),
                                                    cells.times_floor(m), rss, std::to_string(std::max(0, held)),
                                                    std::to_string(r.connections.refused_by_server), cells.p(m, r.main.latency, 99)};
                });
    if (results.exists("fib-blocking")) std::printf("(blocking is left out of 5: it serves one connection at a time)\n");
}

// Runs measured in turns (server after server at each load), as rows grouped by server in `order`.
std::vector<const Measured*> by_server(std::vector<const Measured*> runs, const std::vector<const ServerKind*>& order) {
    auto rank = [&](const Measured* m) {
        return std::find_if(order.begin(), order.end(), [&](const ServerKind* s) { return s->label == m->server.label; }) - order.begin();
    };
    std::stable_sort(runs.begin(), runs.end(), [&](const Measured* a, const Measured* b) { return rank(a) < rank(b); });
    return runs;
}

// Each server's knee (knee_of) from its points' median p99: the load, and its multiple; "none"
// when its first point was already over 10 ms; "cannot tell" with the first point that says
// nothing.
void print_knees(const std::vector<const Measured*>& runs) {
    std::vector<std::pair<std::string, std::vector<const Measured*>>> servers;
    for (const Measured* m : runs) {
        auto at = std::find_if(servers.begin(), servers.end(), [&](auto& s) { return s.first == m->server.label; });
        if (at == servers.end()) at = servers.insert(servers.end(), {m->server.label, {}});
        at->second.push_back(m);
    }
    std::printf("knee, the last offered load before the first p99 over 10 ms:");
    for (auto& [label, points] : servers) {
        std::sort(points.begin(), points.end(), [](auto* a, auto* b) { return a->result.config.rate < b->result.config.rate; });
        std::optional<double> knee = knee_of(points, [](const Measured& m) { return m.point_p99.median; });
        std::string said = "none";
        for (const Measured* m : points) {
            if (!knee && m->says_nothing()) {
                said = "cannot tell (" + m->setting.setting + (m->spoiled.empty() ? " cannot be true)" : " spoiled)");
                break;
            }
            if (knee && *knee > 0 && m->result.config.rate == *knee) said = format_count(*knee) + "/s (" + m->setting.setting + ")";
        }
        std::printf("  %s %s", label.c_str(), said.c_str());
    }
    std::printf("\n");
}

// The floor's own points of the sweep, as machine_limit() reads them.
std::vector<SweepPoint> floor_points(const std::vector<const Measured*>& runs) {
    std::vector<SweepPoint> out;
    for (const Measured* m : runs) {
        if (m->server.label != "floor") continue;
        out.push_back({m->result.config.rate, m->result.replies_per_s(), m->point_p99.median});
    }
    std::sort(out.begin(), out.end(), [](const SweepPoint& a, const SweepPoint& b) { return a.offered < b.offered; });
    return out;
}

void print_latency(Results& results, Cells& cells, const Kinds& k, const Durations& d) {
    const auto& points = results.pick("latency");
    print_table("6. Latency against offered load: 8 clients on fib(" + std::to_string(kSweepN) +
                    "), open loop, offered as a multiple of the floor's capacity (" + format_count(results.floor_capacity) + "/s)",
                {"offered/s", "replies/s", "p50", "p99", "p99 spread", "late sends"}, by_server(points, swept_servers(k)),
                [&](const Measured& m) {
                    const auto& r = m.result;
                    const Spread& p99 = m.point_p99;
                    return std::vector<std::string>{format_count(r.config.rate), format_count(r.replies_per_s()),
                                                    cells.p(m, r.main.latency, 50), cells.lat(m, p99.median),
                                                    format_ns(p99.min) + "-" + format_ns(p99.max), format_count(double(r.late))};
                });
    std::printf("(p99: the median of the point's %s, and their spread; late sends: requests fib-bench sent\n"
                " over 1 ms after their time, which the latency still counts from the time they were due)\n",
                d.rounds > 1 ? "three rounds, a whole sweep apart" : "window's three thirds");
    print_knees(points);
    if (std::string limit = machine_limit(floor_points(points), results.floor_capacity); !limit.empty()) std::printf("%s\n", limit.c_str());
}

void print_batches(Results& results, Cells& cells) {
    print_table("7. Batches: 1 client sends fib(30) and fib(29) together and waits for both, then the next pair",
                {"replies/s", "p50", "p99", "CPU/reply", "× floor"}, results.pick("batches"), [&](const Measured& m) {
                    const auto& r = m.result;
                    return std::vector<std::string>{format_count(r.replies_per_s()), cells.p(m, r.main.latency, 50),
                                                    cells.p(m, r.main.latency, 99), cpu_us(r.server_cpu_per_reply_us()),
                                                    cells.times_floor(m)};
                });
    std::printf("(a batch's two replies go out in two writes; with Nagle's algorithm the second waited for the\n"
                " client's delayed ACK, p99 about 44 ms: the servers set TCP_NODELAY, common/net.cpp)\n");
}

// What the machine did to this run, as the tables show it: the tables with a row it spoiled (in
// every round: a row is its best round), the runs made again, and how far the floor's capacity
// moved from the start of the run to its end.
struct MachineVerdict {
    std::vector<std::string> tables;  // "1", "6"
    int spoiled_rows = 0, reruns = 0;
    double worst_others = 0;          // cores
    std::string drift;                // "" or what the floor's capacity did
    std::string sweep;                // machine_limit() on the floor's sweep
    bool limited() const { return !tables.empty() || !drift.empty() || !sweep.empty(); }
    std::string line() const {
        std::string t;
        for (const auto& n : tables) t += (t.empty() ? "" : ", ") + n;
        char b[256];
        std::snprintf(b, sizeof b, "the machine was the limit in %d %s of table%s %s (other processes used up to %.0f%% of a core), "
                      "%d run%s made again", spoiled_rows, spoiled_rows == 1 ? "row" : "rows", tables.size() == 1 ? "" : "s", t.c_str(),
                      100 * worst_others, reruns, reruns == 1 ? "" : "s");
        return b;
    }
};

const std::vector<std::pair<std::string, std::string>> kTables{
    {"clients", "1"}, {"pipelined", "2"}, {"hol", "3"}, {"fairness", "4"}, {"idle", "5"}, {"latency", "6"}, {"batches", "7"}};

MachineVerdict machine_verdict(Results& results, int reruns) {
    MachineVerdict v;
    v.reruns = reruns;
    for (const auto& [scenario, table] : kTables) {
        int spoiled = 0;
        for (const Measured* m : results.pick(scenario)) {
            if (m->spoiled.empty()) continue;
            ++spoiled;
            v.worst_others = std::max(v.worst_others, m->result.machine.others_cores);
        }
        if (spoiled > 0) v.tables.push_back(table);
        v.spoiled_rows += spoiled;
    }
    return v;
}

void print_verdict(Results& results, const MachineVerdict& v, const std::vector<Claim>& claims) {
    if (v.limited()) std::printf("\n");
    if (!v.tables.empty()) {
        std::printf("‡ %s.\n  Those rows measure the machine, not the servers, and say nothing in the knees and the\n"
                    "  conclusions below. Run compare again on a quieter machine.\n", v.line().c_str());
    }
    if (!v.drift.empty()) std::printf("‡ %s\n", v.drift.c_str());
    if (!v.sweep.empty()) std::printf("‡ %s\n", v.sweep.c_str());
    bool first = true;
    for (const auto& [scenario, table] : kTables) {
        for (const Measured* m : results.pick(scenario)) {
            if (m->flags.empty()) continue;
            if (std::exchange(first, false)) std::printf("! figures that cannot be true, left out of the knees and conclusions:\n");
            std::string why;
            for (const auto& f : m->flags) why += (why.empty() ? "" : "; ") + f;
            std::printf("  table %s, %s %s: %s\n", table.c_str(), m->server.label.c_str(), m->setting.setting.c_str(), why.c_str());
        }
    }
    std::printf("\n== What this run shows: a conclusion stands when every round that measured it bears it out\n");
    for (const Claim& c : claims) {
        std::printf("  %-10s %s (%s)\n", c.stands() ? "stands" : "undecided", c.text.c_str(), c.evidence().c_str());
    }
}

void print_footnotes(const Results& results, const Cells& cells, double took) {
    std::uint64_t errors = 0;
    bool saturated = false;
    Histogram late;
    for (const auto& m : results.all) {
        errors += m.result.errors.total();
        saturated = saturated || m.result.client_saturated;
        late.merge(m.result.machine.late);
    }
    if (cells.marked) {
        std::printf("\n°: at or below the p99 lateness of a sleeping thread in that run (fib-bench run's `machine` line):\n"
                    " on a machine that others share, or whose cores the run keeps busy, a wake-up alone costs that\n"
                    " much, so the figure cannot tell this server from another. Compare CPU/reply there.\n");
    }
    if (late.count() > 0) {
        std::printf("machine: over all the runs a sleeping thread woke late by p50 %s, p99 %s, max %s\n",
                    format_ns(static_cast<double>(late.percentile(50))).c_str(),
                    format_ns(static_cast<double>(late.percentile(99))).c_str(), format_ns(static_cast<double>(late.max())).c_str());
    }
    if (saturated) {
        std::printf("\n*client-bound: fib-bench used over 90%% of its threads' CPU in that row, so the row measures\n"
                    " the client as much as the server; compare CPU/reply there, or run with --threads 2.\n");
    }
    std::printf("\n%zu runs in %.0f s, %llu errors\n", results.all.size(), took, static_cast<unsigned long long>(errors));
}

// ---- Files ----------------------------------------------------------------------------------

std::vector<std::pair<std::string, std::string>> machine_facts(const MachineVerdict& v, const std::vector<Claim>& claims) {
    std::vector<std::pair<std::string, std::string>> facts;
    facts.emplace_back("cores", std::to_string(std::thread::hardware_concurrency()));
    utsname u{};
    if (::uname(&u) == 0) facts.emplace_back("kernel", std::string(u.sysname) + " " + u.release);
    std::ifstream cpuinfo("/proc/cpuinfo");
    for (std::string line; std::getline(cpuinfo, line);) {
        if (line.rfind("model name", 0) == 0) {
            facts.emplace_back("cpu", line.substr(line.find(':') + 2));
            break;
        }
    }
    facts.emplace_back("compiler", "g++ " __VERSION__);
    facts.emplace_back("build_type", FIBS_BUILD_TYPE);
    facts.emplace_back("machine_limited", v.limited() ? "yes" : "no");  // not a run to publish
    std::string why = v.tables.empty() ? "" : v.line();
    for (const std::string* s : {&v.drift, &v.sweep}) {
        if (!s->empty()) why += (why.empty() ? "" : "; ") + *s;
    }
    facts.emplace_back("machine_verdict", why);
    for (std::size_t i = 0; i < claims.size(); ++i) {
        facts.emplace_back("conclusion_" + std::to_string(i + 1),
                           std::string(claims[i].stands() ? "stands: " : "undecided: ") + claims[i].text + " (" + claims[i].evidence() + ")");
    }
    return facts;
}

void write_files(const CompareConfig& cfg, Results& results, const MachineVerdict& verdict, const std::vector<Claim>& claims) {
    fs::create_directories(cfg.out);
    std::vector<Row> rows;
    for (const auto& m : results.all) {
        Figures figures = figures_of(m.result);
        figures.insert(figures.end(), {{"point_p99_median_us", m.point_p99.median / 1e3},
                                       {"point_p99_min_us", m.point_p99.min / 1e3},
                                       {"point_p99_max_us", m.point_p99.max / 1e3}});
        std::string flags;
        for (const auto& f : m.flags) flags += (flags.empty() ? "" : "; ") + f;
        rows.push_back({{{"server", m.server.label}, {"scenario", m.setting.scenario}, {"setting", m.setting.setting},
                         {"round", std::to_string(m.setting.round + 1)}, {"spoiled", m.spoiled}, {"flags", flags}},
                        std::move(figures)});
    }
    write_csv(cfg.out + "/compare.csv", rows);
    write_json(cfg.out + "/compare.json", rows, machine_facts(verdict, claims));
    std::printf("wrote %s/compare.json and %s/compare.csv\n", cfg.out.c_str(), cfg.out.c_str());
}

}  // namespace

std::string machine_limit(const std::vector<SweepPoint>& floor, double capacity) {
    if (floor.empty()) return "";
    const SweepPoint& first = floor.front();
    char line[320];
    if (first.p99_ns > kKneeNs) {
        std::snprintf(line, sizeof line,
                      "the machine or the bench was the limit in this run: the floor's p99 was %s at its first point "
                      "(%s/s offered), over the 10 ms knee; its figures measure the machine, not the servers",
                      format_ns(first.p99_ns).c_str(), format_count(first.offered).c_str());
        return line;
    }
    for (const SweepPoint& p : floor) {
        if (p.offered < 0.99 * capacity && p.replies < 0.95 * p.offered) {
            std::snprintf(line, sizeof line,
                          "the machine or the bench was the limit in this run: the floor answered %s/s where %s/s "
                          "were offered, below its own capacity (%s/s); its figures measure the machine, not the "
                          "servers",
                          format_count(p.replies).c_str(), format_count(p.offered).c_str(), format_count(capacity).c_str());
            return line;
        }
        if (p.offered > 0 && p.replies > 1.05 * p.offered) {
            std::snprintf(line, sizeof line,
                          "the machine or the bench was the limit in this run: the floor answered %s/s where %s/s "
                          "were offered (the bench fell behind its schedule and caught up); its figures measure "
                          "the machine, not the servers",
                          format_count(p.replies).c_str(), format_count(p.offered).c_str());
            return line;
        }
    }
    return "";
}

int run_compare(const CompareConfig& cfg) {
    const Kinds k;
    const Durations d(cfg);
    Results results(cfg);
    std::vector<std::string> missing;
    for (const char* exe : {"fib-floor", "fib-blocking", "fib-loop", "fib-threads"}) {
        if (!results.exists(exe)) missing.push_back(exe);
    }
    if (missing.size() == 4) {
        std::fprintf(stderr, "error: no server to compare in %s (--bin names the directory of fib-floor, fib-blocking, "
                             "fib-loop and fib-threads)\n", cfg.bin_dir.c_str());
        return 1;
    }
    for (const auto& m : missing) std::printf("note: %s is not built yet; its rows are left out\n", m.c_str());

    Plan plan;
    plan_clients_and_pipelined(plan, k, d);
    plan_hol(plan, k, d);
    plan_fairness(plan, k, d);
    plan_timeline(plan, k, d);
    plan_idle(plan, k, d);
    plan_batches(plan, k, d);
    auto started = std::chrono::steady_clock::now();
    for (const auto& [server, setting] : plan) results.run(server, setting);
    sweep_latency(results, k, d);
    int reruns = rerun_spoiled_rows(results, d);
    std::string drift = floor_drift(results, k, d);
    judge_rows(results);
    std::fprintf(stderr, "%60s\r", "");
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

    MachineVerdict verdict = machine_verdict(results, reruns);
    verdict.drift = drift;
    verdict.sweep = machine_limit(floor_points(results.pick("latency")), results.floor_capacity);
    if (verdict.limited()) {
        std::printf("warning: %s; see the end of the report\n",
                    !verdict.tables.empty() ? verdict.line().c_str() : !verdict.drift.empty() ? verdict.drift.c_str() : verdict.sweep.c_str());
    }
    Cells cells(results);
    print_clients_and_pipelined(results, cells, d);
    print_hol_and_fairness(results, cells);
    print_idle(results, cells);
    print_latency(results, cells, k, d);
    print_batches(results, cells);
    print_footnotes(results, cells, took);
    std::vector<Claim> claims = conclusions(results.all);
    print_verdict(results, verdict, claims);
    write_files(cfg, results, verdict, claims);

    Plots plots{results.pick("clients"), results.pick("pipelined"), results.pick("hol"), results.pick("fairness"),
                results.pick("idle"), results.pick("timeline"), results.pick("latency")};
    write_plots(cfg, plots, results.labels_that_ran(client_servers(k)), [&] {
        std::vector<const ServerKind*> idle;
        for (const auto& s : k.idle) idle.push_back(&s);
        return results.labels_that_ran(idle);
    }());
    return 0;
}

}  // namespace fibs::bench
