// Step 3: the article's generator loop, with C++20 coroutines. fib_server and fib_handler are
// tasks: each stops at `co_yield recv(...)` / `co_yield send(...)`, saying why it waits and on
// what, and the loop (loop.cpp) resumes it when select, poll, epoll or io_uring says the socket is
// ready. A handler's turn is a few requests (turn.hpp); then the others run. With --workers N, big
// fib requests run on a thread pool (the talk's fix) and the task waits on the result.
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <new>

#include "acceptor.hpp"
#include "context.hpp"
#include "loops.hpp"

namespace fibs::loop {

using namespace std::chrono_literals;

// Step 1's fib_handler (common/handler.cpp), line for line, where it would block: it yields.
// `seat` counts the client as served for as long as the task's frame lives (context.hpp).
Task fib_handler(Fd client, [[maybe_unused]] Seat seat, Context& ctx) {
    const Options& opts = ctx.opts;
    protocol::LineFramer framer;
    std::string out;
    std::array<char, 4096>& buf = ctx.buf;
    bool open = true;
    while (open) {
        co_yield recv(client.get());                                   // wait until readable...
        ssize_t n = ::recv(client.get(), buf.data(), buf.size(), 0);  // ...then read: never blocks
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;    // not readable after all
        if (n < 0) break;  // reset by the client: nobody to answer
        framer.feed({buf.data(), static_cast<std::size_t>(n)});
        if (n == 0) {  // the client is done sending; answer its last line, then close
            framer.end_input();
            open = false;
        }
        for (Turn turn; auto line = framer.next_line();) {
            if (turn.over()) co_yield again(client.get());  // a few requests per turn, then the others
            protocol::Request req = protocol::parse_request(*line, opts.max_n);
            if (req.costly() && client_left(client.get(), out)) break;  // gone: the rest is for nobody
            if (req.ok() && ctx.workers.takes(req.n)) {  // the talk's fix: fib on a worker thread
                int job = ctx.workers.submit(req.n, client.get(), ctx.loop);
                std::uint64_t value = co_yield future(job);  // the loop serves others meanwhile
                protocol::append_value(out, value);
            } else {
                protocol::append_reply(out, req);  // fib(n) right here: everyone waits for it
            }
        }
        if (framer.too_long()) {
            out += protocol::kLineTooLong;
            open = false;
        }
        // send_all, yielding where it would block. Everything goes out before the next read
        // (back-pressure: a client that does not read stops being read).
        for (std::size_t sent = 0; sent < out.size();) {
            ssize_t s = ::send(client.get(), out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
            if (s >= 0) {
                sent += static_cast<std::size_t>(s);  // a partial send goes on from here, not from 0
            } else if (errno == EAGAIN) {
                co_yield send(client.get());
            } else if (errno != EINTR) {
                open = false;  // reset or broken pipe
                break;
            }
        }
        out.clear();
    }
    ::shutdown(client.get(), SHUT_WR);  // replies already sent go out before the close
    log_closed(opts);
}

Task fib_server(Fd sock, Context& ctx) {
    Acceptor acceptor(sock.get(), /*nonblocking=*/true, &ctx.refusals);
    for (;;) {
        co_yield recv(sock.get());
        for (;;) {  // drain the backlog: many clients may have arrived
            std::string addr;
            Fd client = acceptor.accept(&addr);
            if (!client && errno == EMFILE) continue;  // that one was refused; there may be more
            if (!client && errno == ENFILE) {          // none spare to refuse with: pause, not spin
                co_yield recv(ctx.pause.start(10ms));
                ctx.pause.end();
                continue;
            }
            if (!client) break;  // EAGAIN: the backlog is empty
            std::optional<Seat> seat = ctx.seats.take();
            if (!seat) {
                acceptor.refuse(std::move(client), ctx.full);
                continue;
            }
            if (ctx.hand_to.empty()) welcome(ctx, std::move(client), std::move(*seat), addr);
            else hand_off(ctx, std::move(client), std::move(*seat), std::move(addr));  // Step 5: the next loop
        }
    }
}

// tasks.append(fib_handler(client)), once this loop's poller can watch the client.
void welcome(Context& ctx, Fd client, Seat seat, const std::string& addr) {
    try {
        if (std::string why = ctx.loop.add(client.get()); !why.empty()) {
            return refuse(std::move(client), why, ctx.refusals);  // select past FD_SETSIZE, or the kernel said no
        }
        log_connection(ctx.opts, addr + ctx.name);  // ctx.name: " (loop 2)", with several loops (Step 5)
        ctx.loop.spawn(ctx.opts.handler == "await" ? await_handler(std::move(client), std::move(seat), ctx)  // Step 4
                                                   : fib_handler(std::move(client), std::move(seat), ctx));
    } catch (const std::bad_alloc&) {  // no memory for its frame: this client is refused, the others go on
        refuse(std::move(client), "out of memory", ctx.refusals);
    }
}

// The talk's future_monitor: when a worker posts a result, the task that waits for it becomes
// ready (Loop::wake). The letters come through the loop's mailbox (mailbox.hpp).
Task future_monitor(Loop& loop) {
    for (;;) {
        co_yield recv(loop.mailbox()->fd());
        for (auto& letter : loop.mailbox()->take()) letter(loop);
    }
}

// Ctrl-C: a byte in the stop pipe (common/stop.hpp); the loop ends and every task's frame is
// freed. A second Ctrl-C ends the process at once, even while a task computes.
Task stop_watcher(int stop_fd, Loop& loop) {
    co_yield recv(stop_fd);
    loop.stop();
}

}  // namespace fibs::loop

int main(int argc, char** argv) {
    using namespace fibs::loop;
    Options opts = parse_options(argc, argv);
    try {
        Started started = start(opts);  // setup.cpp: prints "Listening on ..." when ready
        // The server's own tasks: if one of them cannot go on, the server ends (exit 1). One loop,
        // unless --loops N (Step 5: loops.cpp), each with its own.
        for (std::size_t i = 0; i < started.loops.size(); ++i) {
            Context& ctx = *started.loops[i];
            if (started.listeners[i]) ctx.loop.spawn_vital("fib_server", fib_server(std::move(started.listeners[i]), ctx));
            ctx.loop.spawn_vital("future_monitor", future_monitor(ctx.loop));
            ctx.loop.spawn_vital("stop_watcher", stop_watcher(started.stop.get(), ctx.loop));
        }
        run_loops(started.loops);
        fibs::log_always("Shutting down");
    } catch (const std::bad_alloc&) {  // one line, and exit 1: nobody can be served any more
        std::fprintf(stderr, "error: out of memory\n");
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
