// `fib-bench run`: prepares the connections, starts the client threads, samples the window and
// adds up what they measured.
#include "load.hpp"

#include <algorithm>
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

}  // namespace

LoadResult run_load(const LoadConfig& cfg) {
    if (cfg.clients < 0 || cfg.hog < 0 || cfg.idle < 0 || cfg.flood < 0 || cfg.threads < 1 || cfg.pipeline < 1 ||
        cfg.windows < 1) {
        throw std::invalid_argument("clients, hog, idle and flood must be >= 0; threads, pipeline and windows >= 1");
    }
    raise_fd_limit();
    LoadResult r;
    r.config = cfg;
    const int requested = cfg.clients + cfg.hog + cfg.idle + cfg.flood;

    // Requests and expected replies are prepared once.
    const Ask main_ask = ask_for(cfg.fib_n, cfg.pipeline > 1 || cfg.rate > 0);
    const Ask hog_ask = ask_for(cfg.hog_n, false), flood_ask = ask_for(cfg.flood_n, false), idle_ask{};

    int threads = std::max(1, std::min(cfg.threads, std::max(1, requested)));
    Timeline tl(threads);
    tl.limit = cfg.requests;
    std::vector<std::unique_ptr<Worker>> workers;
    for (int t = 0; t < threads; ++t) workers.push_back(std::make_unique<Worker>(cfg, tl));
    // Measured clients first, so a server that serves in arrival order (the blocking one) serves them.
    std::int64_t interval = cfg.rate > 0 ? static_cast<std::int64_t>(1e9 * cfg.clients / cfg.rate) : 0;
    int i = 0;
    for (int c = 0; c < cfg.clients; ++c, ++i) {
        std::int64_t stagger = cfg.clients > 0 ? interval * c / cfg.clients : 0;
        workers[i % threads]->add(Kind::main, c, &main_ask, stagger);
    }
    for (int c = 0; c < cfg.hog; ++c, ++i) workers[i % threads]->add(Kind::hog, i, &hog_ask, 0);
    for (int c = 0; c < cfg.flood; ++c, ++i) workers[i % threads]->add(Kind::flood, i, &flood_ask, 0);
    for (int c = 0; c < cfg.idle; ++c, ++i) workers[i % threads]->add(Kind::idle, i, &idle_ask, 0);

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

    const bool show = cfg.progress != LoadConfig::Progress::none;
    Progress progress(workers, tl, cfg.progress == LoadConfig::Progress::live);
    auto sleep_until = [](std::int64_t t) {
        std::int64_t d = t - now_ns();
        if (d > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(d));
    };
    auto measure_server = [&]() { return cfg.server_pid > 0 ? read_proc_stats(cfg.server_pid) : std::nullopt; };

    // Warm-up, then the measured window: CPU snapshots at both ends.
    for (std::int64_t t = start + 1'000'000'000; show && t < tl.window_start; t += 1'000'000'000) {
        sleep_until(t);
        progress.print(now_ns());
    }
    sleep_until(tl.window_start);
    double client_cpu0 = self_cpu_s();
    auto server0 = measure_server();
    MachineProbe probe;  // the window only: how late a sleeping thread wakes meanwhile
    std::int64_t next_print = tl.window_start + 1'000'000'000;
    while (!tl.stop.load()) {
        std::int64_t now = now_ns();
        std::int64_t end = tl.window_end.load();
        if (now >= end) break;
        std::int64_t step = std::min({end, now + 50'000'000, show ? next_print : kForever});
        sleep_until(step);
        if (show && now_ns() >= next_print) {
            progress.print(now_ns());
            next_print += 1'000'000'000;
        }
    }
    std::int64_t end = std::min(now_ns(), tl.window_end.load());
    r.machine = probe.stop();
    double client_cpu1 = self_cpu_s();
    auto server1 = measure_server();
    tl.stop = true;
    for (auto& t : running) t.join();
    if (show) progress.done();

    r.window_s = std::max(0.0, static_cast<double>(end - tl.window_start.load()) / 1e9);
    for (auto& w : workers) {
        r.main.merge(w->main);
        r.hog.merge(w->hog);
        r.errors.merge(w->errors);
        r.connections.merge(w->connections);
        r.sent += w->sent;
        r.late += w->late;
        r.trace.insert(r.trace.end(), w->trace.begin(), w->trace.end());
    }
    std::sort(r.trace.begin(), r.trace.end(), [](const Slice& a, const Slice& b) { return a.answered < b.answered; });
    r.client_cpu_s = client_cpu1 - client_cpu0 - r.machine.cpu_s;
    r.client_saturated = r.window_s > 0 && r.client_cpu_s / r.window_s > 0.9 * threads;
    if (server0 && server1) {
        r.server_measured = true;
        r.server_cpu_s = server1->cpu_s - server0->cpu_s;
        r.server_rss_kib = server1->rss_kib;
        r.server_hwm_kib = server1->hwm_kib;
        r.server_threads = server1->threads;
    }
    return r;
}

}  // namespace fibs::bench
