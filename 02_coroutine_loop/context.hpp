// What the tasks of one loop share: the loop, what the whole server shares (Shared, setup.hpp),
// and the loop's listening socket. Both handlers use it: Step 3's (main.cpp, co_yield) and
// Step 4's (handler_await.cpp, co_await).
#pragma once
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "listener.hpp"
#include "loop.hpp"
#include "setup.hpp"

namespace fibs::loop {

// It owns the loop, so it outlives every task frame: the loop frees the frames that still wait
// when it is destroyed, and each gives its Client's seat back.
struct Context {
    Context(Shared& s, std::unique_ptr<Poller> poller)
        : shared(s), loop(std::move(poller), [&s](const Task& task, const std::exception& why) { s.failed(task, why); }) {}

    Shared& shared;  // the options, the seats, the workers, the refusal log
    // The read buffer of every handler: what recv() puts there is heard by the Conversation before
    // the next wait, so an idle connection's frame needs no buffer of its own.
    std::array<char, 4096> buf{};
    std::optional<Listener> listener;  // none on a loop that is handed its clients (Step 5, handoff)
    Loop loop;
    // Step 5 (loops.cpp): " (loop 2)" at the end of each Connection line, and with --spread
    // handoff, the loops that this loop's accept task hands new clients to in turn.
    std::string name;
    std::vector<Context*> hand_to;
    std::size_t next = 0;
};

// tasks.append(fib_handler(client)), on the loop that will serve the client (main.cpp).
void welcome(Context& ctx, Client client);

// Step 4's handler, as a Task the loop runs like any other (handler_await.cpp).
Task await_handler(Client client, Context& ctx);

}  // namespace fibs::loop
