// Step 3: the article's generator loop, with C++20 coroutines. fib_server and fib_handler are
// tasks: each stops at `co_yield recv(...)` / `co_yield send(...)`, saying why it waits and on
// what, and the loop (loop.cpp) resumes it when select, poll, epoll or io_uring says the socket is
// ready. A handler's turn is a few requests (turn.hpp); then the others run. With --workers N, big
// fib requests run on a thread pool (the talk's fix) and the task waits on the result.
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <new>

#include "context.hpp"
#include "conversation.hpp"
#include "turn.hpp"

namespace fibs::loop {

// Step 1's fib_handler (common/handler.cpp), line for line, where it would block: it yields.
Task fib_handler(Client client, Context& ctx) {
    const Options& opts = ctx.shared.opts;
    Conversation talk(client.get(), opts.max_n);  // requests in, replies out, by the protocol's rules
    ReadBuffer& buf = ctx.buf;  // read and heard before the next wait: one per thread, for all
    while (talk.open()) {
        co_yield recv(client.get());                                   // wait until readable...
        ssize_t n = ::recv(client.get(), buf.data(), buf.size(), 0);  // ...then read: never blocks
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;    // not readable after all
        if (n < 0) break;  // reset by the client: nobody to answer
        talk.heard({buf.data(), static_cast<std::size_t>(n)});  // 0 bytes: the client is done sending
        for (Turn turn; auto req = talk.next();) {
            if (turn.over()) co_yield again(client.get());  // a few requests per turn, then the others
            if (req->ok() && ctx.shared.workers.takes(req->n)) {  // the talk's fix: fib on a worker thread
                int job = ctx.shared.workers.submit(req->n, client.get(), ctx.loop);
                talk.answer(co_yield future(job));  // the loop serves others meanwhile
            } else {
                talk.answer(*req);  // fib(n) right here: everyone waits for it
            }
        }
        // send_all, yielding where it would block. Everything goes out before the next read
        // (back-pressure: a client that does not read stops being read).
        std::string& out = talk.replies();
        for (std::size_t sent = 0; sent < out.size();) {
            ssize_t s = ::send(client.get(), out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
            if (s >= 0) {
                sent += static_cast<std::size_t>(s);  // a partial send goes on from here, not from 0
            } else if (errno == EAGAIN) {
                co_yield send(client.get());
            } else if (errno != EINTR) {
                break;  // reset or broken pipe: the next recv says so
            }
        }
        talk.replies().clear();
    }
    ::shutdown(client.get(), SHUT_WR);  // replies already sent go out before the close
    log_closed(opts);
}

// The accept task. Who gets in (a seat, a descriptor, memory) is the Listener's to say.
Task fib_server(Listener& listener, Context& ctx) {
    for (;;) {
        co_yield recv(listener.fd());                               // wait until a client comes...
        while (std::optional<Client> client = listener.accept()) {  // ...then take everyone waiting
            ctx.admit(std::move(*client));  // welcome(), below (Step 5 may hand it to another loop)
        }
        if (listener.stuck()) co_yield recv(listener.pause());  // no descriptor to spare: wait, not spin
    }
}

// tasks.append(fib_handler(client)), once this loop's poller can watch the client. A client it
// cannot watch, or has no memory for, is refused; the others go on.
void welcome(Context& ctx, Client client) {
    try {
        if (std::string why = ctx.add(client.get()); !why.empty()) {
            return refuse(std::move(client), why, ctx.shared.refusals);  // select past FD_SETSIZE, or the kernel said no
        }
        log_connection(ctx.shared.opts, client.addr + ctx.name);  // ctx.name: " (loop 2)", with several loops (Step 5)
        ctx.spawn(ctx.handler(std::move(client), ctx));  // fib_handler, above (Step 4's, with --handler await)
    } catch (const std::bad_alloc&) {
        refuse(std::move(client), "out of memory", ctx.shared.refusals);
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

// Ctrl-C, from the signal to the exit, in order:
//  1. the signal puts a byte in the stop pipe (common/stop.cpp), and every loop's stop_watcher wakes;
//  2. here: the pool drops the jobs not started (their tasks get Conversation::kNotComputed), and
//     the loop stops;
//  3. Loop::run (loop.cpp) reads nobody new, runs the tasks computing answers (a task answers what
//     it has read, up to a unit of work: Conversation::next) and sends their replies, then returns;
//  4. Started::run returns once every loop has (one ending stops the others: Step 5), and
//     ~Started frees the loops, which free the tasks still waiting: their sockets close.
// A second Ctrl-C ends the process at once, even while a task computes (common/stop.cpp).
Task stop_watcher(int stop_fd, Context& ctx) {
    co_yield recv(stop_fd);
    ctx.shared.workers.stop_taking();
    ctx.loop.stop();
}

}  // namespace fibs::loop

int main(int argc, char** argv) {
    using namespace fibs::loop;
    try {
        Options opts = parse_options(argc, argv);
        Started started = start(opts, fib_handler);  // setup.cpp: the sockets, the loops and what they share
        // The server's own tasks, named: if one of them cannot go on, the server ends (exit 1).
        // One loop, unless --loops N (Step 5), each with its own.
        for (auto& ctx : started.loops) {
            if (ctx->listener) ctx->spawn(fib_server(*ctx->listener, *ctx).named("fib_server"));
            ctx->spawn(future_monitor(ctx->loop).named("future_monitor"));
            ctx->spawn(stop_watcher(started.stop.get(), *ctx).named("stop_watcher"));
        }
        started.run([&] { fibs::log_listening(started.loops[0]->listener->fd(), started.about); });
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
