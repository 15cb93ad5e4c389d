// Step 5: a loop per core, as nginx, Envoy, Seastar and muduo run theirs.
//
// What each loop owns: its thread, its poller, its tasks (its accept task, future_monitor,
// stop_watcher and its clients' handlers), its mailbox, its read buffer and its pause timer. A
// client's socket is watched by one poller only, so its task never moves, and nothing on the hot
// path (a read, a reply) takes a lock or touches another loop.
//
// What the loops share (Shared, context.hpp): the options; the seats, an atomic count, so that
// --max-clients holds for the server as a whole; the worker pool, whose results come back to the
// mailbox of the loop that asked; and the stop pipe, which every loop watches (nobody reads it, so
// it stays readable and wakes them all).
//
// How new clients reach the loops (--spread): reuseport, a listening socket per loop on one port
// (SO_REUSEPORT), and the kernel picks a socket, so a loop, by a hash of the client's address;
// shared, one listening socket that every loop watches, and whichever loop accepts first takes the
// client; handoff, one accept task (the first loop's) that hands each client to the next loop in
// turn through that loop's mailbox.
#include "loops.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <new>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

namespace fibs::loop {

void run_loops(std::vector<std::unique_ptr<Context>>& loops) {
    if (loops.size() == 1) return loops[0]->loop.run();
    auto stop_all = [&] {
        for (auto& other : loops) other->loop.mailbox()->post([](Loop& loop) { loop.stop(); });
    };
    std::mutex mu;
    std::exception_ptr failed;  // the first loop that could not go on
    auto run = [&](Context& ctx) {
        try {
            ctx.loop.run();
        } catch (...) {
            std::lock_guard lock(mu);
            if (!failed) failed = std::current_exception();
            try {
                stop_all();
            } catch (const std::bad_alloc&) {  // no memory for the letters: the other loops cannot be told
                std::fputs("error: out of memory\n", stderr);
                std::_Exit(1);
            }
        }
    };
    std::vector<std::thread> threads;
    try {
        for (std::size_t i = 1; i < loops.size(); ++i) threads.emplace_back(run, std::ref(*loops[i]));
    } catch (const std::system_error& e) {  // no thread for a loop: stop the ones that started
        stop_all();
        for (auto& t : threads) t.join();
        throw std::system_error(e.code(), "cannot start the thread of loop " + std::to_string(threads.size() + 2) +
                                              " (a process limit? ulimit -u)");
    }
    run(*loops[0]);
    for (auto& t : threads) t.join();
    if (failed) std::rethrow_exception(failed);
}

namespace {
struct Arrival {  // a client on its way to its loop: freed with the letter if it never arrives
    Fd client;
    Seat seat;
    std::string addr;
};
}  // namespace

void hand_off(Context& ctx, Fd client, Seat seat, std::string addr) {
    Context& to = *ctx.hand_to[ctx.next++ % ctx.hand_to.size()];
    try {
        auto arrival = std::make_shared<Arrival>(Arrival{std::move(client), std::move(seat), std::move(addr)});
        to.loop.mailbox()->post([&to, arrival](Loop&) {
            welcome(to, std::move(arrival->client), std::move(arrival->seat), arrival->addr);
        });
    } catch (const std::bad_alloc&) {  // the client is closed already, its seat given back
        ctx.refusals.note("out of memory");
    }
}

}  // namespace fibs::loop
