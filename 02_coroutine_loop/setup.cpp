#include "setup.hpp"

#include <fcntl.h>
#include <sys/select.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdlib>
#include <system_error>
#include <utility>

#include "context.hpp"
#include "faults.hpp"
#include "stop.hpp"

namespace fibs::loop {

Options parse_options(int argc, char** argv) {
    Options opts;
    CLI::App app{"Step 3: the article's generator loop as C++20 coroutines"};
    add_server_options(app, opts,
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
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        std::exit(app.exit(e));
    }
    return opts;
}

Pause::Pause() : timer_(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) {
    if (!timer_) throw std::system_error(errno, std::generic_category(), "timerfd_create");
}

int Pause::start(std::chrono::nanoseconds after) {
    itimerspec when{};
    when.it_value.tv_sec = static_cast<time_t>(after.count() / 1'000'000'000);
    when.it_value.tv_nsec = static_cast<long>(after.count() % 1'000'000'000);
    ::timerfd_settime(timer_.get(), 0, &when, nullptr);
    return timer_.get();
}

void Pause::end() {
    std::uint64_t expirations;
    [[maybe_unused]] ssize_t n = ::read(timer_.get(), &expirations, sizeof expirations);
}

namespace {

// How many clients the server takes: --max-clients, or else all that this backend and this process
// can hold, keeping kSpare descriptors for the listener, the stop pipe, the poller, the mailbox,
// the pause timer and the Acceptor's spare; never fewer than one. select can watch only
// descriptors below FD_SETSIZE; poll and epoll are bound by the descriptor limit (start_server
// raised it to the hard limit).
constexpr int kSpare = 16;

std::pair<int, std::string> client_limit(const Options& opts) {
    bool select = opts.backend == "select";
    int most = std::max(1, (select ? FD_SETSIZE : descriptor_limit()) - kSpare);
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
    return out + ", up to " + group_digits(max_clients) + (max_clients == 1 ? " client" : " clients");
}

// One client and the Acceptor's spare: without room for both there is no server to speak of.
bool room_for_a_client() {
    Fd client(::open("/dev/null", O_RDONLY | O_CLOEXEC)), spare(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    return client && spare;
}

}  // namespace

Started start(const Options& opts) {
    Started s;
    Faults faults = Faults::parse(std::getenv("FIBS_FAULTS"));  // the failpoint: faults.hpp
    s.stop = Fd(stop_on_signals_pipe());  // before the readiness line: a SIGTERM right after it is seen
    s.listener = start_server(opts);
    set_nonblocking(s.listener.get());
    auto [max_clients, why_full] = client_limit(opts);
    s.ctx = std::make_unique<Context>(opts, with_faults(make_poller(opts.backend), faults), max_clients, why_full);
    if (!room_for_a_client()) {
        throw std::system_error(EMFILE, std::generic_category(),
                                "no descriptor left for a client (ulimit -n " + std::to_string(descriptor_limit()) + ")");
    }
    log_listening(s.listener, about(opts, max_clients));
    s.failpoint = std::make_shared<DescriptorHold>(faults.hold);
    return s;
}

}  // namespace fibs::loop
