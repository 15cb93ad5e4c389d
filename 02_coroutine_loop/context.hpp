// What the tasks of fib-loop share: the options, the loop, the workers, the clients' seats. Both
// handlers use it: Step 3's (main.cpp, co_yield) and Step 4's (handler_await.cpp, co_await).
#pragma once
#include <array>
#include <memory>
#include <string>
#include <utility>

#include "loop.hpp"
#include "seats.hpp"
#include "setup.hpp"
#include "workers.hpp"

namespace fibs::loop {

// What every task shares. It owns the loop, so it outlives every task frame: the loop frees the
// frames that still wait when it is destroyed, and each gives its Seat back here.
struct Context {
    Context(const Options& o, std::unique_ptr<Poller> poller, int max_clients, std::string why_full)
        : opts(o), seats(max_clients), full(std::move(why_full)), loop(std::move(poller)),
          workers(o.workers, o.offload_min) {}

    const Options& opts;
    Seats seats;       // all taken: a new client is refused, and the log says `full`
    std::string full;  // "--max-clients reached", "out of file descriptors", ...
    // The read buffer of every handler: what recv() puts there is fed to the framer before the
    // next co_yield, so an idle connection's frame needs no buffer of its own.
    std::array<char, 4096> buf{};
    Pause pause;  // the accept task's, when no descriptor is left (setup.hpp)
    Loop loop;
    Workers workers;  // with --workers 0 it has no threads and takes no request
};

// Step 4's handler, as a Task the loop runs like any other (handler_await.cpp).
Task await_handler(Fd client, Seat seat, Context& ctx);

}  // namespace fibs::loop
