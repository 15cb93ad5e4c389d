// Step 3: the article's generator loop, with C++20 coroutines. fib_server and fib_handler are
// tasks: each stops at `co_yield recv(...)` / `co_yield send(...)`, saying why it waits and on
// what, and the loop (loop.cpp) resumes it when select/poll/epoll says the socket is ready.
// With --workers N, big fib requests run on a thread pool and the task waits on the result.
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cerrno>
#include <span>

#include "fib.hpp"
#include "loop.hpp"
#include "server.hpp"
#include "stop.hpp"
#include "workers.hpp"

namespace fibs::loop {
namespace {

struct Options : ServerOptions {
    std::string backend = "epoll";
    int workers = 0;
    unsigned offload_min = 25;
};

// What the tasks share. It lives in main(), outside every task, because the loop frees the tasks'
// frames in no particular order when it stops.
struct Shared {
    int clients = 0;  // handlers alive, for --max-clients
    // The read buffer of every handler: what recv() puts there is copied into the framer before the
    // next co_yield, so an idle connection's frame needs no buffer of its own.
    std::array<char, 4096> scratch;
};

Task fib_handler(Fd client, const Options& opts, Workers* workers, Shared& shared) {
    struct Leave {  // in the frame: counts this client out however the task ends (even by an exception)
        int& n;
        ~Leave() { --n; }
    } leave{shared.clients};
    std::span<char> scratch = shared.scratch;
    protocol::LineFramer framer;
    std::string out;
    bool open = true;
    while (open) {
        co_yield recv(client.get());
        ssize_t n = ::recv(client.get(), scratch.data(), scratch.size(), 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n < 0) break;  // reset: nobody to answer
        framer.feed({scratch.data(), static_cast<std::size_t>(n)});
        if (n == 0) {  // the client is done sending; answer its last line, then close
            framer.end_input();
            open = false;
        }
        while (auto line = framer.next_line()) {
            protocol::Request req = protocol::parse_request(*line, opts.max_n);
            if (!req.ok()) {
                out += req.error;
                continue;
            }
            std::uint64_t value;
            if (workers != nullptr && req.n >= opts.offload_min) {
                workers->submit(client.get(), req.n, &value);
                co_yield future(client.get());  // the loop serves others meanwhile
            } else {
                value = fib(req.n);  // everyone waits for this: the lesson of Step 3
            }
            protocol::append_value(out, value);
        }
        if (framer.too_long()) {
            out += protocol::kLineTooLong;
            open = false;
        }
        // Send it all before reading more (back-pressure: a client that does not read stops
        // being read, so `out` never holds more than the replies to one recv).
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
    ::shutdown(client.get(), SHUT_WR);
    log_closed(opts);
}

Task fib_server(Loop& loop, Fd sock, const Options& opts, Workers* workers, Shared& shared) {
    Acceptor acceptor(sock.get(), /*nonblocking=*/true);
    for (;;) {
        co_yield recv(sock.get());
        for (;;) {  // drain the backlog: many clients may have arrived
            std::string addr;
            Fd client = acceptor.accept(&addr);
            if (!client && errno == EMFILE) continue;  // that one was refused; there may be more
            if (!client) break;                        // EAGAIN: the backlog is empty
            if (shared.clients >= opts.max_clients) {
                acceptor.refuse(std::move(client), "--max-clients reached");
                continue;
            }
            if (!loop.can_watch(client.get())) {
                acceptor.refuse(std::move(client), std::string(loop.backend()) + " cannot watch descriptors past FD_SETSIZE");
                continue;
            }
            log_connection(opts, addr);
            ++shared.clients;  // now, not when the task first runs: several may be accepted in one batch
            loop.spawn(fib_handler(std::move(client), opts, workers, shared));
        }
    }
}

// The talk's future_monitor: when a worker finishes, the task that waits for it becomes ready.
Task future_monitor(Loop& loop, Workers& workers) {
    for (;;) {
        co_yield recv(workers.notify_fd());
        for (int what : workers.done()) loop.wake(what);
    }
}

// SIGINT/SIGTERM make stop_fd() readable; then the loop ends and every task's frame is freed.
Task stop_watcher(Loop& loop) {
    co_yield recv(stop_fd());
    loop.stop();
}

}  // namespace
}  // namespace fibs::loop

int main(int argc, char** argv) {
    using namespace fibs::loop;
    Options opts;
    CLI::App app{"Step 3: the article's generator loop as C++20 coroutines"};
    fibs::add_server_options(app, opts);
    app.add_option("--backend", opts.backend, "What waits for the sockets")
        ->check(CLI::IsMember({"select", "poll", "epoll"}))
        ->capture_default_str();
    app.add_option("--workers", opts.workers,
                   "Threads that compute big fib requests off the loop (0: in the loop, as in the article)")
        ->check(CLI::Range(0, 256))
        ->capture_default_str();
    app.add_option("--offload-min", opts.offload_min, "With --workers, smaller n stay in the loop")
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    fibs::Fd sock = fibs::start_server(opts);
    fibs::set_nonblocking(sock.get());
    Shared shared;  // declared before the loop: it outlives every task
    Loop loop(make_poller(opts.backend));
    Workers workers(opts.workers);  // declared after the loop: stopped before the tasks are freed
    Workers* pool = opts.workers > 0 ? &workers : nullptr;

    loop.spawn(fib_server(loop, std::move(sock), opts, pool, shared));
    loop.spawn(stop_watcher(loop));
    if (pool != nullptr) loop.spawn(future_monitor(loop, workers));
    loop.run();
    fibs::log_always("Shutting down");
    return 0;
}
