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

struct Context;
class OneQueue;
using HandlerFn = Task (*)(Client client, Context& ctx);
Task await_handler(Client client, Context& ctx);  // Step 4's handler, a Task like any other (handler_await.cpp)
// tasks.append(fib_handler(client)) on this loop, or a refusal (main.cpp).
void welcome(Context& ctx, Client client);
// Step 5's --spread handoff: the new client goes to the next loop in turn, which welcomes it (loops.cpp).
void hand_off(Context& ctx, Client client);

// The read buffer of every handler: what recv() puts there is heard by the Conversation before
// the next wait, so an idle connection's frame needs no buffer of its own. One per thread, asked
// for anew at each use: a loop runs on one thread (Step 5), but with Step 6 a task that waited on
// one thread may be resumed on another.
struct ReadBuffer {
    char* data() const { return mine.data(); }
    std::size_t size() const { return mine.size(); }
    static inline thread_local std::array<char, 4096> mine{};
};

// It owns the loop, so it outlives every task frame: the loop frees the frames that still wait
// when it is destroyed, and each gives its Client's seat back.
struct Context {
    Context(Shared& s, std::unique_ptr<Poller> poller, HandlerFn h)
        : shared(s), loop(std::move(poller), [&s](const Task& task, const std::exception& why) { s.failed(task, why); }), handler(h) {}

    // A client the accept task took: welcomed here, or with Step 5's --spread handoff, on the next
    // loop in turn.
    void admit(Client client) { (hand_to.empty() ? welcome : hand_off)(*this, std::move(client)); }
    // loop.add(fd) and loop.spawn(task), or with Step 6 (--one-queue) the one queue's.
    std::string add(int fd);
    void spawn(Task task);

    Shared& shared;  // the options, the seats, the workers, the refusal log
    ReadBuffer buf;
    std::optional<Listener> listener;  // none on a loop that is handed its clients (Step 5, handoff)
    Loop loop;
    // Step 5 (loops.cpp): " (loop 2)" at the end of each Connection line, and with --spread
    // handoff, the loops that this loop's accept task hands new clients to in turn.
    std::string name;
    std::vector<Context*> hand_to;
    std::size_t next = 0;
    // What a welcomed client gets: Step 3's fib_handler, or with --handler await, Step 4's.
    HandlerFn handler;
    OneQueue* one_queue = nullptr;  // Step 6: every thread's tasks in one queue (one_queue.hpp)
};

}  // namespace fibs::loop
