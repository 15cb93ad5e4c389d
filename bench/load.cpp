// `fib-bench run`: prepares the connections, starts the client threads, samples the window and
// adds up what they measured.
#include "load.hpp"

#include <algorithm>
#include <optional>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "answer_key.hpp"
#include "connections.hpp"
#include "proc_stats.hpp"
#include "progress.hpp"

namespace fibs::bench {

namespace {

// What a connection of one kind asks. Where several requests can be in flight (pipelined, or on
// the open loop's schedule), a connection mixes n with a neighbour whose reply differs (n - 1 from
// 3 on; 0 and 1 for the smallest), so a reply lost in the middle of a batch shows (connections.hpp).
Ask ask_for(unsigned n, bool alternate) {
    unsigned other = !alternate ? n : n >= 3 ? n - 1 : n == 0 ? 1 : 0;
    return {{std::to_string(n) + "\n", std::to_string(other) + "\n"}, {expected_reply(n), expected_reply(other)}};
}

// What each kind of connection asks, prepared once.
struct Asks {
    explicit Asks(const LoadConfig& cfg)
        : main(ask_for(cfg.fib_n, cfg.pipeline > 1 || cfg.rate > 0)), hog(ask_for(cfg.hog_n, false)), flood(ask_for(cfg.flood_n, false)) {}
    Ask main, hog, flood, idle;
};

using Workers = std::vector<std::unique_ptr<Worker>>;

// The client threads, each with its share of the connections. Measured clients first, so a server
// that serves in arrival order (the blocking one) serves them.
Workers deal(const LoadConfig& cfg, Timeline& tl, const Asks& asks, int threads) {
    Workers workers;
    for (int t = 0; t < threads; ++t) workers.push_back(std::make_unique<Worker>(cfg, tl));
    std::int64_t interval = cfg.rate > 0 ? static_cast<std::int64_t>(1e9 * cfg.clients / cfg.rate) : 0;
    int i = 0;
    for (int c = 0; c < cfg.clients; ++c, ++i) {
        std::int64_t stagger = cfg.clients > 0 ? interval * c / cfg.clients : 0;
        workers[i % threads]->add(Kind::main, c, &asks.main, stagger);
    }
    for (int c = 0; c < cfg.hog; ++c, ++i) workers[i % threads]->add(Kind::hog, i, &asks.hog, 0);
    for (int c = 0; c < cfg.flood; ++c, ++i) workers[i % threads]->add(Kind::flood, i, &asks.flood, 0);
    for (int c = 0; c < cfg.idle; ++c, ++i) workers[i % threads]->add(Kind::idle, i, &asks.idle, 0);
    return workers;
}

void sleep_until(std::int64_t t) {
    std::int64_t d = t - now_ns();
    if (d > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(d));
}

// The window's two ends, as this thread saw them: the clock, CPU snapshots, the machine's delay.
struct Window {
    std::int64_t end = 0;
    double client_cpu0 = 0, client_cpu1 = 0;
    std::optional<ProcStats> server0, server1;
    MachineDelay machine;
};

// Warm-up, then the measured window, with a progress line once a second when asked; ends at the
// window's end, or when a thread stops the run (--requests reached, every connection gone).
Window watch_window(const LoadConfig& cfg, Timeline& tl, Workers& workers) {
    const bool show = cfg.progress != LoadConfig::Progress::none;
    Progress progress(workers, tl, cfg.progress == LoadConfig::Progress::live);
    auto measure_server = [&]() { return cfg.server_pid > 0 ? read_proc_stats(cfg.server_pid) : std::nullopt; };
    for (std::int64_t t = tl.start + 1'000'000'000; show && t < tl.window_start; t += 1'000'000'000) {
        sleep_until(t);
        progress.print(now_ns());
    }
    sleep_until(tl.window_start);
    Window w;
    w.client_cpu0 = self_cpu_s();
    w.server0 = measure_server();
    MachineProbe probe;  // the window only: how late a sleeping thread wakes meanwhile
    for (std::int64_t next_print = tl.window_start + 1'000'000'000; !tl.stop.load();) {
        std::int64_t now = now_ns(), end = tl.window_end.load();
        if (now >= end) break;
        sleep_until(std::min({end, now + 50'000'000, show ? next_print : kForever}));
        if (show && now_ns() >= next_print) {
            progress.print(now_ns());
            next_print += 1'000'000'000;
        }
    }
    w.end = std::min(now_ns(), tl.window_end.load());
    w.machine = probe.stop();
    w.client_cpu1 = self_cpu_s();
    w.server1 = measure_server();
    if (show) progress.done();
    return w;
}

// What the threads measured, added up, and the window's figures.
void add_up(LoadResult& r, const Workers& workers, const Window& w, const Timeline& tl) {
    r.window_s = std::max(0.0, static_cast<double>(w.end - tl.window_start.load()) / 1e9);
    for (auto& worker : workers) {
        r.main.merge(worker->main);
        r.hog.merge(worker->hog);
        r.errors.merge(worker->errors);
        r.connections.merge(worker->connections);
        r.sent += worker->sent;
        r.late += worker->late;
        r.trace.insert(r.trace.end(), worker->trace.begin(), worker->trace.end());
    }
    std::sort(r.trace.begin(), r.trace.end(), [](const Slice& a, const Slice& b) { return a.answered < b.answered; });
    r.machine = w.machine;
    r.client_cpu_s = w.client_cpu1 - w.client_cpu0 - r.machine.cpu_s;
    r.client_saturated = r.window_s > 0 && r.client_cpu_s / r.window_s > 0.9 * static_cast<double>(workers.size());
    if (w.server0 && w.server1) {
        r.server_measured = true;
        r.server_cpu_s = w.server1->cpu_s - w.server0->cpu_s;
        r.server_rss_kib = w.server1->rss_kib;
        r.server_hwm_kib = w.server1->hwm_kib;
        r.server_threads = w.server1->threads;
    }
    // What other processes took meanwhile: the machine's busy time less ours and the server's.
    if (r.server_measured && r.window_s > 0 && r.machine.machine_busy_s >= 0) {
        double ours = (w.client_cpu1 - w.client_cpu0) + r.server_cpu_s;
        r.machine.others_cores = std::max(0.0, r.machine.machine_busy_s - ours) / r.window_s;
    }
}

}  // namespace

LoadResult run_load(const LoadConfig& cfg) {
    if (cfg.clients < 0 || cfg.hog < 0 || cfg.idle < 0 || cfg.flood < 0 || cfg.threads < 1 || cfg.pipeline < 1 ||
        cfg.windows < 1) {
        throw std::invalid_argument("clients, hog, idle and flood must be >= 0; threads, pipeline and windows >= 1");
    }
    raise_fd_limit();
    LoadResult r;
    r.config = cfg;
    const Asks asks(cfg);
    const int requested = cfg.clients + cfg.hog + cfg.idle + cfg.flood;
    const int threads = std::max(1, std::min(cfg.threads, std::max(1, requested)));
    Timeline tl(threads);
    tl.limit = cfg.requests;
    Workers workers = deal(cfg, tl, asks, threads);
    std::vector<std::thread> running;
    for (auto& w : workers) running.emplace_back([&w] { w->run(); });
    tl.connected.wait();

    std::int64_t start = now_ns();
    auto ns = [](double s) { return static_cast<std::int64_t>(s * 1e9); };
    tl.start = start;
    tl.window_start = start + ns(cfg.warmup_s);
    tl.window_end = cfg.requests > 0 ? kForever : start + ns(cfg.warmup_s + cfg.duration_s);
    if (tl.busy.load() == 0) {  // no connection that sends requests is open: nothing to wait for
        tl.window_end = start;
        tl.stop = true;
    }
    tl.go.count_down();
    Window window = watch_window(cfg, tl, workers);
    tl.stop = true;
    for (auto& t : running) t.join();
    add_up(r, workers, window, tl);
    return r;
}

}  // namespace fibs::bench
