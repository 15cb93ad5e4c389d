#include "load.hpp"

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <deque>
#include <latch>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <netdb.h>

#include "net.hpp"
#include "proc_stats.hpp"

namespace fibs::bench {

void ClassStats::merge(const ClassStats& o) {
    clients += o.clients;
    served += o.served;
    replies += o.replies;
    latency.merge(o.latency);
    latency_uncorrected.merge(o.latency_uncorrected);
    first_reply.merge(o.first_reply);
}

void Errors::merge(const Errors& o) {
    wrong += o.wrong;
    error_reply += o.error_reply;
    malformed += o.malformed;
    reset += o.reset;
    closed += o.closed;
    timeout += o.timeout;
    idle_closed += o.idle_closed;
}

double LoadResult::server_cpu_per_reply_us() const {
    auto replies = main.replies + hog.replies;
    return replies ? server_cpu_s / static_cast<double>(replies) * 1e6 : 0;
}

namespace {

std::int64_t now_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

constexpr std::int64_t kForever = INT64_MAX / 2;

// What every thread shares: the clock of the run and the stop signal.
struct Timeline {
    std::atomic<std::int64_t> start{0};          // first request
    std::atomic<std::int64_t> window_start{kForever};
    std::atomic<std::int64_t> window_end{kForever};
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> measured{0};        // correct replies in the window, all threads
    std::atomic<int> busy{0};                      // open connections that send requests, all threads
    std::uint64_t limit = 0;                       // --requests
    std::latch connected;
    std::latch go{1};
    explicit Timeline(int threads) : connected(threads) {}
};

enum class Kind { main, hog, idle };

struct Pending {
    std::int64_t intended;  // when it should have been sent (closed loop: when it was)
    std::int64_t sent;
};

struct Conn {
    Kind kind = Kind::main;
    Fd fd;
    bool open = false;
    bool want_write = false;
    bool served = false;
    std::string_view request;   // "1\n"
    std::string_view expected;  // "1"
    std::deque<Pending> pending;
    std::string in;
    std::string out;
    std::size_t out_off = 0;
    std::int64_t next_due = 0;  // open loop
};

// One client thread: its own epoll, connections and statistics; merged at the end.
class Worker {
public:
    Worker(const LoadConfig& cfg, Timeline& tl) : cfg_(cfg), tl_(tl), ep_(::epoll_create1(EPOLL_CLOEXEC)) {}

    void add(Kind kind, std::string_view request, std::string_view expected, std::int64_t stagger) {
        auto c = std::make_unique<Conn>();
        c->kind = kind;
        c->request = request;
        c->expected = expected;
        c->next_due = stagger;
        conns_.push_back(std::move(c));
    }

    void run() {
        // Timers may fire up to 50 µs late by default (timer slack); open-loop sends need better.
        ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
        connect_all();
        tl_.connected.count_down();
        tl_.go.wait();
        start_sending();
        loop();
        for (auto& c : conns_) c->fd.reset();
    }

    // Results (read after join).
    ClassStats main, hog;
    Errors errors;
    int established = 0, refused = 0, connect_timeout = 0, connect_failed = 0;
    std::uint64_t sent = 0, late = 0;

    // Progress, read by the main thread while running.
    std::atomic<std::uint64_t> progress_errors{0};
    Histogram published;  // a copy of main.latency, refreshed about once a second
    std::mutex published_mu;

private:
    ClassStats& stats_of(const Conn& c) { return c.kind == Kind::hog ? hog : main; }

    void watch(Conn& c, std::uint32_t events, int op) {
        epoll_event ev{};
        ev.events = events;
        ev.data.ptr = &c;
        ::epoll_ctl(ep_.get(), op, c.fd.get(), &ev);
    }

    void connect_all();
    void start_sending();
    void loop();
    void on_readable(Conn& c);
    void on_line(Conn& c, std::string_view line, std::int64_t now);
    void send_requests(Conn& c, int count, std::int64_t intended);
    void flush(Conn& c);
    void drop(Conn& c, std::uint64_t Errors::*counter);
    void check_timeouts(std::int64_t now);
    void publish();

    const LoadConfig& cfg_;
    Timeline& tl_;
    Fd ep_;
    std::vector<std::unique_ptr<Conn>> conns_;
    std::int64_t last_publish_ = 0;
};

// Non-blocking connects, at most kBatch in flight, so no listen backlog overflows.
void Worker::connect_all() {
    constexpr std::size_t kBatch = 128;
    addrinfo hints{}, *ai = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    std::string port = std::to_string(cfg_.port);
    if (::getaddrinfo(cfg_.host.c_str(), port.c_str(), &hints, &ai) != 0 || ai == nullptr) {
        connect_failed = static_cast<int>(conns_.size());
        return;
    }
    auto deadline = now_ns() + static_cast<std::int64_t>(cfg_.timeout_s * 1e9);
    std::size_t next = 0, in_flight = 0;
    std::vector<epoll_event> events(kBatch);
    while ((next < conns_.size() || in_flight > 0) && now_ns() < deadline) {
        for (; next < conns_.size() && in_flight < kBatch; ++next) {
            Conn& c = *conns_[next];
            c.fd.reset(::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
            set_nodelay(c.fd.get());
            if (::connect(c.fd.get(), ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
                watch(c, EPOLLOUT, EPOLL_CTL_ADD);
                ++in_flight;
            } else {
                (errno == ECONNREFUSED ? refused : connect_failed)++;
                c.fd.reset();
            }
        }
        int n = ::epoll_wait(ep_.get(), events.data(), static_cast<int>(events.size()), 100);
        for (int i = 0; i < n; ++i) {
            Conn& c = *static_cast<Conn*>(events[i].data.ptr);
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
            --in_flight;
            if (err == 0) {
                c.open = true;
                ++established;
                if (c.kind != Kind::idle) tl_.busy.fetch_add(1);  // before any thread can drop one
                watch(c, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
            } else {
                (err == ECONNREFUSED ? refused : connect_failed)++;
                c.fd.reset();
            }
        }
    }
    ::freeaddrinfo(ai);
    for (auto& c : conns_) {
        if (c->fd && !c->open) {  // still connecting at the deadline
            ++connect_timeout;
            c->fd.reset();
        }
    }
    connect_timeout += static_cast<int>(conns_.size() - next);
}

void Worker::start_sending() {
    std::int64_t start = tl_.start.load();
    for (auto& c : conns_) {
        if (!c->open) continue;
        if (c->kind == Kind::idle) continue;
        ++stats_of(*c).clients;
        if (c->kind == Kind::hog) {
            send_requests(*c, 1, start);
        } else if (c->kind == Kind::main) {
            if (cfg_.rate > 0) {
                c->next_due += start;
            } else {
                send_requests(*c, cfg_.pipeline, start);
            }
        }
    }
}

void Worker::send_requests(Conn& c, int count, std::int64_t intended) {
    std::int64_t now = now_ns();
    for (int i = 0; i < count; ++i) {
        c.out.append(c.request);
        c.pending.push_back({intended == 0 ? now : intended, now});
    }
    flush(c);
}

void Worker::flush(Conn& c) {
    while (c.out_off < c.out.size()) {
        ssize_t n = ::send(c.fd.get(), c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c.out_off += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c.want_write) watch(c, EPOLLIN | EPOLLRDHUP | EPOLLOUT, EPOLL_CTL_MOD);
            c.want_write = true;
            return;
        }
        drop(c, &Errors::reset);
        return;
    }
    c.out.clear();
    c.out_off = 0;
    if (c.want_write) watch(c, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
    c.want_write = false;
}

void Worker::drop(Conn& c, std::uint64_t Errors::*counter) {
    if (!c.open) return;
    c.open = false;
    c.fd.reset();
    c.pending.clear();
    if (!tl_.stop.load(std::memory_order_relaxed)) {  // once the run is over, a close is no error
        if (c.kind == Kind::idle) counter = &Errors::idle_closed;
        ++(errors.*counter);
        if (c.kind != Kind::idle) progress_errors.fetch_add(1, std::memory_order_relaxed);
    }
    // The last connection that sends requests is gone: nothing is left to measure, so the run
    // ends (without this a --requests run against a dead server would never end).
    if (c.kind != Kind::idle && tl_.busy.fetch_sub(1) == 1 && !tl_.stop.load()) {
        tl_.window_end.store(std::min(tl_.window_end.load(), now_ns()));
        tl_.stop.store(true);
    }
}

void Worker::on_readable(Conn& c) {
    char buf[16384];
    for (;;) {
        ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n == 0) return drop(c, &Errors::closed);
        if (n < 0) return drop(c, &Errors::reset);
        if (c.kind == Kind::idle) continue;  // e.g. "error: server full"; the close will follow
        std::int64_t now = now_ns();
        c.in.append(buf, static_cast<std::size_t>(n));
        std::size_t start = 0;
        for (std::size_t nl; (nl = c.in.find('\n', start)) != std::string::npos; start = nl + 1) {
            on_line(c, std::string_view(c.in).substr(start, nl - start), now);
            if (!c.open) return;
        }
        c.in.erase(0, start);
        if (c.in.size() > 64) {  // no reply is that long
            return drop(c, &Errors::malformed);
        }
        if (static_cast<std::size_t>(n) < sizeof buf) return;
    }
}

void Worker::on_line(Conn& c, std::string_view line, std::int64_t now) {
    if (c.pending.empty()) {
        ++errors.malformed;  // a reply nobody asked for
        progress_errors.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    Pending p = c.pending.front();
    c.pending.pop_front();
    if (line == c.expected) {
        std::int64_t ws = tl_.window_start.load(std::memory_order_relaxed);
        if (now >= ws && now < tl_.window_end.load(std::memory_order_relaxed)) {
            ClassStats& s = stats_of(c);
            ++s.replies;
            s.latency.record(static_cast<std::uint64_t>(now - p.intended));
            s.latency_uncorrected.record(static_cast<std::uint64_t>(now - p.sent));
            if (!c.served) {
                c.served = true;
                ++s.served;
                s.first_reply.record(static_cast<std::uint64_t>(now - ws));
            }
            std::uint64_t total = c.kind == Kind::main ? tl_.measured.fetch_add(1, std::memory_order_relaxed) + 1 : 0;
            if (tl_.limit > 0 && total == tl_.limit) {
                tl_.window_end.store(now);
                tl_.stop.store(true);
            }
        }
    } else {
        bool digits = !line.empty() && line.find_first_not_of("0123456789") == std::string_view::npos;
        if (line.rfind("error: ", 0) == 0) {
            ++errors.error_reply;
        } else if (digits) {
            ++errors.wrong;
        } else {
            ++errors.malformed;
        }
        progress_errors.fetch_add(1, std::memory_order_relaxed);
    }
    bool closed_loop = c.kind == Kind::hog || cfg_.rate <= 0;
    if (closed_loop && !tl_.stop.load(std::memory_order_relaxed)) send_requests(c, 1, 0);
}

void Worker::check_timeouts(std::int64_t now) {
    auto limit = static_cast<std::int64_t>(cfg_.timeout_s * 1e9);
    for (auto& c : conns_) {
        if (c->open && !c->pending.empty() && now - c->pending.front().sent > limit) drop(*c, &Errors::timeout);
    }
}

void Worker::publish() {
    std::lock_guard lock(published_mu);
    published = main.latency;
}

void Worker::loop() {
    std::vector<epoll_event> events(512);
    std::int64_t interval = cfg_.rate > 0 ? static_cast<std::int64_t>(1e9 * cfg_.clients / cfg_.rate) : 0;
    std::int64_t next_check = now_ns() + 100'000'000;
    while (!tl_.stop.load(std::memory_order_relaxed)) {
        std::int64_t now = now_ns();
        std::int64_t end = tl_.window_end.load(std::memory_order_relaxed);
        if (now >= end) break;
        std::int64_t wake = std::min(end, next_check);
        if (interval > 0) {
            for (auto& c : conns_) {
                if (c->open && c->kind == Kind::main) wake = std::min(wake, c->next_due);
            }
        }
        std::int64_t wait = std::max<std::int64_t>(0, wake - now);
        timespec ts{wait / 1'000'000'000, wait % 1'000'000'000};
        int n = ::epoll_pwait2(ep_.get(), events.data(), static_cast<int>(events.size()), &ts, nullptr);
        for (int i = 0; i < n; ++i) {
            Conn& c = *static_cast<Conn*>(events[i].data.ptr);
            if (!c.open) continue;
            if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) on_readable(c);
            if (c.open && (events[i].events & EPOLLOUT)) flush(c);
        }
        now = now_ns();
        if (interval > 0) {
            std::int64_t ws = tl_.window_start.load(std::memory_order_relaxed);
            for (auto& c : conns_) {
                if (c->kind != Kind::main) continue;
                while (c->open && c->next_due <= now) {
                    if (c->next_due >= ws) {
                        ++sent;
                        if (now - c->next_due > 1'000'000) ++late;  // more than 1 ms behind schedule
                    }
                    send_requests(*c, 1, c->next_due);
                    c->next_due += interval;
                }
            }
        }
        if (now >= next_check) {
            check_timeouts(now);
            next_check = now + 100'000'000;
            if (cfg_.progress != LoadConfig::Progress::none && now - last_publish_ > 900'000'000) {
                publish();
                last_publish_ = now;
            }
        }
    }
}

// The expected reply, computed independently of the servers' recursion (and instantly).
std::string expected_reply(unsigned n) {
    std::uint64_t a = 0, b = 1;
    for (unsigned i = 0; i < n; ++i) b = std::exchange(a, b) + b;
    return std::to_string(a);
}


// "  3.0 s   120,345 replies/s   p99 45 us   0 errors", rewritten in place on a terminal.
class Progress {
public:
    Progress(std::vector<std::unique_ptr<Worker>>& workers, const Timeline& tl, bool live)
        : workers_(workers), tl_(tl), start_(live ? "\r" : ""), end_(live ? "" : "\n") {}

    void print(std::int64_t now) {
        Histogram merged;
        std::uint64_t errors = 0;
        for (auto& w : workers_) {
            std::lock_guard lock(w->published_mu);
            merged.merge(w->published);
            errors += w->progress_errors.load(std::memory_order_relaxed);
        }
        std::uint64_t replies = tl_.measured.load(std::memory_order_relaxed);
        double elapsed = static_cast<double>(now - tl_.window_start.load()) / 1e9;
        if (last_time_ == 0) last_time_ = tl_.window_start.load();  // the first line counts from the window start
        double rate = now > last_time_ ? static_cast<double>(replies - last_replies_) * 1e9 / static_cast<double>(now - last_time_) : 0;
        if (elapsed < 0) {
            std::fprintf(stderr, "%s  warming up ...%s", start_, end_);
        } else {
            std::fprintf(stderr, "%s  %5.1f s  %10.0f replies/s  p99 %8.1f us  %llu errors   %s", start_, elapsed, rate,
                         static_cast<double>(merged.percentile(99)) / 1e3, static_cast<unsigned long long>(errors), end_);
        }
        last_replies_ = replies;
        last_time_ = now;
    }
    void done() {
        if (*start_ != '\0') std::fprintf(stderr, "\r%70s\r", "");
    }

private:
    std::vector<std::unique_ptr<Worker>>& workers_;
    const Timeline& tl_;
    const char* start_;
    const char* end_;
    std::uint64_t last_replies_ = 0;
    std::int64_t last_time_ = 0;
};

}  // namespace

LoadResult run_load(const LoadConfig& cfg) {
    if (cfg.clients < 0 || cfg.hog < 0 || cfg.idle < 0 || cfg.threads < 1 || cfg.pipeline < 1) {
        throw std::invalid_argument("clients, hog and idle must be >= 0; threads and pipeline >= 1");
    }
    raise_fd_limit();
    LoadResult r;
    r.config = cfg;
    r.requested = cfg.clients + cfg.hog + cfg.idle;

    // Requests and expected replies are prepared once.
    const std::string request = std::to_string(cfg.fib_n) + "\n", expected = expected_reply(cfg.fib_n);
    const std::string hog_request = std::to_string(cfg.hog_n) + "\n";
    const std::string hog_expected = expected_reply(cfg.hog_n);

    int threads = std::max(1, std::min(cfg.threads, std::max(1, r.requested)));
    Timeline tl(threads);
    tl.limit = cfg.requests;
    std::vector<std::unique_ptr<Worker>> workers;
    for (int t = 0; t < threads; ++t) workers.push_back(std::make_unique<Worker>(cfg, tl));
    // Measured clients first, so a server that serves in arrival order (the blocking one) serves them.
    std::int64_t interval = cfg.rate > 0 ? static_cast<std::int64_t>(1e9 * cfg.clients / cfg.rate) : 0;
    int i = 0;
    for (int c = 0; c < cfg.clients; ++c, ++i) {
        std::int64_t stagger = cfg.clients > 0 ? interval * c / cfg.clients : 0;
        workers[i % threads]->add(Kind::main, request, expected, stagger);
    }
    for (int c = 0; c < cfg.hog; ++c, ++i) workers[i % threads]->add(Kind::hog, hog_request, hog_expected, 0);
    for (int c = 0; c < cfg.idle; ++c, ++i) workers[i % threads]->add(Kind::idle, "", "", 0);

    std::vector<std::thread> running;
    for (auto& w : workers) running.emplace_back([&w] { w->run(); });
    tl.connected.wait();

    std::int64_t start = now_ns();
    auto ns = [](double s) { return static_cast<std::int64_t>(s * 1e9); };
    tl.start = start;
    tl.window_start = start + ns(cfg.warmup_s);
    tl.window_end = cfg.requests > 0 ? kForever : start + ns(cfg.warmup_s + cfg.duration_s);
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
        r.established += w->established;
        r.refused += w->refused;
        r.connect_timeout += w->connect_timeout;
        r.connect_failed += w->connect_failed;
        r.sent += w->sent;
        r.late += w->late;
    }
    r.client_cpu_s = client_cpu1 - client_cpu0;
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
