#include "setup.hpp"

#include <fcntl.h>
#include <sys/select.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>

#include "context.hpp"
#include "faults.hpp"
#include "options.hpp"
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
    app.add_option("--loops", opts.loops,
                   "Step 5: loops, each on a thread of its own with its own clients (0: one per core)")
        ->check(CLI::Range(0, 256))
        ->capture_default_str();
    app.add_option("--spread", opts.spread,
                   "Step 5, with --loops 2 or more: how new clients reach the loops. reuseport: a listening "
                   "socket per loop, the kernel picks (default); handoff: one accept task hands them out in "
                   "turn; shared: every loop watches one listening socket")
        ->check(CLI::IsMember({"reuseport", "handoff", "shared"}));
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        std::exit(app.exit(e));
    }
    if (opts.loops == 0) opts.loops = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    if (opts.loops == 1 && !opts.spread.empty()) {
        std::fprintf(stderr, "error: --spread %s needs --loops 2 or more: one loop takes every client\n",
                     opts.spread.c_str());
        std::exit(2);
    }
    if (opts.loops > 1 && opts.spread.empty()) opts.spread = "reuseport";
    return opts;
}

std::unique_ptr<Poller> make_poller(std::string_view name) {
    if (name == "select") return make_select_poller();
    if (name == "poll") return make_poll_poller();
    if (name == "epoll") return make_epoll_poller();
    if (name == "io_uring") return make_io_uring_poller();  // throws Unavailable where it cannot run
    throw std::invalid_argument("unknown backend: " + std::string(name));
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
// can hold, keeping kSpare descriptors for the stop pipe and the Acceptor's spare, and kPerLoop
// for each loop's listener, poller, mailbox and pause timer; never fewer than one. select can
// watch only descriptors below FD_SETSIZE; poll and epoll are bound by the descriptor limit
// (start_server raised it to the hard limit).
constexpr int kSpare = 12, kPerLoop = 4;

std::pair<int, std::string> client_limit(const Options& opts) {
    bool select = opts.backend == "select";
    int most = std::max(1, (select ? FD_SETSIZE : descriptor_limit()) - kSpare - kPerLoop * opts.loops);
    if (opts.max_clients > 0 && opts.max_clients <= most) return {opts.max_clients, "--max-clients reached"};
    return {most, select ? "select cannot watch descriptors past FD_SETSIZE" : "out of file descriptors"};
}

// What the Listening line says, so a learner sees every option take effect:
// "epoll, co_await handler, 2 workers for n >= 25, up to 19,984 clients".
std::string about(const Options& opts, int max_clients) {
    std::string out = opts.backend;
    if (opts.handler == "await") out += ", co_await handler";
    if (opts.loops > 1) out += ", " + std::to_string(opts.loops) + " loops, spread by " + opts.spread;
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

// Step 5: a listening socket for each loop, as --spread says. reuseport: one each, all on the
// first one's port; shared: the first one's descriptor again (dup: the same socket); handoff: none,
// the first loop's accept task hands the clients out.
std::vector<Fd> listeners(const Options& opts) {
    std::vector<Fd> out;
    out.push_back(start_server(opts, opts.spread == "reuseport"));
    std::uint16_t port = local_port(out[0].get());  // the real one, for --port 0
    for (int i = 1; i < opts.loops; ++i) {
        if (opts.spread == "reuseport") out.push_back(listen_on(opts.host, port, 1024, true));
        if (opts.spread == "shared") out.emplace_back(::fcntl(out[0].get(), F_DUPFD_CLOEXEC, 0));
        if (opts.spread == "handoff") out.emplace_back();
        if (opts.spread != "handoff" && !out.back()) throw std::system_error(errno, std::generic_category(), "listener");
    }
    for (Fd& l : out) {
        if (l) set_nonblocking(l.get());
    }
    return out;
}

}  // namespace

Started::Started() = default;
Started::Started(Started&&) noexcept = default;
Started::~Started() = default;

Started start(const Options& opts) {
    Started s;
    Faults faults = Faults::parse(std::getenv("FIBS_FAULTS"));  // the failpoint: faults.hpp
    s.stop = Fd(stop_on_signals_pipe());  // before the readiness line: a SIGTERM right after it is seen
    s.listeners = listeners(opts);
    auto [max_clients, why_full] = client_limit(opts);
    s.shared = std::make_unique<Shared>(opts, max_clients, why_full);
    for (int i = 0; i < opts.loops; ++i) {
        s.loops.push_back(std::make_unique<Context>(*s.shared, with_faults(make_poller(opts.backend), faults)));
        if (opts.loops > 1) s.loops.back()->name = " (loop " + std::to_string(i + 1) + ")";
    }
    if (opts.spread == "handoff") {
        for (auto& ctx : s.loops) s.loops[0]->hand_to.push_back(ctx.get());
    }
    if (!room_for_a_client()) {
        throw std::system_error(EMFILE, std::generic_category(),
                                "no descriptor left for a client (ulimit -n " + std::to_string(descriptor_limit()) + ")");
    }
    log_listening(s.listeners[0], about(opts, max_clients));
    s.failpoint = std::make_shared<DescriptorHold>(faults.hold);
    return s;
}

}  // namespace fibs::loop
