// fib-loop's plumbing, kept apart from the lesson (main.cpp): the options, what the loops share,
// what is opened before they run, and what a failed task costs. Nothing here is the article.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "listener.hpp"
#include "net.hpp"
#include "server.hpp"
#include "task.hpp"
#include "workers.hpp"

namespace fibs::loop {

enum class Backend { select, poll, epoll, io_uring };
enum class Handler { yield, await };  // Step 3's handler (co_yield), or Step 4's (co_await)
// Step 5, how new clients reach the loops: one loop takes them all; a listening socket per loop
// (the kernel picks); one accept task hands them out in turn; every loop watches one socket.
enum class Spread { one, reuseport, handoff, shared };

struct Options : ServerOptions {
    Backend backend = Backend::epoll;
    Handler handler = Handler::yield;
    int workers = 0;
    unsigned offload_min = 25;
    int loops = 1;  // Step 5: loops, each on a thread of its own
    Spread spread = Spread::one;
    bool one_queue = false;  // Step 6: the loops' threads share one queue (one_queue.hpp)
};
const char* name_of(Backend backend);
const char* name_of(Spread spread);

// The command line. --help, and a bad flag with its message, exit here (as CLI11_PARSE does).
Options parse_options(int argc, char** argv);

// What the whole server shares, however many loops it runs (Step 5).
struct Shared {
    Shared(const Options& o, int max_clients, std::string why_full)
        : opts(o), seats(max_clients, std::move(why_full)), workers(o.workers, o.offload_min) {}
    // A task that failed (Loop::Failed). A client's costs that client alone: its frame is freed,
    // closing its socket and giving back its seat. The log says why: once for each kind of
    // refusal (no memory, a watch the kernel refused), at each failure otherwise. One of the
    // server's own tasks (it has a name) cannot be done without: this throws, the server ends.
    void failed(const Task& task, const std::exception& why);

    const Options& opts;
    Seats seats;          // --max-clients holds for the server as a whole
    Workers workers;      // with --workers 0 it has no threads and takes no request
    RefusalLog refusals;  // "refusing clients: <why>", once for the server
};

struct Context;
class OneQueue;

// Everything fib-loop opens before its loops run, in order: the stop pipe (common/stop.hpp), the
// listening sockets, what the loops share, each loop with its poller (through the failpoint).
struct Started {
    Started();
    Started(Started&&) noexcept;
    ~Started();
    // Every loop until the stop: one, or Step 5's N (run_loops, loops.cpp). `ready` runs once all
    // have started.
    void run(const std::function<void()>& ready);
    Fd stop;                                  // readable from the first SIGINT, SIGTERM or SIGHUP on
    std::unique_ptr<Shared> shared;
    std::vector<std::unique_ptr<Context>> loops;
    std::unique_ptr<OneQueue> one_queue;      // Step 6, with --one-queue: runs every task instead of the loops
    std::string about;                        // for the Listening line: "epoll, up to 19,984 clients"
    std::shared_ptr<void> failpoint;          // what FIBS_FAULTS holds, if anything
};
// Each loop's clients get `handler` (Step 3's), or with --handler await, Step 4's. Throws
// std::exception with a one-line reason ("eventfd: Too many open files"); a port that is taken
// exits 1 with its own line, as on every server.
Started start(const Options& opts, Task (*handler)(Client, Context&));

}  // namespace fibs::loop
