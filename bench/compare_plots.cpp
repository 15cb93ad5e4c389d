#include "compare_plots.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>

#include "report.hpp"

namespace fibs::bench {

namespace {

namespace fs = std::filesystem;

std::string served(const ClassStats& s) { return std::to_string(s.served) + "/" + std::to_string(s.clients); }

// One data block per server, for gnuplot's `index`: x, y, whether fib-bench was saturated (the
// point then measures the client), a label ("" or, say, "held 1,019"), and whether the point
// says nothing (the machine spoiled it, or it cannot be true: verdict.hpp).
void write_plot_data(const std::string& path, const Runs& runs,
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
                << (label ? label(*m) : std::string()) << "\" " << (m->says_nothing() ? 1 : 0) << "\n";
        }
        out << "\n\n";
    }
}

// gnuplot: per server a line through its measured points, filled points where the server was
// measured, hollow ones (and a legend entry) where fib-bench was saturated, crossed ones where the
// point says nothing.
std::string lines_with_points(const std::string& data, const std::vector<std::string>& servers, const std::string& y) {
    std::string out;
    for (std::size_t i = 0; i < servers.size(); ++i) {
        std::string idx = "'" + data + "' index " + std::to_string(i);
        std::string lc = " lc " + std::to_string(i + 1);
        out += (i ? ", " : "") + idx + " using 1:" + y + " with lines lw 2" + lc + " notitle, " + idx +
               " using 1:($3 == 0 ? $" + y + " : 1/0) with points pt 7 ps 1.3" + lc + " title '" + servers[i] + "', " +
               idx + " using 1:($3 == 1 ? $" + y + " : 1/0) with points pt 6 ps 1.6" + lc + " notitle, " + idx +
               " using 1:($5 == 1 ? $" + y + " : 1/0) with points pt 2 ps 2.5 lw 2 lc rgb 'black' notitle";
    }
    out += ", NaN with points pt 6 ps 1.6 lc rgb 'black' title 'hollow: fib-bench saturated'";
    out += ", NaN with points pt 2 ps 2 lw 2 lc rgb 'black' title 'crossed: says nothing (‡ or !)'";
    return out;
}

bool have_gnuplot() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

void plot(const std::string& dir, const std::string& name, const std::string& script, const std::string& size = "800,480") {
    std::string gp = dir + "/" + name + ".gp";
    std::ofstream(gp) << "set terminal svg size " << size << " dynamic noenhanced font 'sans,12'\n"
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
void plot_timeline(const std::string& dir, const Runs& runs, bool quick) {
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

// latency.svg: the CO-corrected p99 against the offered rate, one line per model with its rounds'
// spread as a bar, and below it the p50; the legend beside the panels, not over the data. A point
// that says nothing (the machine spoiled it in every round, or it cannot be true) is crossed out.
void plot_latency(const std::string& dir, const Runs& runs) {
    std::vector<std::string> servers;
    for (const Measured* m : runs) {
        if (std::find(servers.begin(), servers.end(), m->server.label) == servers.end()) servers.push_back(m->server.label);
    }
    std::ofstream out(dir + "/latency.dat");
    for (const auto& s : servers) {
        out << "# " << s << ": offered/s, p99 median, min, max (µs), p50 (µs), says nothing (1)\n";
        for (const Measured* m : runs) {
            if (m->server.label != s) continue;
            const auto& r = m->result;
            const Spread& p99 = m->point_p99;
            out << r.config.rate << " " << p99.median / 1e3 << " " << p99.min / 1e3 << " " << p99.max / 1e3 << " "
                << static_cast<double>(r.main.latency.percentile(50)) / 1e3 << " " << (m->says_nothing() ? 1 : 0) << "\n";
        }
        out << "\n\n";
    }
    out.close();
    auto panel = [&](const std::string& y, bool bars) {
        std::string plots;
        for (std::size_t i = 0; i < servers.size(); ++i) {
            std::string idx = "'" + dir + "/latency.dat' index " + std::to_string(i), lc = " lc " + std::to_string(i + 1);
            plots += (i ? ", " : "") + idx + " using 1:" + y + (bars ? ":3:4 with yerrorlines" : " with linespoints") +
                     " pt 7 lw 2" + lc + " title '" + servers[i] + "', " + idx + " using 1:($6 == 1 ? $" + y +
                     " : 1/0) with points pt 2 ps 2.5 lw 2 lc rgb 'black' notitle";
        }
        return plots + ", NaN with points pt 2 ps 2 lw 2 lc rgb 'black' title 'says nothing (‡ or !)'";
    };
    std::string script =
        "set multiplot\nset grid\nset logscale y\nset format y '%.0f'\nset lmargin at screen 0.1\nset rmargin at screen 0.72\n"
        "set key outside right top\nset origin 0,0.4\nset size 1,0.6\nset tmargin at screen 0.9\nset bmargin at screen 0.48\n"
        "set title \"Latency against offered load, fib(" + std::to_string(kSweepN) +
        "), open loop (corrected for coordinated omission)\\np99: the median of the rounds, the bar their spread; dotted: 10 ms, "
        "the knee\"\nset ylabel 'p99 (µs, log scale)'\nset format x ''\n"
        "set arrow 1 from graph 0, first 10000 to graph 1, first 10000 nohead dt 3 lc rgb 'gray30'\nplot " + panel("2", true) +
        "\nunset title\nunset arrow 1\nset key off\nset tmargin at screen 0.44\nset bmargin at screen 0.08\nset format x '%.0f'\n"
        "set xlabel 'offered requests/s'\nset ylabel 'p50 (µs, log scale)'\nplot " + panel("5", false) + "\nunset multiplot\n";
    plot(dir, "latency", script, "900,760");
}

// clients.svg: replies/s and server CPU per reply against the number of clients, per server.
void plot_clients(const std::string& dir, const Runs& runs, const std::vector<std::string>& servers) {
    write_plot_data(dir + "/clients.dat", runs, servers, [](const Measured& m) {
        return std::pair{double(m.result.config.clients), m.result.replies_per_s()};
    });
    write_plot_data(dir + "/clients_cpu.dat", runs, servers, [](const Measured& m) {
        return std::pair{double(m.result.config.clients), m.result.server_cpu_per_reply_us()};
    });
    plot(dir, "clients",
         "set terminal svg size 800,760 dynamic noenhanced font 'sans,12'\nset output '" + dir + "/clients.svg'\n"
         "set multiplot layout 2,1\nset logscale x 2\nset xtics (1, 8, 64)\nset xrange [0.8:80]\nset yrange [0:*]\n"
         "set title 'Replies/s vs clients, fib(1)'\nset ylabel 'replies/s'\nplot " +
             lines_with_points(dir + "/clients.dat", servers, "2") +
             "\nset title 'Server CPU per reply (the fair figure when fib-bench is the limit)'\nset xlabel 'clients'\n"
             "set ylabel 'µs of server CPU per reply (log scale)'\nset logscale y\nset yrange [*:*]\n"
             "set ytics (2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 200)\nplot " +
             lines_with_points(dir + "/clients_cpu.dat", servers, "2") + "\nunset multiplot\n");
}

// pipelined.svg: one bar per server, hollow where fib-bench was the limit.
void plot_pipelined(const std::string& dir, const Runs& runs) {
    std::ofstream bars(dir + "/pipelined.dat");
    for (const auto* m : runs) {
        bars << "\"" << m->server.label << " (" << served(m->result.main) << ")\" " << m->result.replies_per_s() << " "
             << (m->result.client_saturated ? 1 : 0) << "\n";
    }
    bars.close();
    plot(dir, "pipelined",
         "set title 'Pipelined: 50 clients x 16 in flight, fib(1)'\nset style fill solid 0.6\nset boxwidth 0.6\n"
         "set ylabel 'replies/s'\nset yrange [0:*]\nset key top left\n"
         "plot '" + dir + "/pipelined.dat' using 0:($3 == 0 ? $2 : 1/0):xtic(1) with boxes lc 1 title 'served (clients)', '' "
         "using 0:($3 == 1 ? $2 : 1/0):xtic(1) with boxes fs empty lc 1 title 'hollow: fib-bench saturated'\n");
}

// hol.svg: the short requests' p99 beside the hog and beside the flood. A client never served has
// no latency, so a p99 bar alone would flatter the server that served one of 8: those rows get a
// hatched bar to the top, "7 of 8 never served".
void plot_hol(const std::string& dir, const Runs& hol_runs, const Runs& fairness_runs) {
    std::ofstream hol(dir + "/hol.dat");
    double top = 10;  // the y axis: 30 times the highest p99
    hol << "# server, short-request p99 (µs), clients never served, of how many, label\n";
    for (const Runs* runs : {&hol_runs, &fairness_runs}) {
        for (const auto* m : *runs) {
            const ClassStats& s = m->result.main;
            int never = s.clients - s.served;
            top = std::max(top, 30 * static_cast<double>(s.latency.percentile(99)) / 1e3);
            hol << "\"" << m->server.label << (runs == &hol_runs ? " / hog" : " / flood") << "\" "
                << std::max(1.0, static_cast<double>(s.latency.percentile(99)) / 1e3) << " " << never << " " << s.clients << " \""
                << (never > 0 ? std::to_string(never) + " of " + std::to_string(s.clients) + " never served" : "served " + served(s))
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
}

// idle.svg: server CPU per reply against idle connections, per backend, with what was refused.
void plot_idle(const std::string& dir, const Runs& runs, const std::vector<std::string>& servers) {
    write_plot_data(
        dir + "/idle.dat", runs, servers,
        [](const Measured& m) { return std::pair{double(m.result.config.idle), m.result.server_cpu_per_reply_us()}; },
        [](const Measured& m) {
            int refused = m.result.connections.refused_by_server;
            return refused > 0 ? "held " + format_count(m.result.config.idle - refused) + ", refused " + format_count(refused)
                               : std::string();
        });
    plot(dir, "idle",
         "set title 'Server CPU per reply vs idle connections'\nset xlabel 'idle connections'\n"
         "set ylabel 'CPU per reply (µs, log scale)'\nset logscale y\nset yrange [1:*]\n"
         "set xtics (0, 5000)\nset offsets 300, 300, 0, 0\nplot " +
             lines_with_points(dir + "/idle.dat", servers, "2") + ", '" + dir +
             "/idle.dat' using 1:2:4 with labels offset 0,1.2 font ',9' notitle\n");
}


// Without gnuplot: the plots' main figures as bars on stdout.
void bars_in_the_terminal(const Plots& p) {
    std::vector<std::pair<std::string, double>> bars;
    for (const auto* m : p.clients) bars.push_back({m->server.label + " " + m->setting.setting, m->result.replies_per_s()});
    ascii_bars("replies/s by clients", bars, [](double v) { return format_count(v); });
    bars.clear();
    for (const auto* m : p.pipelined) bars.push_back({m->server.label, m->result.replies_per_s()});
    ascii_bars("replies/s, 50 clients x 16 in flight", bars, [](double v) { return format_count(v); });
    bars.clear();
    for (const auto& [runs, scenario] : {std::pair{&p.hol, "hol"}, std::pair{&p.fairness, "fairness"}}) {
        for (const auto* m : *runs) bars.push_back({m->server.label + " / " + scenario, double(m->result.main.latency.percentile(99))});
    }
    ascii_bars("short-request p99 beside the hog and the flood", bars, [](double v) { return format_ns(v); });
    bars.clear();
    for (const auto* m : p.idle) bars.push_back({m->server.label + " " + m->setting.setting, m->result.server_cpu_per_reply_us()});
    ascii_bars("server CPU per reply (µs) by idle connections", bars, [](double v) {
        char b[32];
        std::snprintf(b, sizeof b, "%.2f µs", v);
        return std::string(b);
    });
}
}  // namespace

void write_plots(const CompareConfig& cfg, const Plots& p, const std::vector<std::string>& client_servers,
                 const std::vector<std::string>& idle_labels) {
    if (!cfg.plots || !have_gnuplot()) return bars_in_the_terminal(p);
    std::string dir = fs::absolute(cfg.out).string();
    plot_clients(dir, p.clients, client_servers);
    plot_pipelined(dir, p.pipelined);
    plot_hol(dir, p.hol, p.fairness);
    plot_idle(dir, p.idle, idle_labels);
    plot_timeline(dir, p.timeline, cfg.quick);
    plot_latency(dir, p.latency);
    std::printf("wrote %s/clients.svg, pipelined.svg, hol.svg, idle.svg, timeline.svg, latency.svg\n", cfg.out.c_str());
}

}  // namespace fibs::bench
