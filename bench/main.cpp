// fib-bench: a load client for the fib servers. `run` measures one server; `compare` starts every
// server model in turn and runs the same scenarios against each.
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <vector>

#include "compare.hpp"
#include "fib.hpp"
#include "load.hpp"
#include "net.hpp"
#include "proc_stats.hpp"
#include "report.hpp"
#include "server.hpp"
#include "server_process.hpp"

namespace {

using fibs::bench::LoadConfig;

// `fib-bench run`'s command line, as typed.
struct RunArgs {
    LoadConfig cfg;
    std::string duration = "5s", warmup = "1s", timeout = "10s", json, csv, trace;
    long long requests = 0;    // 0: not given
    long long server_pid = 0;  // 0: not given
};

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

void add_run_options(CLI::App& run, RunArgs& a) {
    LoadConfig& cfg = a.cfg;
    run.add_option("--host", cfg.host, "Server address (each of its addresses is tried, as a client would)")
        ->capture_default_str();
    run.add_option("--port", cfg.port, "Server port")->capture_default_str();
    run.add_option("-c,--clients", cfg.clients, "Measured client connections")->check(CLI::Range(0, 10000000))->capture_default_str();
    run.add_option("-d,--duration", a.duration, "Measured window (5s, 500ms, 1m)")->capture_default_str();
    run.add_option("--requests", a.requests, "Stop after this many measured replies instead")->check(CLI::Range(1LL, 1LL << 50));
    run.add_option("--warmup", a.warmup, "Warm-up before the window: connections stay open, nothing counts")->capture_default_str();
    run.add_option("--fib", cfg.fib_n, "n each request asks for")->check(CLI::Range(0u, fibs::kMaxFibN))->capture_default_str();
    run.add_option("--hog", cfg.hog, "Extra clients looping on a slow fib(--hog-n), reported apart")->check(CLI::Range(0, 10000000));
    run.add_option("--hog-n", cfg.hog_n, "n the hog clients ask for")->check(CLI::Range(0u, fibs::kMaxFibN))->capture_default_str();
    run.add_option("--idle", cfg.idle, "Extra connections that connect and send nothing")->check(CLI::Range(0, 10000000));
    run.add_option("--flood", cfg.flood, "Extra connections that write requests without end and never read")
        ->check(CLI::Range(0, 10000000));
    run.add_option("--flood-n", cfg.flood_n, "n the flood connections ask for")->check(CLI::Range(0u, fibs::kMaxFibN))->capture_default_str();
    run.add_option("--rate", cfg.rate,
                   "Open loop: requests/s over all clients on a fixed schedule, latency from the intended send time")
        ->check(CLI::Validator(
            [](std::string& text) -> std::string {
                char* end = nullptr;
                double v = std::strtod(text.c_str(), &end);
                bool ok = end != text.c_str() && *end == '\0' && std::isfinite(v) && v > 0 && v <= 1e7;
                return ok ? "" : "must be a number of requests/s above 0, up to 10,000,000, not " + text;
            },
            "RATE"));
    run.add_option("--pipeline", cfg.pipeline,
                   "Requests in flight per connection (closed loop). Replies are read in batches and as many "
                   "requests go back in one send; requests mix n and a neighbour so a lost reply is seen")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    run.add_flag("--batch", cfg.batch,
                 "With --pipeline N: send N requests, wait for all N replies, then send the next N (a "
                 "client that waits for a whole batch sees a server's per-batch stall)");
    run.add_option("--windows", cfg.windows,
                   "Cut the window into this many equal parts and report the median of their p99s and the "
                   "spread (docs/bench.md: one stall moves one part, not the median)")
        ->check(CLI::Range(1, 100))
        ->capture_default_str();
    run.add_option("--timeout", a.timeout, "Per reply and per connect")->capture_default_str();
    run.add_option("--threads", cfg.threads, "Client threads (at most one per connection)")->check(CLI::Range(1, 1024))->capture_default_str();
    run.add_option("--server-pid", a.server_pid,
                   "Read this server's CPU time and memory from /proc (default: the process listening on "
                   "--host:--port, when it is yours)")
        ->check(CLI::Range(1LL, 1LL << 22));
    run.add_option("--json", a.json, "Write the figures as JSON");
    run.add_option("--csv", a.csv, "Write the figures as CSV");
    run.add_option("--trace", a.trace,
                   "Write who was served when, one slice per request of the window (the first 100,000), "
                   "in the Chrome trace event format: open it in ui.perfetto.dev");
}

// Does addr:port take a connection within `timeout` seconds?
bool takes_a_connection(const addrinfo* a, double timeout) {
    fibs::Fd probe(::socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!probe) return false;
    if (::connect(probe.get(), a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) return false;
    pollfd p{probe.get(), POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof err;
    return ::poll(&p, 1, static_cast<int>(timeout * 1000)) == 1 &&
           ::getsockopt(probe.get(), SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
}

// Where to connect, as a numeric host: with one address, that one; with several (localhost: ::1
// and 127.0.0.1), the first that takes a connection, as a client would try them, or else the first.
std::string reachable_address(const std::string& host, std::uint16_t port, double timeout) {
    fibs::Addresses addresses(host, port, /*passive=*/false, "cannot resolve " + host);  // one line, before any load
    std::vector<std::pair<const addrinfo*, std::string>> all;
    for (const addrinfo* a = addresses.first(); a != nullptr; a = a->ai_next) {
        char numeric[NI_MAXHOST];
        if (::getnameinfo(a->ai_addr, a->ai_addrlen, numeric, sizeof numeric, nullptr, 0, NI_NUMERICHOST) == 0) all.push_back({a, numeric});
    }
    if (all.empty()) return host;
    for (std::size_t i = 0; all.size() > 1 && i < all.size(); ++i) {
        if (takes_a_connection(all[i].first, timeout)) return all[i].second;
    }
    return all.front().second;
}

// An output file that cannot be written is said now, not after the run.
void check_writable(const std::string& path, const char* flag) {
    if (path.empty()) return;
    if (!std::ofstream(path, std::ios::app)) throw std::invalid_argument(std::string(flag) + " " + path + ": cannot write there");
}

// Everything that could not make a run, refused in one line before any load.
void check_run(RunArgs& a) {
    LoadConfig& cfg = a.cfg;
    cfg.duration_s = parse_seconds(a.duration, "--duration");
    cfg.warmup_s = parse_seconds(a.warmup, "--warmup", /*zero_ok=*/true);
    cfg.timeout_s = parse_seconds(a.timeout, "--timeout");
    cfg.requests = static_cast<std::uint64_t>(a.requests);
    if (cfg.clients == 0 && cfg.hog == 0) throw std::invalid_argument("--clients 0 and no --hog: there is nobody to measure");
    if (cfg.batch && cfg.rate > 0) throw std::invalid_argument("--batch is for the closed loop; --rate sends on a schedule");
    for (auto [path, flag] : {std::pair{&a.json, "--json"}, {&a.csv, "--csv"}, {&a.trace, "--trace"}}) check_writable(*path, flag);
    fibs::raise_fd_limit();
    long connections = static_cast<long>(cfg.clients) + cfg.hog + cfg.flood + cfg.idle;
    if (connections + 64 > fibs::descriptor_limit()) {
        throw std::invalid_argument(std::to_string(connections) + " connections need more descriptors than this process may open (" +
                                    std::to_string(fibs::descriptor_limit()) + ", less 64 for itself): raise ulimit -n");
    }
    cfg.threads = static_cast<int>(std::min<long>(cfg.threads, std::max(1L, connections)));
    cfg.host = reachable_address(cfg.host, cfg.port, cfg.timeout_s);
    if (!a.trace.empty()) cfg.trace = 100'000;
    cfg.progress = ::isatty(STDERR_FILENO) != 0 ? LoadConfig::Progress::live : LoadConfig::Progress::plain;
}

// Whose CPU and memory the report shows: the process listening on host:port when it is ours to
// read; --server-pid must name that one (or one we cannot find a listener for).
std::string choose_server(RunArgs& a) {
    LoadConfig& cfg = a.cfg;
    std::string where = fibs::host_port(cfg.host, cfg.port);
    std::optional<pid_t> listener = fibs::bench::find_listener(cfg.host, cfg.port);
    if (a.server_pid == 0) {
        cfg.server_pid = listener.value_or(0);
        return listener ? "(listening on " + where + ")"
                        : "not measured: no process of yours listens on " + where +
                              " (another user's, or another host's); --server-pid names one";
    }
    cfg.server_pid = static_cast<pid_t>(a.server_pid);
    if (!fibs::bench::read_proc_stats(cfg.server_pid)) {
        throw std::invalid_argument("--server-pid " + std::to_string(a.server_pid) + ": no process of yours has that id");
    }
    if (listener && *listener != cfg.server_pid) {
        throw std::invalid_argument("--server-pid " + std::to_string(a.server_pid) + " does not listen on " + where + " (pid " +
                                    std::to_string(*listener) + " does)");
    }
    return "(--server-pid)";
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
    if (r.main.replies > 0 || r.hog.replies > 0) return "";
    if (r.errors.error_reply > 0) {
        return "every reply was an error line, " + fibs::bench::format_count(double(r.errors.error_reply)) + " of them; the first: " +
               r.errors.first_error + " (is --fib above the server's --max-n?)";
    }
    return "no reply arrived in the window";
}

int run(RunArgs& a) {
    check_run(a);
    std::string found = choose_server(a);
    auto result = fibs::bench::run_load(a.cfg);
    result.server_note = found;
    fibs::bench::print_report(stdout, result);
    std::vector<fibs::bench::Row> rows{{{}, fibs::bench::figures_of(result)}};
    if (!a.csv.empty()) fibs::bench::write_csv(a.csv, rows);
    if (!a.json.empty()) fibs::bench::write_json(a.json, rows, {});
    if (!a.trace.empty()) {
        fibs::bench::write_trace(a.trace, result);
        std::printf("%-12s %zu requests written to %s (open it in ui.perfetto.dev)\n", "trace", result.trace.size(), a.trace.c_str());
    }
    if (std::string why = nothing_measured(result); !why.empty()) {
        std::fprintf(stderr, "error: nothing measured: %s\n", why.c_str());
        return 4;
    }
    return result.errors.total() == 0 ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"fib-bench: measures how a fib server serves many clients"};
    app.require_subcommand(1);
    RunArgs run_args;
    auto* run_cmd = app.add_subcommand("run", "Load one server and report what it did");
    add_run_options(*run_cmd, run_args);

    fibs::bench::CompareConfig cmp;
    auto* compare = app.add_subcommand("compare", "Start each server model, run the same scenarios, compare");
    compare->add_flag("--quick", cmp.quick, "Short runs (about 20 s), for tests and a first look");
    compare->add_option("--out", cmp.out, "Directory for compare.json, compare.csv and the plots")->capture_default_str();
    compare->add_option("--bin", cmp.bin_dir, "Where fib-blocking, fib-loop, fib-threads are (default: beside fib-bench)");
    compare->add_option("--threads", cmp.threads, "Client threads")->check(CLI::Range(1, 64))->capture_default_str();
    compare->add_flag("!--no-plots", cmp.plots, "Skip gnuplot");

    CLI11_PARSE(app, argc, argv);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    try {
        if (*compare) {
            if (cmp.bin_dir.empty()) cmp.bin_dir = fibs::self_dir();
            return fibs::bench::run_compare(cmp);
        }
        return run(run_args);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
