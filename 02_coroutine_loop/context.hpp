// What the tasks of fib-loop share: the options, the loop, the workers, the clients' seats. Both
// handlers use it: Step 3's (main.cpp, co_yield) and Step 4's (handler_await.cpp, co_await).
#pragma once
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "loop.hpp"
#include "seats.hpp"
#include "setup.hpp"

namespace fibs::loop {

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
