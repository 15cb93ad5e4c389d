// The connection engine behind `fib-bench run`: one client thread with its own epoll drives its
// share of the connections, checks every reply and records what it measured.
#pragma once
#include <sys/epoll.h>

#include <atomic>
#include <ctime>
#include <cstdint>
#include <deque>
#include <latch>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "load.hpp"
#include "net.hpp"

namespace fibs::bench {

inline std::int64_t now_ns() {
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

    // Connects, waits for the go, then drives the connections until the run ends.
    void run();

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

}  // namespace fibs::bench
