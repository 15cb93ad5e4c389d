#include "compare.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
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

struct Setting {
    std::string scenario;  // "clients", "hol", "idle"
    std::string setting;   // "8", "0 idle"
    LoadConfig load;
};

struct Measured {
    ServerKind server;
    Setting setting;
    LoadResult result;
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

void print_table(const std::string& title, const std::vector<std::string>& heads,
                 const std::vector<const Measured*>& runs,
                 const std::function<std::vector<std::string>(const Measured&)>& cells) {
    std::printf("\n== %s\n", title.c_str());
    std::printf("%-20s %-12s", "server", "setting");
    for (const auto& h : heads) std::printf(" %13s", h.c_str());
    std::printf("\n");
    for (const Measured* m : runs) {
        std::printf("%-20s %-12s", m->server.label.c_str(), m->setting.setting.c_str());
        for (const auto& c : cells(*m)) {
            // Pad by display width: "µ" is two bytes but one column.
            int extra = c.find("µ") != std::string::npos ? 1 : 0;
            std::printf(" %*s", 13 + extra, c.c_str());
        }
        std::printf("\n");
    }
}

std::string served(const ClassStats& s) { return std::to_string(s.served) + "/" + std::to_string(s.clients); }

// One data block per server, for gnuplot's `index`.
void write_plot_data(const std::string& path, const std::vector<Measured>& all, const std::string& scenario,
                     const std::vector<std::string>& servers,
                     const std::function<std::pair<double, double>(const Measured&)>& xy) {
    std::ofstream out(path);
    for (const auto& label : servers) {
        out << "# " << label << "\n";
        for (const auto& m : all) {
            if (m.setting.scenario != scenario || m.server.label != label) continue;
            auto [x, y] = xy(m);
            out << x << " " << y << "\n";
        }
        out << "\n\n";
    }
}

bool have_gnuplot() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

void plot(const std::string& dir, const std::string& name, const std::string& script) {
    std::string gp = dir + "/" + name + ".gp";
    std::ofstream(gp) << "set terminal svg size 800,480 dynamic enhanced font 'sans,12'\n"
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

}  // namespace

int run_compare(const CompareConfig& cfg) {
    auto exists = [&](const std::string& exe) { return ::access((cfg.bin_dir + "/" + exe).c_str(), X_OK) == 0; };
    const double warmup = cfg.quick ? 0.1 : 0.5, duration = cfg.quick ? 0.3 : 2.0;
    auto base = [&](int clients) {
        LoadConfig l;
        l.clients = clients;
        l.warmup_s = warmup;
        l.duration_s = duration;
        l.fib_n = 1;
        return l;
    };

    const ServerKind blocking{"blocking", "fib-blocking", {"--quiet"}};
    const ServerKind loop{"loop", "fib-loop", {"--quiet"}};
    const ServerKind loop_workers{"loop --workers 2", "fib-loop", {"--quiet", "--workers", "2"}};
    const ServerKind threads{"threads", "fib-threads", {"--quiet"}};
    std::vector<ServerKind> idle_servers;
    for (const char* backend : {"select", "poll", "epoll"}) {  // past the default --max-clients 1024
        idle_servers.push_back(
            {std::string("loop ") + backend, "fib-loop", {"--quiet", "--backend", backend, "--max-clients", "10000"}});
    }
    idle_servers.push_back({"threads", "fib-threads", {"--quiet", "--max-clients", "10000"}});

    std::vector<std::pair<ServerKind, Setting>> plan;
    for (const auto* s : {&blocking, &loop, &threads}) {
        for (int c : {1, 8, 64}) plan.push_back({*s, {"clients", std::to_string(c), base(c)}});
    }
    for (const auto* s : {&blocking, &loop, &loop_workers, &threads}) {
        LoadConfig l = base(8);
        l.hog = 1;
        l.hog_n = 35;
        l.timeout_s = 30;
        plan.push_back({*s, {"hol", "8 + hog", l}});
    }
    std::vector<int> idle_counts = cfg.quick ? std::vector<int>{0, 500} : std::vector<int>{0, 1000, 5000};
    for (const auto& s : idle_servers) {
        for (int idle : idle_counts) {
            LoadConfig l = base(8);
            l.idle = idle;
            plan.push_back({s, {"idle", std::to_string(idle) + " idle", l}});
        }
    }

    std::vector<std::string> missing;
    for (const char* exe : {"fib-blocking", "fib-loop", "fib-threads"}) {
        if (!exists(exe)) missing.push_back(exe);
    }
    for (const auto& m : missing) std::printf("note: %s is not built yet; its rows are left out\n", m.c_str());

    std::vector<Measured> all;
    auto started = std::chrono::steady_clock::now();
    for (const auto& [server, setting] : plan) {
        if (!exists(server.exe)) continue;
        std::fprintf(stderr, "  %-20s %-8s %-10s\r", server.label.c_str(), setting.scenario.c_str(), setting.setting.c_str());
        all.push_back({server, setting, measure(cfg, server, setting.load)});
    }
    std::fprintf(stderr, "%60s\r", "");
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

    auto pick = [&](const std::string& scenario) {
        std::vector<const Measured*> v;
        for (const auto& m : all) {
            if (m.setting.scenario == scenario) v.push_back(&m);
        }
        return v;
    };
    print_table("1. Clients on fib(1): throughput, latency, how many are served at once",
                {"replies/s", "p50", "p99", "served", "CPU/reply"}, pick("clients"), [](const Measured& m) {
                    const auto& r = m.result;
                    char cpu[32];
                    std::snprintf(cpu, sizeof cpu, "%.2f µs", r.server_cpu_per_reply_us());
                    return std::vector<std::string>{format_count(r.replies_per_s()),
                                                    us(static_cast<double>(r.main.latency.percentile(50))),
                                                    us(static_cast<double>(r.main.latency.percentile(99))),
                                                    served(r.main), cpu};
                });
    print_table("2. Head-of-line: 8 clients on fib(1) beside 1 client looping on fib(35)",
                {"short p50", "short p99", "served", "short rps", "hog rps"}, pick("hol"), [](const Measured& m) {
                    const auto& r = m.result;
                    char hog[32];
                    std::snprintf(hog, sizeof hog, "%.1f", r.window_s > 0 ? static_cast<double>(r.hog.replies) / r.window_s : 0);
                    return std::vector<std::string>{us(static_cast<double>(r.main.latency.percentile(50))),
                                                    us(static_cast<double>(r.main.latency.percentile(99))),
                                                    served(r.main), format_count(r.replies_per_s()), hog};
                });
    print_table("3. Idle connections beside 8 active clients on fib(1)",
                {"replies/s", "CPU/reply", "RSS", "idle closed", "p99"}, pick("idle"), [](const Measured& m) {
                    const auto& r = m.result;
                    char cpu[32], rss[32];
                    std::snprintf(cpu, sizeof cpu, "%.2f µs", r.server_cpu_per_reply_us());
                    std::snprintf(rss, sizeof rss, "%.1f MiB", static_cast<double>(r.server_rss_kib) / 1024);
                    return std::vector<std::string>{format_count(r.replies_per_s()), cpu, rss,
                                                    std::to_string(r.errors.idle_closed),
                                                    us(static_cast<double>(r.main.latency.percentile(99)))};
                });
    if (exists("fib-blocking")) std::printf("(blocking is left out of 3: it serves one connection at a time)\n");

    std::uint64_t errors = 0;
    for (const auto& m : all) {
        errors += m.result.errors.total();
        if (m.result.client_saturated) {
            std::printf("warning: fib-bench was saturated in %s / %s: that row measures the client\n",
                        m.server.label.c_str(), m.setting.setting.c_str());
        }
    }
    std::printf("\n%zu runs in %.0f s, %llu errors\n", all.size(), took, static_cast<unsigned long long>(errors));

    fs::create_directories(cfg.out);
    std::vector<Row> rows;
    for (const auto& m : all) {
        rows.push_back({{{"server", m.server.label}, {"scenario", m.setting.scenario}, {"setting", m.setting.setting}},
                        figures_of(m.result)});
    }
    write_csv(cfg.out + "/compare.csv", rows);
    write_json(cfg.out + "/compare.json", rows, machine_facts());
    std::printf("wrote %s/compare.json and %s/compare.csv\n", cfg.out.c_str(), cfg.out.c_str());

    std::vector<std::string> client_servers, hol_servers, idle_labels;
    for (const auto* s : {&blocking, &loop, &threads}) {
        if (exists(s->exe)) client_servers.push_back(s->label);
    }
    for (const auto* m : pick("hol")) hol_servers.push_back(m->server.label);
    for (const auto& s : idle_servers) {
        if (exists(s.exe)) idle_labels.push_back(s.label);
    }
    if (cfg.plots && have_gnuplot()) {
        std::string dir = fs::absolute(cfg.out).string();
        write_plot_data(dir + "/clients.dat", all, "clients", client_servers,
                        [](const Measured& m) { return std::pair{double(m.result.config.clients), m.result.replies_per_s()}; });
        std::string script = "set title 'Replies/s vs clients, fib(1)'\nset logscale x 2\nset xlabel 'clients'\n"
                             "set ylabel 'replies/s'\nset yrange [0:*]\nplot ";
        for (std::size_t i = 0; i < client_servers.size(); ++i) {
            script += (i ? ", " : "") + std::string("'") + dir + "/clients.dat' index " + std::to_string(i) +
                      " with linespoints lw 2 title '" + client_servers[i] + "'";
        }
        plot(dir, "clients", script + "\n");

        std::ofstream hol(dir + "/hol.dat");
        for (const auto* m : pick("hol")) {
            hol << "\"" << m->server.label << " (" << served(m->result.main) << ")\" " << static_cast<double>(m->result.main.latency.percentile(99)) / 1e3
                << "\n";
        }
        hol.close();
        plot(dir, "hol",
             "set title 'Short-request p99 beside a client looping on fib(35)'\nset style fill solid 0.6\n"
             "set boxwidth 0.6\nset logscale y\nset ylabel 'p99 (µs, log scale)'\nset key off\n"
             "plot '" + dir + "/hol.dat' using 0:2:xtic(1) with boxes\n");

        write_plot_data(dir + "/idle.dat", all, "idle", idle_labels,
                        [](const Measured& m) { return std::pair{double(m.result.config.idle), m.result.server_cpu_per_reply_us()}; });
        script = "set title 'ServerKind CPU per reply vs idle connections'\nset xlabel 'idle connections'\n"
                 "set ylabel 'CPU per reply (µs)'\nset yrange [0:*]\nplot ";
        for (std::size_t i = 0; i < idle_labels.size(); ++i) {
            script += (i ? ", " : "") + std::string("'") + dir + "/idle.dat' index " + std::to_string(i) +
                      " with linespoints lw 2 title '" + idle_labels[i] + "'";
        }
        plot(dir, "idle", script + "\n");
        std::printf("wrote %s/clients.svg, hol.svg, idle.svg\n", cfg.out.c_str());
    } else {
        std::vector<std::pair<std::string, double>> bars;
        for (const auto* m : pick("clients")) bars.push_back({m->server.label + " " + m->setting.setting, m->result.replies_per_s()});
        ascii_bars("replies/s by clients", bars, [](double v) { return format_count(v); });
        bars.clear();
        for (const auto* m : pick("hol")) bars.push_back({m->server.label, double(m->result.main.latency.percentile(99))});
        ascii_bars("short-request p99 beside the hog", bars, [](double v) { return format_ns(v); });
        bars.clear();
        for (const auto* m : pick("idle")) bars.push_back({m->server.label + " " + m->setting.setting, m->result.server_cpu_per_reply_us()});
        ascii_bars("server CPU per reply (µs) by idle connections", bars, [](double v) {
            char b[32];
            std::snprintf(b, sizeof b, "%.2f µs", v);
            return std::string(b);
        });
    }
    return 0;
}

}  // namespace fibs::bench
