// Step 3: the article's generator loop, with C++20 coroutines. fib_server and fib_handler are
// tasks: each stops at `co_yield recv(...)` / `co_yield send(...)`, saying why it waits and on
// what, and the loop (loop.cpp) resumes it when select, poll, epoll or io_uring says the socket is
// ready. A handler's turn is a few requests (Turn, loop.hpp); then the others run. With
// --workers N, big fib requests run on a thread pool (the talk's fix) and the task waits on the
// result.
#include <signal.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "acceptor.hpp"
#include "context.hpp"
#include "faults.hpp"

namespace fibs::loop {
namespace {

using namespace std::chrono_literals;

// Step 1's fib_handler (common/handler.cpp), line for line, where it would block: it yields.
Task fib_handler(Fd client, Context& ctx) {
    Leave leave{ctx.clients};
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
            if (req.ok() && ctx.workers.takes(req.n)) {  // the talk's fix: fib on a worker thread
                std::uint64_t value;
                ctx.workers.submit(client.get(), req.n, &value);
                co_yield future(client.get());  // the loop serves others meanwhile
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

// The accept task's pause: a one-shot timer, readable `after` from now.
int arm(const Fd& timer, std::chrono::nanoseconds after) {
    itimerspec when{};
    when.it_value.tv_nsec = static_cast<long>(after.count());
    ::timerfd_settime(timer.get(), 0, &when, nullptr);
    return timer.get();
}

void disarm(const Fd& timer) {
    std::uint64_t expirations;
    [[maybe_unused]] ssize_t n = ::read(timer.get(), &expirations, sizeof expirations);
}

Task fib_server(Fd sock, Context& ctx) {
    Acceptor acceptor(sock.get(), /*nonblocking=*/true);
    for (;;) {
        co_yield recv(sock.get());
        for (;;) {  // drain the backlog: many clients may have arrived
            std::string addr;
            Fd client = acceptor.accept(&addr);
            if (!client && errno == EMFILE) continue;  // that one was refused; there may be more
            if (!client && errno == ENFILE) {          // none spare to refuse with: pause, not spin
                co_yield recv(arm(ctx.pause, 10ms));
                disarm(ctx.pause);
                continue;
            }
            if (!client) break;  // EAGAIN: the backlog is empty
            if (ctx.clients >= ctx.max_clients) {
                acceptor.refuse(std::move(client), ctx.full);
                continue;
            }
            if (std::string why = ctx.loop.add(client.get()); !why.empty()) {
                acceptor.refuse(std::move(client), why);  // select past FD_SETSIZE, or the kernel said no
                continue;
            }
            log_connection(ctx.opts, addr);
            ++ctx.clients;  // now, not when the task first runs: several may be accepted in one batch
            ctx.loop.spawn(ctx.opts.handler == "await" ? await_handler(std::move(client), ctx)  // Step 4
                                                       : fib_handler(std::move(client), ctx));
        }
    }
}

// The talk's future_monitor: when a worker finishes, the task that waits for it becomes ready.
Task future_monitor(Context& ctx) {
    for (;;) {
        co_yield recv(ctx.workers.notify_fd());
        for (int what : ctx.workers.done()) ctx.loop.wake(what);
    }
}

// How many clients the server takes: --max-clients, or else all that this backend and this process
// can hold, keeping kSpare descriptors for the listener, the signalfd, the poller, the eventfd and
// the Acceptor's spare. select can watch only descriptors below FD_SETSIZE; poll and epoll are
// bound by the descriptor limit (start_server raised it to the hard limit).
constexpr int kSpare = 16;

std::pair<int, std::string> client_limit(const Options& opts) {
    bool select = opts.backend == "select";
    int most = (select ? FD_SETSIZE : descriptor_limit()) - kSpare;
    if (opts.max_clients > 0 && opts.max_clients <= most) return {opts.max_clients, "--max-clients reached"};
    return {most, select ? "select cannot watch descriptors past FD_SETSIZE" : "out of file descriptors"};
}

// What the Listening line says, so a learner sees every option take effect:
// "epoll, co_await handler, 2 workers for n >= 25, up to 19,984 clients".
std::string about(const Options& opts, int max_clients) {
    std::string out = opts.backend;
    if (opts.handler == "await") out += ", co_await handler";
    if (opts.workers > 0) {
        out += ", " + std::to_string(opts.workers) + (opts.workers == 1 ? " worker" : " workers") + " for n >= " +
               std::to_string(opts.offload_min);
    }
    return out + ", up to " + group_digits(max_clients) + " clients";
}

// SIGINT/SIGTERM, as a descriptor the loop waits on like any socket: the signals are blocked (in
// this thread and every thread started after it) and a signalfd reports them.
Fd open_stop_fd() {
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    ::pthread_sigmask(SIG_BLOCK, &stop, nullptr);
    Fd fd(::signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!fd) {
        std::perror("signalfd");
        std::exit(1);
    }
    return fd;
}

// When the stop signal comes, the loop ends and every task's frame is freed.
Task stop_watcher(int stop_fd, Loop& loop) {
    co_yield recv(stop_fd);
    loop.stop();
}

}  // namespace
}  // namespace fibs::loop

int main(int argc, char** argv) {
    using namespace fibs::loop;
    Options opts;
    CLI::App app{"Step 3: the article's generator loop as C++20 coroutines"};
    fibs::add_server_options(app, opts,
                             "all the backend and the process can hold: select below FD_SETSIZE (1024), poll and "
                             "epoll up to the descriptor limit (raised to `ulimit -Hn`), less a few spare");
    app.add_option("--backend", opts.backend, "What waits for the sockets")
        ->check(CLI::IsMember({"select", "poll", "epoll", "io_uring"}))
        ->capture_default_str();
    app.add_option("--handler", opts.handler,
                   "How the handler waits: yield (Step 3, the article's form) or await (Step 4, co_await)")
        ->check(CLI::IsMember({"yield", "await"}))
        ->capture_default_str();
    app.add_option("--workers", opts.workers,
                   "Threads that compute big fib requests off the loop (0: in the loop, as in the article)")
        ->check(CLI::Range(0, 256))
        ->capture_default_str();
    app.add_option("--offload-min", opts.offload_min, "With --workers, smaller n stay in the loop")
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    std::unique_ptr<Poller> poller;
    Faults faults;
    try {
        faults = Faults::parse(std::getenv("FIBS_FAULTS"));  // a test seam: faults.hpp
        poller = with_faults(make_poller(opts.backend), faults);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    fibs::Fd stop = open_stop_fd();  // before the readiness line and before any worker thread
    fibs::Fd sock = fibs::start_server(opts);
    fibs::set_nonblocking(sock.get());
    auto limit = client_limit(opts);
    Context ctx(opts, std::move(poller), limit);  // outlives every task
    fibs::log_listening(sock, about(opts, limit.first));
    DescriptorHold hold(faults.hold);

    ctx.loop.spawn(fib_server(std::move(sock), ctx));
    ctx.loop.spawn(future_monitor(ctx));
    ctx.loop.spawn(stop_watcher(stop.get(), ctx.loop));
    try {
        ctx.loop.run();
    } catch (const std::exception& e) {  // the poller cannot wait any more: nobody can be served
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    fibs::log_always("Shutting down");
    return 0;
}
