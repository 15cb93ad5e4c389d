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
    std::atomic<std::size_t> traced{0};            // slices kept for --trace, all threads
    std::uint64_t limit = 0;                       // --requests
    std::latch connected;
    std::latch go{1};
    explicit Timeline(int threads) : connected(threads) {}
};


// main: measured clients; hog: clients looping on a slow fib, reported apart; idle: connected, send
// nothing; flood: write requests without end and never read a reply.
enum class Kind { main, hog, idle, flood };

// What a connection asks, and the reply it expects. Where several requests can be in flight, a
// connection mixes two requests whose replies differ, so that a lost, extra or swapped reply puts
// the replies out of step with the requests, and the next check sees it.
struct Ask {
    std::string request[2];   // "1\n", "0\n"
    std::string expected[2];  // "1", "0"
};

struct Pending {
    std::int64_t intended;  // when it should have been sent (closed loop: when it was)
    std::int64_t sent;
    int which;              // Ask::request[which]
};

struct Conn {
    enum class State { connecting, open, closed };
    Kind kind = Kind::main;
    int id = 0;  // the client's number in traces
    State state = State::closed;
    Fd fd;
    bool want_write = false;
    bool served = false;
    bool heard = false;  // has the server sent anything yet (a refusal comes first)
    const Ask* ask = nullptr;
    // Which request comes next: the bits of a 16-bit maximal-length LFSR (period 65,535). Any run
    // of k lost (or extra) replies, 0 < k < 65,535, leaves the replies checked against a copy of
    // the sequence shifted by k, which differs from it in half of all places: the next few checks
    // see it. (Plain alternation, period 2, missed every even k.)
    std::uint16_t sequence = 0xACE1;
    int next_which() {
        int bit = sequence & 1;
        sequence = static_cast<std::uint16_t>((sequence >> 1) ^ (bit ? 0xB400u : 0u));
        return bit;
    }
    std::deque<Pending> pending;
    std::string in;
    std::string out;
    std::size_t out_off = 0;
    std::int64_t next_due = 0;  // open loop
    bool open() const { return state == State::open; }
};

// One client thread: its own epoll, connections and statistics; merged at the end.
class Worker {
public:
    Worker(const LoadConfig& cfg, Timeline& tl) : cfg_(cfg), tl_(tl), ep_(::epoll_create1(EPOLL_CLOEXEC)) {
        if (cfg.windows > 1) main.windows.resize(static_cast<std::size_t>(cfg.windows));  // the measured clients' only
    }

    void add(Kind kind, int id, const Ask* ask, std::int64_t stagger) {
        auto c = std::make_unique<Conn>();
        c->kind = kind;
        c->id = id;
        c->ask = ask;
        c->next_due = stagger;
        conns_.push_back(std::move(c));
    }

    // Connects, waits for the go, then drives the connections until the run ends.
    void run();

    // Results (read after join).
    ClassStats main, hog;
    Errors errors;
    Connections connections;
    std::uint64_t sent = 0, late = 0;
    std::vector<Slice> trace;

    // Progress, read by the main thread while running.
    std::atomic<std::uint64_t> progress_errors{0};
    Histogram published;  // a copy of main.latency, refreshed about once a second
    std::mutex published_mu;

private:
    ClassStats& stats_of(const Conn& c) { return c.kind == Kind::hog ? hog : main; }
    bool closed_loop(const Conn& c) const { return c.kind == Kind::hog || (c.kind == Kind::main && cfg_.rate <= 0); }

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
    bool on_line(Conn& c, std::string_view line, std::int64_t now);
    void send_requests(Conn& c, int count, std::int64_t intended);
    void flush(Conn& c);
    void flood(Conn& c);
    void close(Conn& c);
    void start_draining(std::int64_t now);
    void send_due(std::int64_t until, std::int64_t interval);
    bool drained(const Conn& c) const;
    void drop(Conn& c, std::uint64_t Errors::*counter);
    void refused_by_server(Conn& c);
    void check_timeouts(std::int64_t now);
    void publish();

    const LoadConfig& cfg_;
    Timeline& tl_;
    Fd ep_;
    std::vector<std::unique_ptr<Conn>> conns_;
    std::int64_t last_publish_ = 0;
    bool draining_ = false;  // the window is over: no new request, waiting for the last replies
    std::int64_t drain_end_ = 0;
};

}  // namespace fibs::bench
