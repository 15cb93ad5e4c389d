#include "report.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>

#include "net.hpp"
#include "server.hpp"

namespace fibs::bench {

std::string format_ns(double ns) {
    char buf[32];
    if (ns < 1e3) {
        std::snprintf(buf, sizeof buf, "%.0f ns", ns);
    } else if (ns < 1e6) {
        std::snprintf(buf, sizeof buf, ns < 1e4 ? "%.1f µs" : "%.0f µs", ns / 1e3);
    } else if (ns < 1e9) {
        std::snprintf(buf, sizeof buf, ns < 1e7 ? "%.2f ms" : "%.1f ms", ns / 1e6);
    } else {
        std::snprintf(buf, sizeof buf, "%.2f s", ns / 1e9);
    }
    return buf;
}

std::string format_count(double value) { return group_digits(std::llround(value)); }

namespace {

std::string percentiles(const Histogram& h) {
    if (h.count() == 0) return "no replies";
    std::string s;
    for (auto [name, p] : {std::pair{"p50", 50.0}, {"p90", 90.0}, {"p99", 99.0}, {"p99.9", 99.9}}) {
        s += std::string(name) + " " + format_ns(static_cast<double>(h.percentile(p))) + "  ";
    }
    return s + "max " + format_ns(static_cast<double>(h.max()));
}

}  // namespace

std::string machine_line(const LoadResult& r) {
    const Histogram& h = r.machine.late;
    if (h.count() == 0) return "not measured (the window was too short for one wake-up)";
    auto at = [&h](double p) { return format_ns(static_cast<double>(h.percentile(p))); };
    char cost[96];
    std::snprintf(cost, sizeof cost, " (%s wake-ups, the probe used %.1f%% of a core)", format_count(double(h.count())).c_str(),
                  r.window_s > 0 ? 100 * r.machine.cpu_s / r.window_s : 0);
    std::string others;
    if (r.machine.others_cores >= 0) {
        char b[64];
        std::snprintf(b, sizeof b, "; other processes used %.0f%% of a core", 100 * r.machine.others_cores);
        others = b;
    }
    return "a sleeping thread woke late by p50 " + at(50) + ", p99 " + at(99) + ", max " +
           format_ns(static_cast<double>(h.max())) + cost + others;
}

namespace {

// One line of the report: "label        text".
using Line = std::function<void(const char* label, const std::string& text)>;

// What was run: target, window, connections, who was served, throughput and latency.
void report_the_run(const Line& line, const LoadResult& r) {
    const LoadConfig& c = r.config;
    std::string mode = c.rate > 0 ? "open loop at " + format_count(c.rate) + " requests/s"
                                  : "closed loop, pipeline " + std::to_string(c.pipeline) + (c.batch ? " in batches" : "");
    line("target", host_port(c.host, c.port) + "  " + std::to_string(c.clients) + (c.clients == 1 ? " client" : " clients") +
                       " on fib(" + std::to_string(c.fib_n) + "), " + mode + ", " + std::to_string(c.threads) + " thread" +
                       (c.threads == 1 ? "" : "s"));
    char window[96];
    std::snprintf(window, sizeof window, "%.2f s measured after %.2f s warm-up", r.window_s, c.warmup_s);
    line("window", window);
    const Connections& k = r.connections;
    std::string conns = std::to_string(k.requested) + " requested, " + std::to_string(k.established) + " established";
    if (k.refused_by_server) conns += ", " + std::to_string(k.refused_by_server) + " refused by the server (server full)";
    if (k.refused) conns += ", " + std::to_string(k.refused) + " refused by the kernel";
    if (k.timed_out) conns += ", " + std::to_string(k.timed_out) + " timed out";
    if (k.failed) conns += ", " + std::to_string(k.failed) + " failed";
    line("connections", conns);
    std::string served = std::to_string(r.main.served) + "/" + std::to_string(r.main.clients) + " clients got a reply in the window";
    if (r.main.served > 0) {
        served += "; first reply after p50 " + format_ns(static_cast<double>(r.main.first_reply.percentile(50))) + ", max " +
                  format_ns(static_cast<double>(r.main.first_reply.max()));
    }
    line("served", served);
    line("throughput", format_count(r.replies_per_s()) + " replies/s (" + format_count(static_cast<double>(r.main.replies)) + " replies)");
    if (c.rate > 0) {
        line("latency", "(from intended send time) " + percentiles(r.main.latency));
        line("", "(from actual send time)   " + percentiles(r.main.latency_uncorrected));
        double achieved = r.window_s > 0 ? static_cast<double>(r.sent) / r.window_s : 0;
        line("schedule", "target " + format_count(c.rate) + "/s, sent " + format_count(achieved) + "/s, " +
                             format_count(static_cast<double>(r.late)) + " sends more than 1 ms late");
    } else {
        line("latency", percentiles(r.main.latency));
    }
    if (c.windows > 1) {
        Spread p99 = r.p99_by_window();
        line("windows", "p99 over " + std::to_string(c.windows) + " parts of the window: median " + format_ns(p99.median) +
                            ", lowest " + format_ns(p99.min) + ", highest " + format_ns(p99.max));
    }
}

// The other connections (hogs, floods, idle ones) and the errors.
void report_the_others(const Line& line, const LoadResult& r) {
    const LoadConfig& c = r.config;
    if (c.hog > 0) {
        double hog_rate = r.window_s > 0 ? static_cast<double>(r.hog.replies) / r.window_s : 0;
        char buf[160];
        std::snprintf(buf, sizeof buf, "%d client%s on fib(%u): served %d/%d, %.1f replies/s, ", c.hog, c.hog == 1 ? "" : "s",
                      c.hog_n, r.hog.served, r.hog.clients, hog_rate);
        line("hog", buf + percentiles(r.hog.latency));
    }
    if (c.flood > 0) {
        line("flood", std::to_string(c.flood) + (c.flood == 1 ? " connection" : " connections") + " writing fib(" +
                          std::to_string(c.flood_n) + ") requests without reading a reply");
    }
    if (c.idle > 0) {
        line("idle", std::to_string(c.idle) + " connections sending nothing; " + std::to_string(r.errors.idle_closed) +
                         " closed by the server");
    }
    const Errors& e = r.errors;
    std::string text;
    auto add = [&text](std::uint64_t n, const char* what) {
        if (n) text += format_count(static_cast<double>(n)) + " " + what + "  ";
    };
    add(e.wrong, "wrong replies");
    add(e.error_reply, "error replies");
    add(e.malformed, "malformed");
    add(e.reset, "resets");
    add(e.closed, "closed by server");
    add(e.timeout, "timeouts");
    add(e.unanswered, "unanswered");
    line("errors", e.total() == 0 ? "none" : text);
    if (!e.first_error.empty()) line("", "the first error reply: " + e.first_error);
}

// Who did the work: the machine, the client, the server.
void report_the_cost(const Line& line, const LoadResult& r) {
    const LoadConfig& c = r.config;
    line("machine", machine_line(r));
    char cpu[160];
    std::snprintf(cpu, sizeof cpu, "%.0f%% CPU of %d thread%s, %.2f µs CPU per reply",
                  r.window_s > 0 ? 100 * r.client_cpu_s / r.window_s : 0, c.threads, c.threads == 1 ? "" : "s",
                  r.client_cpu_per_reply_us());
    line("client", cpu);
    if (r.client_saturated) {
        line("WARNING", "the client itself was saturated: these figures measure fib-bench, not the server. "
                        "Try --threads or fewer clients.");
    }
    if (r.server_measured) {
        char buf[200];
        std::snprintf(buf, sizeof buf, "pid %d%s: %.2f µs CPU per reply (%.2f s CPU), RSS %.1f MiB (peak %.1f MiB), %d threads",
                      static_cast<int>(c.server_pid), r.server_note.empty() ? "" : (" " + r.server_note).c_str(),
                      r.server_cpu_per_reply_us(), r.server_cpu_s, static_cast<double>(r.server_rss_kib) / 1024,
                      static_cast<double>(r.server_hwm_kib) / 1024, r.server_threads);
        line("server", buf);
    } else if (!r.server_note.empty()) {
        line("server", r.server_note);
    }
}

}  // namespace

void print_report(std::FILE* out, const LoadResult& r) {
    Line line = [out](const char* label, const std::string& text) { std::fprintf(out, "%-12s %s\n", label, text.c_str()); };
    report_the_run(line, r);
    report_the_others(line, r);
    report_the_cost(line, r);
}

Figures figures_of(const LoadResult& r) {
    auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e3; };
    const Histogram& l = r.main.latency;
    const Histogram& hl = r.hog.latency;
    const Histogram& m = r.machine.late;
    const Spread p99w = r.p99_by_window();
    double achieved = r.window_s > 0 ? static_cast<double>(r.sent) / r.window_s : 0;
    return {
        {"clients", r.config.clients},
        {"fib_n", r.config.fib_n},
        {"hog", r.config.hog},
        {"hog_n", r.config.hog_n},
        {"idle", r.config.idle},
        {"flood", r.config.flood},
        {"flood_n", r.config.flood_n},
        {"pipeline", r.config.pipeline},
        {"batch", r.config.batch ? 1 : 0},
        {"rate_target", r.config.rate},
        {"threads", r.config.threads},
        {"window_s", r.window_s},
        {"conn_requested", r.connections.requested},
        {"conn_established", r.connections.established},
        {"conn_refused_by_server", r.connections.refused_by_server},
        {"conn_refused", r.connections.refused},
        {"conn_timed_out", r.connections.timed_out},
        {"conn_failed", r.connections.failed},
        {"served", r.main.served},
        {"served_of", r.main.clients},
        {"first_reply_p50_us", us(r.main.first_reply.percentile(50))},
        {"first_reply_max_us", us(r.main.first_reply.max())},
        {"replies", static_cast<double>(r.main.replies)},
        {"replies_per_s", r.replies_per_s()},
        {"p50_us", us(l.percentile(50))},
        {"p90_us", us(l.percentile(90))},
        {"p99_us", us(l.percentile(99))},
        {"p999_us", us(l.percentile(99.9))},
        {"max_us", us(l.max())},
        {"p99_window_median_us", p99w.median / 1e3},
        {"p99_window_min_us", p99w.min / 1e3},
        {"p99_window_max_us", p99w.max / 1e3},
        {"uncorrected_p50_us", us(r.main.latency_uncorrected.percentile(50))},
        {"uncorrected_p99_us", us(r.main.latency_uncorrected.percentile(99))},
        {"rate_achieved", achieved},
        {"late_sends", static_cast<double>(r.late)},
        {"hog_served", r.hog.served},
        {"hog_replies", static_cast<double>(r.hog.replies)},
        {"hog_replies_per_s", r.window_s > 0 ? static_cast<double>(r.hog.replies) / r.window_s : 0},
        {"hog_p50_us", us(hl.percentile(50))},
        {"hog_p99_us", us(hl.percentile(99))},
        {"err_wrong", static_cast<double>(r.errors.wrong)},
        {"err_error_reply", static_cast<double>(r.errors.error_reply)},
        {"err_malformed", static_cast<double>(r.errors.malformed)},
        {"err_reset", static_cast<double>(r.errors.reset)},
        {"err_closed", static_cast<double>(r.errors.closed)},
        {"err_timeout", static_cast<double>(r.errors.timeout)},
        {"err_unanswered", static_cast<double>(r.errors.unanswered)},
        {"idle_closed", static_cast<double>(r.errors.idle_closed)},
        {"client_cpu_s", r.client_cpu_s},
        {"client_saturated", r.client_saturated ? 1 : 0},
        {"client_cpu_per_reply_us", r.client_cpu_per_reply_us()},
        {"server_cpu_s", r.server_cpu_s},
        {"server_cpu_per_reply_us", r.server_cpu_per_reply_us()},
        {"server_rss_kib", static_cast<double>(r.server_rss_kib)},
        {"server_hwm_kib", static_cast<double>(r.server_hwm_kib)},
        {"server_threads", r.server_threads},
        {"machine_late_p50_us", us(m.percentile(50))},
        {"machine_late_p99_us", us(m.percentile(99))},
        {"machine_late_max_us", us(m.max())},
        {"machine_probe_cpu_s", r.machine.cpu_s},
        {"machine_others_cores", r.machine.others_cores},
        {"machine_steal_cores", r.window_s > 0 && r.machine.steal_s >= 0 ? r.machine.steal_s / r.window_s : -1},
    };
}

namespace {

std::string number(double v) {
    if (std::isnan(v) || std::isinf(v)) return "null";
    char buf[40];
    if (v == std::floor(v) && std::fabs(v) < 1e15) {
        std::snprintf(buf, sizeof buf, "%.0f", v);
    } else {
        std::snprintf(buf, sizeof buf, "%.4g", v);
    }
    return buf;
}

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (unsigned char ch : s) {
        if (ch == '"' || ch == '\\') {
            out += '\\';
            out += static_cast<char>(ch);
        } else if (ch < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", ch);
            out += buf;
        } else {
            out += static_cast<char>(ch);
        }
    }
    return out + "\"";
}

std::ofstream open_out(const std::string& path) {
    std::ofstream out(path);
    if (!out) throw std::runtime_error("cannot write " + path);
    return out;
}

}  // namespace

void write_csv(const std::string& path, const std::vector<Row>& rows) {
    auto out = open_out(path);
    if (rows.empty()) return;
    std::string sep;
    for (const auto& [k, v] : rows[0].labels) out << std::exchange(sep, ",") << k;
    for (const auto& [k, v] : rows[0].figures) out << std::exchange(sep, ",") << k;
    out << "\n";
    for (const auto& row : rows) {
        sep.clear();
        for (const auto& [k, v] : row.labels) out << std::exchange(sep, ",") << v;
        for (const auto& [k, v] : row.figures) out << std::exchange(sep, ",") << number(v);
        out << "\n";
    }
}

void write_json(const std::string& path, const std::vector<Row>& rows,
                const std::vector<std::pair<std::string, std::string>>& meta) {
    auto out = open_out(path);
    out << "{\n  \"machine\": {";
    std::string sep;
    for (const auto& [k, v] : meta) out << std::exchange(sep, ", ") << json_string(k) << ": " << json_string(v);
    out << "},\n  \"runs\": [\n";
    for (std::size_t i = 0; i < rows.size(); ++i) {
        out << "    {";
        sep.clear();
        for (const auto& [k, v] : rows[i].labels) out << std::exchange(sep, ", ") << json_string(k) << ": " << json_string(v);
        for (const auto& [k, v] : rows[i].figures) out << std::exchange(sep, ", ") << json_string(k) << ": " << number(v);
        out << "}" << (i + 1 < rows.size() ? "," : "") << "\n";
    }
    out << "  ]\n}\n";
}

void write_trace(const std::string& path, const LoadResult& r) {
    auto out = open_out(path);
    const LoadConfig& c = r.config;
    out << "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n";
    std::string sep;
    for (int id = 0; id < c.clients + c.hog; ++id) {  // every track, even one that got no reply
        std::string name = id < c.clients ? "client " + std::to_string(id + 1) : "hog " + std::to_string(id - c.clients + 1);
        out << std::exchange(sep, ",\n") << "{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": " << id
            << ", \"args\": {\"name\": " << json_string(name) << "}}";
    }
    for (const Slice& s : r.trace) {
        unsigned n = s.client < c.clients ? c.fib_n : c.hog_n;
        char event[160];
        std::snprintf(event, sizeof event, "{\"name\": \"fib(%u)\", \"ph\": \"X\", \"pid\": 1, \"tid\": %d, \"ts\": %.3f, \"dur\": %.3f}", n,
                      s.client, static_cast<double>(s.sent) / 1e3, static_cast<double>(s.answered - s.sent) / 1e3);
        out << std::exchange(sep, ",\n") << event;
    }
    out << "\n]}\n";
}

}  // namespace fibs::bench
