// fib-loop's plumbing, kept apart from the lesson (main.cpp): the options, what is opened before
// the loop runs, the client limit, the words of the Listening line, and the failpoint that the
// tests switch on (faults.hpp). Nothing here is the article.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "net.hpp"
#include "seats.hpp"
#include "server.hpp"
#include "workers.hpp"

namespace fibs::loop {

struct Options : ServerOptions {
    std::string backend = "epoll";
    std::string handler = "yield";  // Step 3's handler (co_yield), or Step 4's (co_await)
    int workers = 0;
    unsigned offload_min = 25;
    int loops = 1;        // Step 5: loops, each on a thread of its own (0: one per core)
    std::string spread;   // Step 5: how new clients reach the loops: reuseport, handoff or shared
};

// The command line. --help, and a bad flag with its message, exit here (as CLI11_PARSE does).
Options parse_options(int argc, char** argv);

// The accept task's pause when no descriptor is left: a one-shot timer, made at start-up because
// by then none may be left to make one.
class Pause {
public:
    Pause();                                     // throws std::system_error
    int start(std::chrono::nanoseconds after);  // the timer's fd, readable `after` from now
    void end();                                  // takes the expiry: not readable any more

private:
    Fd timer_;
};

// What the whole server shares, however many loops it runs (Step 5): the options, the clients'
// seats (--max-clients holds for the server as a whole) and the worker pool.
struct Shared {
    Shared(const Options& o, int max_clients, std::string why_full)
        : opts(o), seats(max_clients), full(std::move(why_full)), workers(o.workers, o.offload_min) {}
    const Options& opts;
    Seats seats;       // all taken: a new client is refused, and the log says `full`
    std::string full;  // "--max-clients reached", "out of file descriptors", ...
    Workers workers;   // with --workers 0 it has no threads and takes no request
    RefusalLog refusals;  // "refusing clients: <why>", once for the server
};

struct Context;

// Everything fib-loop opens before its loops run, in order: the stop pipe (common/stop.hpp), the
// listening sockets, what the loops share, each loop with its poller (through the failpoint), the
// Listening line. One loop unless --loops N (Step 5).
struct Started {
    Started();
    Started(Started&&) noexcept;
    ~Started();
    Fd stop;                                     // readable from the first SIGINT or SIGTERM on
    std::vector<Fd> listeners;                   // by loop: listening, non-blocking; none for a loop
                                                 // that is handed its clients (--spread handoff)
    std::unique_ptr<Shared> shared;
    std::vector<std::unique_ptr<Context>> loops;
    std::shared_ptr<void> failpoint;             // what FIBS_FAULTS holds, if anything
};
// Throws std::exception with a one-line reason ("eventfd: Too many open files"); a port that is
// taken exits 1 with its own line, as on every server.
Started start(const Options& opts);

}  // namespace fibs::loop
