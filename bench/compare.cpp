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

#include "load.hpp"
#include "report.hpp"
#include "server_process.hpp"

#ifndef FIBS_BUILD_TYPE
#define FIBS_BUILD_TYPE "unknown"
#endif

namespace fibs::bench {

namespace {

namespace fs = std::filesystem;

constexpr unsigned kSweepN = 25;  // about 0.1 ms a request: the server, not the bench, saturates

struct Setting {
    std::string scenario;  // "clients", "hol", "idle"
    std::string setting;   // "8", "0 idle"
    LoadConfig load;
    int round = 0;         // the tables of CPU per reply measure each row in rounds (kRounds)
};

// Tables 1, 2 and 5 run every server once per round, in turn, and show each row's round with the
// least CPU per reply. A slow spell of a shared machine (seconds long, everything about 35%
// slower: server and bench alike) only ever adds CPU time, and it lands on a few rows of a round,
// not on the same row in every round.
constexpr int kRounds = 3;

struct Measured {
    ServerKind server;
    Setting setting;
    LoadResult result;
    Spread point_p99;  // latency points: the median p99 of the point's rounds and their spread (ns)
};

std::vector<std::pair<std::string, std::string>> machine_facts() {
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
    return facts;
}

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

std::string us(double ns) { return format_ns(ns); }

// Columns as wide as their widest cell (at least 13), measured in what a terminal shows: "µ", "×"
// and "°" are two bytes but one column.
int columns(const std::string& s) {
    return static_cast<int>(std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

void print_table(const std::string& title, const std::vector<std::string>& heads,
                 const std::vector<const Measured*>& runs,
                 const std::function<std::vector<std::string>(const Measured&)>& cells) {
    std::vector<std::vector<std::string>> rows;
    std::vector<int> width(heads.size(), 13);
    for (const Measured* m : runs) {
        rows.push_back(cells(*m));
        for (std::size_t i = 0; i < rows.back().size() && i < width.size(); ++i) width[i] = std::max(width[i], columns(rows.back()[i]));
    }
    auto cell = [&](std::size_t i, const std::string& c) {
        std::printf(" %*s", width[i] + static_cast<int>(c.size()) - columns(c), c.c_str());
    };
    std::printf("\n== %s\n", title.c_str());
    std::printf("%-20s %-12s", "server", "setting");
    for (std::size_t i = 0; i < heads.size(); ++i) cell(i, heads[i]);
    std::printf("\n");
    for (std::size_t r = 0; r < runs.size(); ++r) {
        std::printf("%-20s %-12s", runs[r]->server.label.c_str(), runs[r]->setting.setting.c_str());
        for (std::size_t i = 0; i < rows[r].size() && i < width.size(); ++i) cell(i, rows[r][i]);
        std::printf("%s\n", runs[r]->result.client_saturated ? "  *client-bound" : "");
    }
}

std::string served(const ClassStats& s) { return std::to_string(s.served) + "/" + std::to_string(s.clients); }

// One data block per server, for gnuplot's `index`: x, y, whether fib-bench was saturated (the
// point then measures the client), and a label ("" or, say, "held 1,019").
void write_plot_data(const std::string& path, const std::vector<const Measured*>& runs,
                     const std::vector<std::string>& servers,
                     const std::function<std::pair<double, double>(const Measured&)>& xy,
                     const std::function<std::string(const Measured&)>& label = nullptr) {
    std::ofstream out(path);
    for (const auto& server : servers) {
        out << "# " << server << "\n";
        for (const Measured* m : runs) {
            if (m->server.label != server) continue;
            auto [x, y] = xy(*m);
            out << x << " " << y << " " << (m->result.client_saturated ? 1 : 0) << " \""
                << (label ? label(*m) : std::string()) << "\"\n";
        }
        out << "\n\n";
    }
}

// gnuplot: per server a line through its measured points, filled points where the server was
// measured, hollow ones (and a legend entry) where fib-bench was saturated.
std::string lines_with_points(const std::string& data, const std::vector<std::string>& servers, const std::string& y) {
    std::string out;
    for (std::size_t i = 0; i < servers.size(); ++i) {
        std::string idx = "'" + data + "' index " + std::to_string(i);
        std::string lc = " lc " + std::to_string(i + 1);
        out += (i ? ", " : "") + idx + " using 1:" + y + " with lines lw 2" + lc + " notitle, " + idx +
               " using 1:($3 == 0 ? $" + y + " : 1/0) with points pt 7 ps 1.3" + lc + " title '" + servers[i] + "', " +
               idx + " using 1:($3 == 1 ? $" + y + " : 1/0) with points pt 6 ps 1.6" + lc + " notitle";
    }
    out += ", NaN with points pt 6 ps 1.6 lc rgb 'black' title 'hollow: fib-bench saturated'";
    return out;
}

bool have_gnuplot() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

void plot(const std::string& dir, const std::string& name, const std::string& script) {
    std::string gp = dir + "/" + name + ".gp";
    std::ofstream(gp) << "set terminal svg size 800,480 dynamic noenhanced font 'sans,12'\n"
                      << "set output '" << dir << "/" << name << ".svg'\n"
                      << "set grid\nset key outside right top\n"
                      << script;
    std::string cmd = "gnuplot '" + gp + "'";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "warning: gnuplot failed on %s\n", gp.c_str());
}

void ascii_bars(const std::string& title, const std::vector<std::pair<std::string, double>>& bars,
                const std::function<std::string(double)>& fmt) {
    double top = 0;
    for (const auto& b : bars) top = std::max(top, b.second);
    std::printf("\n%s\n", title.c_str());
    for (const auto& [label, v] : bars) {
        int width = top > 0 ? static_cast<int>(40 * v / top + 0.5) : 0;
        std::printf("  %-28s %s %s\n", label.c_str(), std::string(static_cast<std::size_t>(width), '#').c_str(),
                    fmt(v).c_str());
    }
}

// timeline.svg: one panel per run, one lane per client, a mark at each reply. The models over the
// same stretch of their windows (not the very start, where the bench's own sampling of the
// server's CPU takes a core for a moment); the head-of-line pair over a longer one, where each fib(35)
// of the hog (its lane at the top: a bar from send to reply, a black mark at the reply) freezes,
// or does not freeze, the rest.
void plot_timeline(const std::string& dir, const std::vector<const Measured*>& runs, bool quick) {
    const double models_ms = 1.0, hol_ms = quick ? 100.0 : 120.0, from_ms = quick ? 20.0 : 50.0;
    std::string script = "set terminal svg size 900," + std::to_string(170 * runs.size() + 60) +
                         " dynamic noenhanced font 'sans,11'\nset output '" + dir + "/timeline.svg'\n"
                         "set multiplot layout " + std::to_string(runs.size()) + ",1\nset key off\nset grid x\n"
                         "set xlabel 'ms since the window opened'\n";
    for (std::size_t i = 0; i < runs.size(); ++i) {
        const Measured& m = *runs[i];
        const LoadConfig& c = m.result.config;
        bool hol = c.hog > 0;
        double span = hol ? hol_ms : models_ms, end = from_ms + span;
        std::string data = dir + "/timeline" + std::to_string(i) + ".dat";
        std::ofstream out(data);
        int lanes = c.clients + c.hog;
        std::vector<int> replies(static_cast<std::size_t>(lanes), 0);
        for (const Slice& s : m.result.trace) {
            double at = static_cast<double>(s.answered) / 1e6, from = static_cast<double>(s.sent) / 1e6;
            if (at < from_ms || at > end) continue;
            ++replies[static_cast<std::size_t>(s.client)];
            out << std::max(from, from_ms) << " " << at << " " << s.client + 1 << " " << (s.client >= c.clients ? 1 : 0) << "\n";
        }
        int served = static_cast<int>(std::count_if(replies.begin(), replies.begin() + c.clients, [](int n) { return n > 0; }));
        std::string title = m.server.label + (hol ? ", 8 clients on fib(1) beside a fib(35) hog" : ", 8 clients on fib(1)") +
                            ": " + std::to_string(served) + " of 8 served in these " + format_count(span) + " ms";
        script += "set title '" + title + "'\nset xrange [" + std::to_string(from_ms) + ":" + std::to_string(end) +
                  "]\nset yrange [0.3:" +
                  std::to_string(lanes) + ".7]\nset ytics 1,1," + std::to_string(lanes) + "\nset ylabel '" +
                  (hol ? "client (9: hog)" : "client") + "'\nplot '" + data +
                  "' using 2:($4 == 0 ? $3 : 1/0) with points pt 5 ps 0.35 lc 1, '' using 1:($4 == 1 ? $3 : 1/0):($2-$1):(0) "
                  "with vectors nohead lw 4 lc 7, '' using 2:($4 == 1 ? $3 : 1/0) with points pt 5 ps 0.6 lc rgb 'black'\n";
    }
    plot(dir, "timeline", script + "unset multiplot\n");
}

// Runs measured in turns (server after server at each load), as rows grouped by server in `order`.
std::vector<const Measured*> by_server(std::vector<const Measured*> runs, const std::vector<const ServerKind*>& order) {
    auto rank = [&](const Measured* m) {
        return std::find_if(order.begin(), order.end(), [&](const ServerKind* s) { return s->label == m->server.label; }) - order.begin();
    };
    std::stable_sort(runs.begin(), runs.end(), [&](const Measured* a, const Measured* b) { return rank(a) < rank(b); });
    return runs;
}

// The knee of each curve: the highest offered load whose median p99 stayed under 10 ms.
constexpr double kKneeNs = 10e6;

void print_knees(const std::vector<const Measured*>& runs) {
    std::vector<std::pair<std::string, const Measured*>> knees;
    for (const Measured* m : runs) {
        auto at = std::find_if(knees.begin(), knees.end(), [&](auto& k) { return k.first == m->server.label; });
        if (at == knees.end()) at = knees.insert(knees.end(), {m->server.label, nullptr});
        if (m->point_p99.median < kKneeNs && (!at->second || m->result.config.rate > at->second->result.config.rate)) {
            at->second = m;
        }
    }
    std::printf("knee, the highest offered load with a p99 under 10 ms:");
    for (const auto& [label, m] : knees) {
        std::printf("  %s %s", label.c_str(), m ? (format_count(m->result.config.rate) + "/s (" + m->setting.setting + ")").c_str() : "none");
    }
    std::printf("\n");
}

// latency.svg: the CO-corrected p99 and p50 against the offered rate, one pair of lines per model.
void plot_latency(const std::string& dir, const std::vector<const Measured*>& runs) {
    std::vector<std::string> servers;
    for (const Measured* m : runs) {
        if (std::find(servers.begin(), servers.end(), m->server.label) == servers.end()) servers.push_back(m->server.label);
    }
    std::ofstream out(dir + "/latency.dat");
    for (const auto& s : servers) {
        out << "# " << s << "\n";
        for (const Measured* m : runs) {
            if (m->server.label != s) continue;
            const auto& r = m->result;
            const Spread& p99 = m->point_p99;
            out << r.config.rate << " " << p99.median / 1e3 << " " << p99.min / 1e3 << " " << p99.max / 1e3 << " "
                << static_cast<double>(r.main.latency.percentile(50)) / 1e3 << "\n";
        }
        out << "\n\n";
    }
    out.close();
    std::string plots;
    for (std::size_t i = 0; i < servers.size(); ++i) {
        std::string idx = "'" + dir + "/latency.dat' index " + std::to_string(i), lc = " lc " + std::to_string(i + 1);
        plots += (i ? ", " : "") + idx + " using 1:2:3:4 with yerrorlines pt 7 lw 2" + lc + " title '" + servers[i] + " p99', " +
                 idx + " using 1:5 with linespoints pt 6 lw 1 dt 2" + lc + " title '" + servers[i] + " p50'";
    }
    plot(dir, "latency",
         "set title \"Latency against offered load, fib(" + std::to_string(kSweepN) +
             "), open loop (corrected for coordinated omission)\\np99: the median of three rounds, the bar their spread; "
             "dotted: 10 ms, the knee\"\nset xlabel 'offered requests/s'\n"
             "set ylabel 'latency (µs, log scale)'\nset logscale y\nset format y '%.0f'\nset key inside top left\n"
             "set arrow from graph 0, first 10000 to graph 1, first 10000 nohead dt 3 lc rgb 'gray30'\nplot " +
             plots + "\n");
}

}  // namespace

int run_compare(const CompareConfig& cfg) {
    auto exists = [&](const std::string& exe) { return ::access((cfg.bin_dir + "/" + exe).c_str(), X_OK) == 0; };
    const double warmup = cfg.quick ? 0.1 : 0.5, duration = cfg.quick ? 0.2 : 1.5;
    auto base = [&](int clients) {
        LoadConfig l;
        l.clients = clients;
        l.warmup_s = warmup;
        l.duration_s = duration;
        l.fib_n = 1;
        return l;
    };

    // The ruler (bench/floor.cpp): the least a server can do here, measured in the same run.
    const ServerKind floor{"floor", "fib-floor", {"--quiet"}};
    const ServerKind blocking{"blocking", "fib-blocking", {"--quiet"}};
    const ServerKind loop{"loop", "fib-loop", {"--quiet"}};
    const ServerKind loop_await{"loop await", "fib-loop", {"--quiet", "--handler", "await"}};  // Step 4
    const ServerKind loop_workers{"loop --workers 2", "fib-loop", {"--quiet", "--workers", "2"}};
    const ServerKind loop_uring{"loop io_uring", "fib-loop", {"--quiet", "--backend", "io_uring"}};
    const ServerKind threads{"threads", "fib-threads", {"--quiet"}};
    // Step 5: two loops, clients spread by the kernel (a listening socket each) or handed out in turn.
    const ServerKind loops_reuseport{"2 loops reuseport", "fib-loop", {"--quiet", "--loops", "2", "--spread", "reuseport"}};
    const ServerKind loops_handoff{"2 loops handoff", "fib-loop", {"--quiet", "--loops", "2", "--spread", "handoff"}};
    // The servers of a table with Step 5's rows put in before the threads (the last): both spreads,
    // or with --quick (for the tests) handoff alone, enough to see Step 5 in every table.
    auto and_step5 = [&](std::vector<const ServerKind*> servers) {
        auto at = servers.insert(servers.end() - 1, &loops_handoff);
        if (!cfg.quick) servers.insert(at, &loops_reuseport);
        return servers;
    };
    std::vector<ServerKind> idle_servers{floor};
    for (const char* backend : {"select", "poll", "epoll", "io_uring"}) {  // each with its default limit
        idle_servers.push_back({std::string("loop ") + backend, "fib-loop", {"--quiet", "--backend", backend}});
    }
    idle_servers.push_back({"threads", "fib-threads", {"--quiet", "--max-clients", "10000"}});  // past 1024

    std::vector<std::pair<ServerKind, Setting>> plan;
    const auto client_servers_run = and_step5({&floor, &blocking, &loop, &loop_await, &loop_uring, &threads});
    const int rounds = cfg.quick ? 1 : kRounds;
    auto in_rounds = [&](LoadConfig l, double seconds) {  // one round's run (--quick: one round, as base)
        l.duration_s = cfg.quick ? l.duration_s : seconds;
        l.warmup_s = cfg.quick ? l.warmup_s : 0.2;
        return l;
    };
    for (int round = 0; round < rounds; ++round) {
        for (const auto* s : client_servers_run) {
            for (int c : {1, 8, 64}) plan.push_back({*s, {"clients", std::to_string(c), in_rounds(base(c), 0.5), round}});
        }
        for (const auto* s : and_step5({&floor, &blocking, &loop, &loop_await, &threads})) {
            LoadConfig l = in_rounds(base(50), 0.5);
            l.pipeline = 16;
            plan.push_back({*s, {"pipelined", "50 x 16", l, round}});
        }
    }
    for (const auto* s : and_step5({&blocking, &loop, &loop_workers, &threads})) {
        LoadConfig l = base(8);
        l.hog = 1;
        l.hog_n = 35;
        l.timeout_s = 30;
        plan.push_back({*s, {"hol", "8 + hog", l}});
    }
    for (const auto* s : {&blocking, &loop, &loop_workers, &threads}) {
        LoadConfig l = base(8);
        l.flood = 1;
        l.flood_n = 20;
        plan.push_back({*s, {"fairness", "8 + flood", l}});
    }
    // Who is served when (timeline.svg): the same 8 clients on each model, every reply traced; then
    // the loop beside a fib(35) hog, without and with workers.
    for (const auto* s : {&blocking, &loop, &threads}) {
        LoadConfig l = base(8);
        l.duration_s = cfg.quick ? 0.1 : 0.3;
        l.trace = 100'000;
        plan.push_back({*s, {"timeline", "8", l}});
    }
    for (const auto* s : {&loop, &loop_workers, &loops_handoff}) {
        LoadConfig l = base(8);
        l.duration_s = cfg.quick ? 0.15 : 0.3;
        l.hog = 1;
        l.hog_n = 35;
        l.trace = 100'000;
        plan.push_back({*s, {"timeline", "8 + hog", l}});
    }
    std::vector<int> idle_counts = cfg.quick ? std::vector<int>{0, 500} : std::vector<int>{0, 5000};
    for (int round = 0; round < rounds; ++round) {
        for (const auto& s : idle_servers) {
            for (int idle : idle_counts) {
                LoadConfig l = in_rounds(base(8), 0.3);  // shorter: its lesson is 5x and 25x, not 5%
                l.idle = idle;
                plan.push_back({s, {"idle", std::to_string(idle) + " idle", l, round}});
            }
        }
    }

    std::vector<std::string> missing;
    for (const char* exe : {"fib-floor", "fib-blocking", "fib-loop", "fib-threads"}) {
        if (!exists(exe)) missing.push_back(exe);
    }
    if (missing.size() == 4) {
        std::fprintf(stderr, "error: no server to compare in %s (--bin names the directory of fib-floor, fib-blocking, "
                             "fib-loop and fib-threads)\n", cfg.bin_dir.c_str());
        return 1;
    }
    for (const auto& m : missing) std::printf("note: %s is not built yet; its rows are left out\n", m.c_str());

    std::vector<Measured> all;
    std::vector<std::string> cannot_start;  // e.g. io_uring where it is disabled: those rows are left out
    auto started = std::chrono::steady_clock::now();
    for (const auto& [server, setting] : plan) {
        if (!exists(server.exe)) continue;
        if (std::find(cannot_start.begin(), cannot_start.end(), server.label) != cannot_start.end()) continue;
        std::fprintf(stderr, "  %-20s %-9s %-10s\r", server.label.c_str(), setting.scenario.c_str(), setting.setting.c_str());
        try {
            all.push_back({server, setting, measure(cfg, server, setting.load), {}});
        } catch (const std::runtime_error& e) {
            std::string said = e.what();
            std::string last = said.substr(said.rfind('\n', said.size() - 2) + 1);
            std::printf("note: %s cannot run here; its rows are left out: %s", server.label.c_str(), last.c_str());
            cannot_start.push_back(server.label);
        }
    }
    // Latency against offered load (latency.svg), with one ruler for every curve: the floor's
    // capacity on fib(25), measured first (a closed loop with 4 requests in flight per client, so
    // it is never short of work), and each server offered the same multiples of it on the open
    // loop, from 0.5x up, until it falls behind (answers under 95% of what is offered) at two
    // loads in a row: from there the queue grows for as long as the run lasts. (Not at the first
    // p99 past 10 ms: a slow spell of the machine does that to a point far below the knee.) The
    // servers take turns at each load, and the whole sweep is measured in three rounds: a point's
    // p99 is the median of its three, a sweep apart, so a slow spell (seconds long) moves one of
    // them, not the point; the bar is their spread (docs/bench.md).
    const std::vector<double> multiples = cfg.quick ? std::vector<double>{0.25, 0.75, 1.1}
                                                    : std::vector<double>{0.5, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.4, 1.6, 1.8, 2.0};
    double floor_capacity = 0;
    LoadConfig sweep = base(8);
    sweep.fib_n = kSweepN;
    if (exists(floor.exe)) {
        LoadConfig closed = sweep;
        closed.pipeline = 4;  // which mixes n and n - 1, as the open loop does
        std::fprintf(stderr, "  %-20s %-9s %-10s\r", floor.label.c_str(), "latency", "capacity");
        floor_capacity = measure(cfg, floor, closed).replies_per_s();
    }
    const std::vector<const ServerKind*> swept{&floor, &loop, &loops_handoff, &threads};
    std::map<std::string, int> behind;  // loads in a row at which the server fell behind
    std::vector<std::pair<const ServerKind*, Setting>> points;  // what the first round measured
    auto measure_point = [&](const ServerKind& s, const Setting& point) {
        std::fprintf(stderr, "  %-20s %-9s %-10s\r", s.label.c_str(), "latency", point.setting.c_str());
        all.push_back({s, point, measure(cfg, s, point.load), {}});
    };
    for (double k : multiples) {
        for (const auto* s : swept) {
            if (!exists(s->exe) || floor_capacity <= 0 || behind[s->label] == 2) continue;
            LoadConfig open = sweep;
            open.warmup_s = cfg.quick ? 0.1 : 0.15;
            open.duration_s = cfg.quick ? 0.21 : 0.5;
            open.windows = rounds > 1 ? 1 : 3;  // --quick: one run, its window cut in three instead
            open.rate = k * floor_capacity;
            char setting[16];
            std::snprintf(setting, sizeof setting, "%.2f×", k);
            points.push_back({s, {"latency", setting, open}});
            measure_point(*s, points.back().second);
            int& n = behind[s->label];
            n = all.back().result.replies_per_s() < 0.95 * open.rate ? n + 1 : 0;
        }
    }
    for (int round = 1; round < rounds; ++round) {  // the same points again, a whole sweep later
        for (auto [s, point] : points) {
            point.round = round;
            measure_point(*s, point);
        }
    }
    std::fprintf(stderr, "%60s\r", "");
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

    auto rounds_of = [&](const Measured& m) {  // the runs of m's row, one per round
        std::vector<const Measured*> v;
        for (const auto& o : all) {
            if (o.setting.scenario == m.setting.scenario && o.setting.setting == m.setting.setting && o.server.label == m.server.label) {
                v.push_back(&o);
            }
        }
        return v;
    };
    // A latency point's p99: the median of its rounds' and their spread (of its window's thirds,
    // with one round).
    for (auto& m : all) {
        if (m.setting.scenario != "latency") continue;
        std::vector<Histogram> each;
        for (const Measured* r : rounds_of(m)) each.push_back(r->result.main.latency);
        m.point_p99 = each.size() > 1 ? spread_of(each, 99) : m.result.p99_by_window();
    }
    // A scenario's rows, one per server and setting: the round with the least CPU per reply (for a
    // latency point, the round whose p99 is the point's median). Chosen once per scenario.
    std::map<std::string, std::vector<const Measured*>> picked;
    auto pick = [&](const std::string& scenario) -> const std::vector<const Measured*>& {
        auto [at, fresh] = picked.try_emplace(scenario);
        std::vector<const Measured*>& v = at->second;
        if (!fresh) return v;
        for (const auto& m : all) {
            if (m.setting.scenario != scenario || m.setting.round != 0) continue;
            auto same = rounds_of(m);
            auto by = [&](const Measured* a) {
                return scenario == "latency" ? std::fabs(static_cast<double>(a->result.main.latency.percentile(99)) - m.point_p99.median)
                                             : a->result.server_cpu_per_reply_us();
            };
            v.push_back(*std::min_element(same.begin(), same.end(), [&](const Measured* a, const Measured* b) { return by(a) < by(b); }));
        }
        return v;
    };
    // A latency, marked ° when it is within what the machine alone delays a sleeping thread in that
    // run (its p99 lateness): such a figure says nothing about the server.
    bool marked = false;
    auto lat = [&](const Measured& m, double ns) {
        const Histogram& late = m.result.machine.late;
        bool within = late.count() > 0 && ns <= static_cast<double>(late.percentile(99));
        marked = marked || within;
        return us(ns) + (within ? "°" : "");
    };
    auto p = [&](const Measured& m, const Histogram& h, double q) { return lat(m, static_cast<double>(h.percentile(q))); };
    // A row's CPU per reply over the floor's row in the same table (each the least of its rounds).
    auto times_floor = [&](const Measured& m) {
        for (const Measured* f : pick(m.setting.scenario)) {
            if (f->server.label == floor.label && f->setting.setting == m.setting.setting && f->result.server_cpu_per_reply_us() > 0) {
                char b[32];
                std::snprintf(b, sizeof b, "%.2f×", m.result.server_cpu_per_reply_us() / f->result.server_cpu_per_reply_us());
                return std::string(b);
            }
        }
        return std::string("-");
    };
    auto cpu_us = [](double v) {
        char b[32];
        std::snprintf(b, sizeof b, "%.2f µs", v);
        return std::string(b);
    };
    print_table("1. Clients on fib(1): throughput, latency, how many are served at once",
                {"replies/s", "p50", "p99", "served", "CPU/reply", "× floor"}, pick("clients"), [&](const Measured& m) {
                    const auto& r = m.result;
                    return std::vector<std::string>{format_count(r.replies_per_s()), p(m, r.main.latency, 50),
                                                    p(m, r.main.latency, 99), served(r.main), cpu_us(r.server_cpu_per_reply_us()),
                                                    times_floor(m)};
                });
    if (rounds > 1) {
        std::printf("(tables 1, 2 and 5: every server in turn, %d rounds of 0.5 s (5: 0.3 s); each row is its round with\n"
                    " the least CPU/reply, × floor is that over the floor's row: docs/bench.md says why)\n", rounds);
    }
    print_table("2. Pipelined: 50 clients, each with 16 requests in flight, fib(1)",
                {"replies/s", "p50", "p99", "served", "CPU/reply", "× floor", "bench/reply"}, pick("pipelined"),
                [&](const Measured& m) {
                    const auto& r = m.result;
                    return std::vector<std::string>{format_count(r.replies_per_s()), p(m, r.main.latency, 50),
                                                    p(m, r.main.latency, 99), served(r.main), cpu_us(r.server_cpu_per_reply_us()),
                                                    times_floor(m), cpu_us(r.client_cpu_per_reply_us())};
                });
    if (exists("fib-blocking")) std::printf("(blocking serves one of the 50: the others wait in its listen backlog)\n");
    auto short_beside = [&](const Measured& m) {
        const auto& r = m.result;
        char other[32];
        double other_rate = r.window_s > 0 ? static_cast<double>(r.hog.replies) / r.window_s : 0;
        std::snprintf(other, sizeof other, "%.1f", other_rate);
        return std::vector<std::string>{p(m, r.main.latency, 50), p(m, r.main.latency, 99), served(r.main),
                                        format_count(r.replies_per_s()), other};
    };
    print_table("3. Head-of-line: 8 clients on fib(1) beside 1 client looping on fib(35)",
                {"short p50", "short p99", "served", "short rps", "hog rps"}, pick("hol"), short_beside);
    print_table("4. Fairness: 8 clients on fib(1) beside 1 client pipelining fib(20) without reading",
                {"short p50", "short p99", "served", "short rps"}, pick("fairness"), [&](const Measured& m) {
                    auto cells = short_beside(m);
                    cells.pop_back();
                    return cells;
                });
    print_table("5. Idle connections beside 8 active clients on fib(1)",
                {"replies/s", "CPU/reply", "× floor", "RSS", "held", "refused", "p99"}, pick("idle"), [&](const Measured& m) {
                    const auto& r = m.result;
                    char rss[32];
                    std::snprintf(rss, sizeof rss, "%.1f MiB", static_cast<double>(r.server_rss_kib) / 1024);
                    int held = r.config.idle - r.connections.refused_by_server - static_cast<int>(r.errors.idle_closed);
                    return std::vector<std::string>{format_count(r.replies_per_s()), cpu_us(r.server_cpu_per_reply_us()),
                                                    times_floor(m), rss,
                                                    std::to_string(std::max(0, held)),
                                                    std::to_string(r.connections.refused_by_server),
                                                    p(m, r.main.latency, 99)};
                });
    if (exists("fib-blocking")) std::printf("(blocking is left out of 5: it serves one connection at a time)\n");
    print_table("6. Latency against offered load: 8 clients on fib(" + std::to_string(kSweepN) +
                    "), open loop, offered as a multiple of the floor's capacity (" + format_count(floor_capacity) + "/s)",
                {"offered/s", "replies/s", "p50", "p99", "p99 spread", "late sends"}, by_server(pick("latency"), swept),
                [&](const Measured& m) {
                    const auto& r = m.result;
                    const Spread& p99 = m.point_p99;
                    return std::vector<std::string>{format_count(r.config.rate), format_count(r.replies_per_s()),
                                                    p(m, r.main.latency, 50), lat(m, p99.median), us(p99.min) + "-" + us(p99.max),
                                                    format_count(double(r.late))};
                });
    std::printf("(p99: the median of the point's %s, and their spread; late sends: requests fib-bench sent\n"
                " over 1 ms after their time, which the latency still counts from the time they were due)\n",
                rounds > 1 ? "three rounds, a whole sweep apart" : "window's three thirds");
    print_knees(pick("latency"));

    std::uint64_t errors = 0;
    bool saturated = false;
    for (const auto& m : all) {
        errors += m.result.errors.total();
        saturated = saturated || m.result.client_saturated;
    }
    if (marked) {
        std::printf("\n°: at or below the p99 lateness of a sleeping thread in that run (fib-bench run's `machine` line):\n"
                    " on a machine that others share, or whose cores the run keeps busy, a wake-up alone costs that\n"
                    " much, so the figure cannot tell this server from another. Compare CPU/reply there.\n");
    }
    Histogram late;
    for (const auto& m : all) late.merge(m.result.machine.late);
    if (late.count() > 0) {
        std::printf("machine: over all the runs a sleeping thread woke late by p50 %s, p99 %s, max %s\n",
                    us(static_cast<double>(late.percentile(50))).c_str(), us(static_cast<double>(late.percentile(99))).c_str(),
                    us(static_cast<double>(late.max())).c_str());
    }
    if (saturated) {
        std::printf("\n*client-bound: fib-bench used over 90%% of its threads' CPU in that row, so the row measures\n"
                    " the client as much as the server; compare CPU/reply there, or run with --threads 2.\n");
    }
    std::printf("\n%zu runs in %.0f s, %llu errors\n", all.size(), took, static_cast<unsigned long long>(errors));

    fs::create_directories(cfg.out);
    std::vector<Row> rows;
    for (const auto& m : all) {
        Figures figures = figures_of(m.result);
        figures.insert(figures.end(), {{"point_p99_median_us", m.point_p99.median / 1e3},
                                       {"point_p99_min_us", m.point_p99.min / 1e3},
                                       {"point_p99_max_us", m.point_p99.max / 1e3}});
        rows.push_back({{{"server", m.server.label}, {"scenario", m.setting.scenario}, {"setting", m.setting.setting},
                         {"round", std::to_string(m.setting.round + 1)}},
                        std::move(figures)});
    }
    write_csv(cfg.out + "/compare.csv", rows);
    write_json(cfg.out + "/compare.json", rows, machine_facts());
    std::printf("wrote %s/compare.json and %s/compare.csv\n", cfg.out.c_str(), cfg.out.c_str());

    std::vector<std::string> client_servers, idle_labels;
    auto ran = [&](const ServerKind& s) {
        return exists(s.exe) && std::find(cannot_start.begin(), cannot_start.end(), s.label) == cannot_start.end();
    };
    for (const auto* s : client_servers_run) {
        if (ran(*s)) client_servers.push_back(s->label);
    }
    for (const auto& s : idle_servers) {
        if (ran(s)) idle_labels.push_back(s.label);
    }
    if (cfg.plots && have_gnuplot()) {
        std::string dir = fs::absolute(cfg.out).string();
        write_plot_data(dir + "/clients.dat", pick("clients"), client_servers, [](const Measured& m) {
            return std::pair{double(m.result.config.clients), m.result.replies_per_s()};
        });
        write_plot_data(dir + "/clients_cpu.dat", pick("clients"), client_servers, [](const Measured& m) {
            return std::pair{double(m.result.config.clients), m.result.server_cpu_per_reply_us()};
        });
        plot(dir, "clients",
             "set terminal svg size 800,760 dynamic noenhanced font 'sans,12'\nset output '" + dir + "/clients.svg'\n"
             "set multiplot layout 2,1\nset logscale x 2\nset xtics (1, 8, 64)\nset xrange [0.8:80]\nset yrange [0:*]\n"
             "set title 'Replies/s vs clients, fib(1)'\nset ylabel 'replies/s'\nplot " +
                 lines_with_points(dir + "/clients.dat", client_servers, "2") +
                 "\nset title 'Server CPU per reply (the fair figure when fib-bench is the limit)'\nset xlabel 'clients'\n"
                 "set ylabel 'µs of server CPU per reply (log scale)'\nset logscale y\nset yrange [*:*]\n"
                 "set ytics (2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 200)\nplot " +
                 lines_with_points(dir + "/clients_cpu.dat", client_servers, "2") + "\nunset multiplot\n");

        std::ofstream bars(dir + "/pipelined.dat");
        for (const auto* m : pick("pipelined")) {
            bars << "\"" << m->server.label << " (" << served(m->result.main) << ")\" " << m->result.replies_per_s() << " "
                 << (m->result.client_saturated ? 1 : 0) << "\n";
        }
        bars.close();
        plot(dir, "pipelined",
             "set title 'Pipelined: 50 clients x 16 in flight, fib(1)'\nset style fill solid 0.6\nset boxwidth 0.6\n"
             "set ylabel 'replies/s'\nset yrange [0:*]\nset key top left\n"
             "plot '" + dir + "/pipelined.dat' using 0:($3 == 0 ? $2 : 1/0):xtic(1) with boxes lc 1 title 'served (clients)', '' "
             "using 0:($3 == 1 ? $2 : 1/0):xtic(1) with boxes fs empty lc 1 title 'hollow: fib-bench saturated'\n");

        // A client never served has no latency, so a p99 bar alone would flatter the server that
        // served one of 8: those rows get a hatched bar to the top, "7 of 8 never served".
        std::ofstream hol(dir + "/hol.dat");
        double top = 10;  // the y axis: 30 times the highest p99
        hol << "# server, short-request p99 (µs), clients never served, of how many, label\n";
        for (const char* scenario : {"hol", "fairness"}) {
            for (const auto* m : pick(scenario)) {
                const ClassStats& s = m->result.main;
                int never = s.clients - s.served;
                top = std::max(top, 30 * static_cast<double>(s.latency.percentile(99)) / 1e3);
                hol << "\"" << m->server.label << (std::string(scenario) == "hol" ? " / hog" : " / flood") << "\" "
                    << std::max(1.0, static_cast<double>(s.latency.percentile(99)) / 1e3) << " " << never << " " << s.clients << " \""
                    << (never > 0 ? std::to_string(never) + " of " + std::to_string(s.clients) + " never served"
                                  : "served " + served(s))
                    << "\"\n";
            }
        }
        hol.close();
        char range[64];
        std::snprintf(range, sizeof range, "set yrange [1:%.0f]\n", top);
        plot(dir, "hol",
             "set title 'Short-request p99 beside a hog looping on fib(35), or a flood pipelining fib(20)'\n"
             "set boxwidth 0.6\nset logscale y\nset style textbox opaque noborder\n" + std::string(range) +
                 "set ylabel 'p99 (µs, log scale)'\nset key top left\nset xtics rotate by -30\nset bmargin 6\n"
                 "plot '" + dir + "/hol.dat' using 0:($3 > 0 ? " + std::to_string(top) + " : 1/0):xtic(1) with boxes fs pattern 4 "
                 "lc rgb 'gray40' title 'clients never served', '' using 0:2 with boxes fs solid 0.6 lc 1 title 'p99 of those served', "
                 "'' using 0:($3 > 0 ? " + std::to_string(std::sqrt(top)) + " : 1/0):5 with labels rotate by 90 boxed font ',10' "
                 "notitle, '' using 0:($3 > 0 ? 1/0 : $2):5 with labels offset 0,0.8 font ',9' notitle\n");

        write_plot_data(
            dir + "/idle.dat", pick("idle"), idle_labels,
            [](const Measured& m) { return std::pair{double(m.result.config.idle), m.result.server_cpu_per_reply_us()}; },
            [](const Measured& m) {
                int refused = m.result.connections.refused_by_server;
                return refused > 0 ? "held " + format_count(m.result.config.idle - refused) + ", refused " + format_count(refused)
                                   : std::string();
            });
        std::string script = "set title 'Server CPU per reply vs idle connections'\nset xlabel 'idle connections'\n"
                             "set ylabel 'CPU per reply (µs, log scale)'\nset logscale y\nset yrange [1:*]\n"
                             "set xtics (0, 5000)\nset offsets 300, 300, 0, 0\nplot " +
                             lines_with_points(dir + "/idle.dat", idle_labels, "2") + ", '" + dir +
                             "/idle.dat' using 1:2:4 with labels offset 0,1.2 font ',9' notitle\n";
        plot(dir, "idle", script);
        plot_timeline(dir, pick("timeline"), cfg.quick);
        plot_latency(dir, pick("latency"));
        std::printf("wrote %s/clients.svg, pipelined.svg, hol.svg, idle.svg, timeline.svg, latency.svg\n", cfg.out.c_str());
    } else {
        std::vector<std::pair<std::string, double>> bars;
        for (const auto* m : pick("clients")) bars.push_back({m->server.label + " " + m->setting.setting, m->result.replies_per_s()});
        ascii_bars("replies/s by clients", bars, [](double v) { return format_count(v); });
        bars.clear();
        for (const auto* m : pick("pipelined")) bars.push_back({m->server.label, m->result.replies_per_s()});
        ascii_bars("replies/s, 50 clients x 16 in flight", bars, [](double v) { return format_count(v); });
        bars.clear();
        for (const char* scenario : {"hol", "fairness"}) {
            for (const auto* m : pick(scenario)) {
                bars.push_back({m->server.label + " / " + scenario, double(m->result.main.latency.percentile(99))});
            }
        }
        ascii_bars("short-request p99 beside the hog and the flood", bars, [](double v) { return format_ns(v); });
        bars.clear();
        for (const auto* m : pick("idle")) bars.push_back({m->server.label + " " + m->setting.setting, m->result.server_cpu_per_reply_us()});
        ascii_bars("server CPU per reply (µs) by idle connections", bars, [&](double v) { return cpu_us(v); });
    }
    return 0;
}

}  // namespace fibs::bench
