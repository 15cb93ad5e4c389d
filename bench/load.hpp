// The load engine behind `fib-bench run`: opens the connections, drives requests over epoll,
// checks every reply and measures what the server did.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "histogram.hpp"
#include "machine_probe.hpp"

namespace fibs::bench {

struct LoadConfig {
    std::string host = "127.0.0.1";
    std::uint16_t port = 25000;
    int clients = 8;
    double duration_s = 5;      // measured window, unless `requests` ends it first
    std::uint64_t requests = 0;  // > 0: stop after this many measured replies
    double warmup_s = 1;        // connections stay open; nothing before it is counted
    unsigned fib_n = 1;
    int hog = 0;                // extra clients looping on fib(hog_n), reported apart
    unsigned hog_n = 35;
    int idle = 0;               // extra connections that send nothing
    int flood = 0;              // extra connections that write fib(flood_n) requests and never read
    unsigned flood_n = 20;
    double rate = 0;            // > 0: open loop, requests/s over all clients on a fixed schedule
    int pipeline = 1;           // requests in flight per connection (closed loop); refilled in batches
    bool batch = false;         // with pipeline: send `pipeline` requests, wait for every reply, then
                                // send the next batch (a client that waits for a whole batch)
    int windows = 1;            // > 1: the window cut into this many equal parts, each with its own latency
                                // (the latency curve's median p99 and spread: docs/bench.md)
    double timeout_s = 10;      // per reply, and per connect
    int threads = 1;
    pid_t server_pid = 0;       // > 0: read its CPU time and memory from /proc
    std::size_t trace = 0;      // > 0: keep the first `trace` requests of the window as slices
    enum class Progress { none, plain, live };
    Progress progress = Progress::none;  // once a second on stderr: a rewritten line, or plain lines
};

// Latency and counts for one class of client (the measured ones, or the hogs).
struct ClassStats {
    int clients = 0;
    int served = 0;                // got at least one reply in the window
    std::uint64_t replies = 0;     // correct replies in the window
    Histogram latency;             // ns; with --rate: from the intended send time
    Histogram latency_uncorrected; // ns; with --rate: from the actual send time
    Histogram first_reply;         // ns from the window start to each served client's first reply
    std::vector<Histogram> windows;  // with config.windows > 1: `latency` again, one per part of the window
    void merge(const ClassStats& o);
};

struct Errors {
    std::uint64_t wrong = 0;          // a number, but not the reply to the request it answers
    std::uint64_t error_reply = 0;    // "error: ..." from the server
    std::uint64_t malformed = 0;      // neither
    std::uint64_t reset = 0;          // connection reset or broken pipe
    std::uint64_t closed = 0;         // the server closed a connection that was still in use
    std::uint64_t timeout = 0;        // no reply within --timeout
    std::uint64_t unanswered = 0;     // still without a reply --timeout after the window closed
    std::uint64_t idle_closed = 0;    // idle connections the server closed after accepting them
    std::string first_error;          // the first "error: ..." line, as the server sent it
    std::uint64_t total() const { return wrong + error_reply + malformed + reset + closed + timeout + unanswered; }
    void merge(const Errors& o);
};

// What became of every connection asked for: each is counted once, and the kinds add up to
// `requested` (established + refused + refused_by_server + timed_out + failed).
struct Connections {
    int requested = 0;
    int established = 0;        // connected and not refused
    int refused = 0;            // by the kernel: ECONNREFUSED
    int refused_by_server = 0;  // accepted, told "error: server full", closed
    int timed_out = 0;          // still connecting after --timeout
    int failed = 0;             // any other error
    int total() const { return established + refused + refused_by_server + timed_out + failed; }
    void merge(const Connections& o);
};

// One request of the window, for --trace and compare's timeline: which client, sent and answered
// when (ns from the window's start).
struct Slice {
    int client;  // 0..clients-1 the measured ones, then the hogs
    std::int64_t sent, answered;
};

struct LoadResult {
    LoadConfig config;
    Connections connections;  // all kinds
    ClassStats main, hog;
    Errors errors;
    double window_s = 0;
    // Open loop only: the requests due in the window (each sent, late or not), and how many of
    // them went out more than 1 ms after they were due.
    std::uint64_t sent = 0, late = 0;
    // The client itself (without the probe), and how late a sleeping thread woke meanwhile.
    double client_cpu_s = 0;
    MachineDelay machine;
    bool client_saturated = false;
    // The server, with server_pid.
    bool server_measured = false;
    std::string server_note;  // how the server was found, or why it was not measured
    std::vector<Slice> trace;  // with config.trace: the window's first requests, by answer time
    double server_cpu_s = 0;
    std::uint64_t server_rss_kib = 0, server_hwm_kib = 0;
    int server_threads = 0;

    double replies_per_s() const { return window_s > 0 ? static_cast<double>(main.replies) / window_s : 0; }
    double server_cpu_per_reply_us() const { return per_reply_us(server_cpu_s); }
    double client_cpu_per_reply_us() const { return per_reply_us(client_cpu_s); }
    double per_reply_us(double cpu_s) const;  // CPU seconds per reply (measured and hog), in µs
    Spread p99_by_window() const { return spread_of(main.windows, 99); }  // ns; zeros unless config.windows > 1
};

LoadResult run_load(const LoadConfig& config);

}  // namespace fibs::bench
