// fib-bench: a load client for the fib servers. `run` measures one server; `compare` starts every
// server model in turn and runs the same scenarios against each.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "compare.hpp"
#include "load.hpp"
#include "net.hpp"
#include "proc_stats.hpp"
#include "report.hpp"
#include "server.hpp"
#include "server_process.hpp"

namespace {

// "5s", "500ms", "2m", "1.5" (seconds): a finite time, above 0 unless `zero_ok`.
double parse_seconds(const std::string& text, const std::string& flag, bool zero_ok = false) {
    auto wrong = [&](const std::string& why) {
        return std::invalid_argument(flag + " " + text + ": " + why + " (say 5s, 500ms, 1m)");
    };
    std::size_t used = 0;
    double v = 0;
    try {
        v = std::stod(text, &used);
    } catch (const std::exception&) {
        throw wrong("not a time");
    }
    std::string unit = text.substr(used);
    double scale = unit.empty() || unit == "s" ? 1 : unit == "ms" ? 1e-3 : unit == "us" ? 1e-6 : unit == "m" ? 60 : 0;
    if (scale == 0) throw wrong("unknown unit");
    if (!std::isfinite(v) || v < 0 || (v == 0 && !zero_ok) || v * scale > 86400) {
        throw wrong(zero_ok ? "must be 0 or more, up to a day" : "must be above 0, up to a day");
    }
    return v * scale;
}

// Why a run measured nothing, in one line, or "" when it measured something.
std::string nothing_measured(const fibs::bench::LoadResult& r) {
    const auto& c = r.connections;
    if (c.established == 0) {
        std::string why;
        for (auto [n, what] : {std::pair{c.refused, " refused by the kernel"}, {c.timed_out, " timed out"},
                               {c.failed, " failed"}, {c.refused_by_server, " told the server is full"}}) {
            if (n > 0) why += (why.empty() ? "" : ", ") + std::to_string(n) + what;
        }
        return "no connection was established (" + why + "): is a server listening on " +
               fibs::host_port(r.config.host, r.config.port) + "?";
    }
    if (r.main.replies == 0 && r.hog.replies == 0) return "no reply arrived in the window";
    return "";
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"fib-bench: measures how a fib server serves many clients"};
    app.require_subcommand(1);

    fibs::bench::LoadConfig cfg;
    std::string duration = "5s", warmup = "1s", timeout = "10s", json, csv;
    auto* run = app.add_subcommand("run", "Load one server and report what it did");
    run->add_option("--host", cfg.host, "Server address")->capture_default_str();
    run->add_option("--port", cfg.port, "Server port")->capture_default_str();
    run->add_option("-c,--clients", cfg.clients, "Measured client connections")->capture_default_str();
    run->add_option("-d,--duration", duration, "Measured window (5s, 500ms, 1m)")->capture_default_str();
    run->add_option("--requests", cfg.requests, "Stop after this many measured replies instead");
    run->add_option("--warmup", warmup, "Warm-up before the window: connections stay open, nothing counts")
        ->capture_default_str();
    run->add_option("--fib", cfg.fib_n, "n each request asks for")->capture_default_str();
    run->add_option("--hog", cfg.hog, "Extra clients looping on a slow fib(--hog-n), reported apart");
    run->add_option("--hog-n", cfg.hog_n, "n the hog clients ask for")->capture_default_str();
    run->add_option("--idle", cfg.idle, "Extra connections that connect and send nothing");
    run->add_option("--flood", cfg.flood, "Extra connections that write requests without end and never read");
    run->add_option("--flood-n", cfg.flood_n, "n the flood connections ask for")->capture_default_str();
    run->add_option("--rate", cfg.rate,
                    "Open loop: requests/s over all clients on a fixed schedule, latency from the intended send time")
        ->check(CLI::Validator(
            [](std::string& text) -> std::string {
                char* end = nullptr;
                double v = std::strtod(text.c_str(), &end);
                bool ok = end != text.c_str() && *end == '\0' && std::isfinite(v) && v > 0 && v <= 1e7;
                return ok ? "" : "must be a number of requests/s above 0, up to 10,000,000, not " + text;
            },
            "RATE"));
    run->add_option("--pipeline", cfg.pipeline,
                    "Requests in flight per connection (closed loop). Replies are read in batches and as many "
                    "requests go back in one send; requests mix n and a neighbour so a lost "
                    "reply is seen")
        ->capture_default_str();
    run->add_flag("--batch", cfg.batch,
                  "With --pipeline N: send N requests, wait for all N replies, then send the next N (a "
                  "client that waits for a whole batch sees a server's per-batch stall)");
    run->add_option("--windows", cfg.windows,
                    "Cut the window into this many equal parts and report the median of their p99s and the "
                    "spread (docs/bench.md: one stall moves one part, not the median)")
        ->check(CLI::Range(1, 100))
        ->capture_default_str();
    run->add_option("--timeout", timeout, "Per reply and per connect")->capture_default_str();
    run->add_option("--threads", cfg.threads, "Client threads")->capture_default_str();
    run->add_option("--server-pid", cfg.server_pid,
                    "Read this server's CPU time and memory from /proc (default: the process listening on "
                    "--host:--port, when it is yours)");
    run->add_option("--json", json, "Write the figures as JSON");
    run->add_option("--csv", csv, "Write the figures as CSV");
    std::string trace;
    run->add_option("--trace", trace,
                    "Write who was served when, one slice per request of the window (the first 100,000), "
                    "in the Chrome trace event format: open it in ui.perfetto.dev");

    fibs::bench::CompareConfig cmp;
    auto* compare = app.add_subcommand("compare", "Start each server model, run the same scenarios, compare");
    compare->add_flag("--quick", cmp.quick, "Short runs (about 20 s), for tests and a first look");
    compare->add_option("--out", cmp.out, "Directory for compare.json, compare.csv and the plots")
        ->capture_default_str();
    compare->add_option("--bin", cmp.bin_dir, "Where fib-blocking, fib-loop, fib-threads are (default: beside fib-bench)");
    compare->add_option("--threads", cmp.threads, "Client threads")->capture_default_str();
    compare->add_flag("!--no-plots", cmp.plots, "Skip gnuplot");

    CLI11_PARSE(app, argc, argv);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    try {
        if (*compare) {
            if (cmp.bin_dir.empty()) cmp.bin_dir = fibs::self_dir();
            return fibs::bench::run_compare(cmp);
        }
        cfg.duration_s = parse_seconds(duration, "--duration");
        cfg.warmup_s = parse_seconds(warmup, "--warmup", /*zero_ok=*/true);
        cfg.timeout_s = parse_seconds(timeout, "--timeout");
        if (cfg.batch && cfg.rate > 0) throw std::invalid_argument("--batch is for the closed loop; --rate sends on a schedule");
        fibs::Addresses resolved(cfg.host, cfg.port, false, "cannot resolve " + cfg.host);  // one line, before any load
        fibs::raise_fd_limit();
        long connections = static_cast<long>(cfg.clients) + cfg.hog + cfg.flood + cfg.idle;
        if (connections + 64 > fibs::descriptor_limit()) {
            throw std::invalid_argument(std::to_string(connections) + " connections need more descriptors than this process may open (" +
                                        std::to_string(fibs::descriptor_limit()) + ", less 64 for itself): raise ulimit -n");
        }
        if (!trace.empty()) cfg.trace = 100'000;
        cfg.progress = ::isatty(STDERR_FILENO) != 0 ? fibs::bench::LoadConfig::Progress::live
                                                    : fibs::bench::LoadConfig::Progress::plain;
        std::string found;
        if (cfg.server_pid == 0) {  // the process listening on --host:--port, if it is ours to read
            auto pid = fibs::bench::find_listener(cfg.host, cfg.port);
            cfg.server_pid = pid.value_or(0);
            found = pid ? "(listening on " + fibs::host_port(cfg.host, cfg.port) + ")"
                        : "not measured: no process of yours listens on " + fibs::host_port(cfg.host, cfg.port) +
                              " (another user's, or another host's); --server-pid names one";
        }
        auto result = fibs::bench::run_load(cfg);
        result.server_note = found;
        fibs::bench::print_report(stdout, result);
        std::vector<fibs::bench::Row> rows{{{}, fibs::bench::figures_of(result)}};
        if (!csv.empty()) fibs::bench::write_csv(csv, rows);
        if (!json.empty()) fibs::bench::write_json(json, rows, {});
        if (!trace.empty()) {
            fibs::bench::write_trace(trace, result);
            std::printf("%-12s %zu requests written to %s (open it in ui.perfetto.dev)\n", "trace", result.trace.size(),
                        trace.c_str());
        }
        if (std::string why = nothing_measured(result); !why.empty()) {
            std::fprintf(stderr, "error: nothing measured: %s\n", why.c_str());
            return 4;
        }
        return result.errors.total() == 0 ? 0 : 3;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
