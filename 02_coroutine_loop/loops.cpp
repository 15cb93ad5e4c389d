// Step 5: a loop per core, as nginx, Envoy, Seastar and muduo run theirs.
//
// What each loop owns: its thread, its poller, its tasks (its accept task, future_monitor,
// stop_watcher and its clients' handlers), its mailbox and its listener. A client's socket is
// watched by one poller only: its task never moves, and serving it touches no other loop.
//
// What the loops share (Shared, setup.hpp): the options; the seats, an atomic count, so that
// --max-clients holds for the server; the worker pool (with --workers), whose results come back
// to the mailbox of the loop that asked; the stop pipe, which stays readable and wakes them all.
//
// How new clients reach the loops (--spread): reuseport, a listening socket per loop on one port
// (SO_REUSEPORT), and the kernel picks a socket, so a loop, by a hash of the connection's
// addresses and ports; shared, one listening socket that every loop watches, and whichever loop
// accepts first takes the client; handoff, one accept task (the first loop's) that hands each
// client to the next loop in turn through that loop's mailbox.
#include "loops.hpp"

#include <exception>
#include <memory>
#include <new>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "one_queue.hpp"

namespace fibs::loop {

void run_loops(std::vector<std::unique_ptr<Context>>& loops, const std::function<void()>& ready) {
    std::vector<std::exception_ptr> failed(loops.size());  // each loop writes its own: no lock
    auto run = [&](std::size_t i) {
        try {
            loops[i]->loop.run();
        } catch (...) {
            failed[i] = std::current_exception();
        }
        for (auto& other : loops) other->loop.stop();  // one ends, all do: a flag, and its mailbox rung
    };
    std::vector<std::thread> threads;
    try {
        for (std::size_t i = 1; i < loops.size(); ++i) {
            try {
                threads.emplace_back(run, i);
            } catch (const std::system_error& e) {
                throw std::system_error(e.code(), "cannot start the thread of loop " + std::to_string(i + 1) +
                                                      " (ulimit -u, or memory: ulimit -v)");
            }
        }
        ready();
    } catch (...) {  // stop the loops that started, then say why
        for (auto& l : loops) l->loop.stop();
        for (auto& t : threads) t.join();
        throw;
    }
    run(0);
    for (auto& t : threads) t.join();
    for (auto& f : failed) {
        if (f) std::rethrow_exception(f);
    }
}

void Started::run(const std::function<void()>& ready) { one_queue ? one_queue->run(ready) : run_loops(loops, ready); }

// --spread handoff: a letter to the next loop, which welcomes the client (no memory: this one does).
void hand_off(Context& ctx, Client client) {
    Context& to = *ctx.hand_to[ctx.next++ % ctx.hand_to.size()];
    if (&to == &ctx) return welcome(ctx, std::move(client));  // its own: no letter needed
    std::shared_ptr<Client> arrival;  // a letter is copyable; a Client is not
    try {
        arrival = std::make_shared<Client>(std::move(client));
        to.loop.mailbox()->post([&to, arrival](Loop&) { welcome(to, std::move(*arrival)); });
    } catch (const std::bad_alloc&) {
        welcome(ctx, arrival ? std::move(*arrival) : std::move(client));
    }
}

}  // namespace fibs::loop
