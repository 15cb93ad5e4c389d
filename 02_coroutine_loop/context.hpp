// What the tasks of fib-loop share: the options, the loop, the workers, the count of clients. Both
// handlers use it: Step 3's (main.cpp, co_yield) and Step 4's (handler_await.cpp, co_await).
#pragma once
#include <sys/timerfd.h>

#include <array>
#include <memory>
#include <string>
#include <utility>

#include "loop.hpp"
#include "server.hpp"
#include "workers.hpp"

namespace fibs::loop {

struct Options : ServerOptions {
    std::string backend = "epoll";
    std::string handler = "yield";  // Step 3's handler (co_yield), or Step 4's (co_await)
    int workers = 0;
    unsigned offload_min = 25;
};

// What every task shares. It owns the loop, so it outlives every task frame: the loop frees the
// frames that still wait when it is destroyed, and a frame's Leave counts its client out here.
// Members are destroyed last to first: the workers stop (a running job writes into a waiting
// frame), then the loop frees the frames, then the rest.
struct Context {
    Context(const Options& o, std::unique_ptr<Poller> poller, std::pair<int, std::string> limit)
        : opts(o), max_clients(limit.first), full(std::move(limit.second)), loop(std::move(poller)),
          workers(o.workers, o.offload_min) {}

    const Options& opts;
    int max_clients;  // past it a new client is refused, saying `full`
    std::string full;
    int clients = 0;  // handlers alive
    // The read buffer of every handler: what recv() puts there is fed to the framer before the
    // next co_yield, so an idle connection's frame needs no buffer of its own.
    std::array<char, 4096> buf{};
    // The accept task's short pause when no descriptor is left, made now: by then none may be.
    Fd pause{::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)};
    Loop loop;
    Workers workers;  // with --workers 0 it has no threads and takes no request
};

// Counts a client out when its handler's frame is freed, however the task ends.
struct Leave {
    int& clients;
    ~Leave() { --clients; }
};

// Step 4's handler, as a Task the loop runs like any other (handler_await.cpp).
Task await_handler(Fd client, Context& ctx);

}  // namespace fibs::loop
