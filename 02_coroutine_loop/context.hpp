// What the tasks of fib-loop share: the options, the loop, the workers, the clients' seats. Both
// handlers use it: Step 3's (main.cpp, co_yield) and Step 4's (handler_await.cpp, co_await).
#pragma once
#include <array>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "loop.hpp"
#include "seats.hpp"
#include "setup.hpp"
#include "workers.hpp"

namespace fibs::loop {

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

// What every task of one loop shares. It owns the loop, so it outlives every task frame: the loop
// frees the frames that still wait when it is destroyed, and each gives its Seat back.
struct Context {
    Context(Shared& s, std::unique_ptr<Poller> poller)
        : opts(s.opts), seats(s.seats), full(s.full), workers(s.workers), refusals(s.refusals),
          loop(std::move(poller), &s.refusals) {}

    const Options& opts;
    Seats& seats;
    const std::string& full;
    Workers& workers;
    RefusalLog& refusals;
    // The read buffer of every handler: what recv() puts there is fed to the framer before the
    // next co_yield, so an idle connection's frame needs no buffer of its own.
    std::array<char, 4096> buf{};
    Pause pause;  // the accept task's, when no descriptor is left (setup.hpp)
    Loop loop;
    // Step 5 (loops.cpp): " (loop 2)" at the end of each Connection line, and with --spread
    // handoff, the loops that this loop's accept task hands new clients to in turn.
    std::string name;
    std::vector<Context*> hand_to;
    std::size_t next = 0;
};

// tasks.append(fib_handler(client)), on the loop that will serve the client (main.cpp).
void welcome(Context& ctx, Fd client, Seat seat, const std::string& addr);

// Step 4's handler, as a Task the loop runs like any other (handler_await.cpp).
Task await_handler(Fd client, Seat seat, Context& ctx);

}  // namespace fibs::loop
