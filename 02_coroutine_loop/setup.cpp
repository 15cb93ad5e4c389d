#include "setup.hpp"

#include <fcntl.h>
#include <sys/select.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <new>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "context.hpp"
#include "faults.hpp"
#include "log.hpp"
#include "one_queue.hpp"
#include "options.hpp"
#include "stop.hpp"

namespace fibs::loop {

namespace {

const std::map<std::string, Backend> kBackends{
    {"select", Backend::select}, {"poll", Backend::poll}, {"epoll", Backend::epoll}, {"io_uring", Backend::io_uring}};
const std::map<std::string, Handler> kHandlers{{"yield", Handler::yield}, {"await", Handler::await}};
const std::map<std::string, Spread> kSpreads{
    {"reuseport", Spread::reuseport}, {"handoff", Spread::handoff}, {"shared", Spread::shared}};

template <class E> const char* name_in(const std::map<std::string, E>& names, E value) {
    for (const auto& [name, v] : names) {
        if (v == value) return name.c_str();
    }
    return "one";
}

}  // namespace

const char* name_of(Backend backend) { return name_in(kBackends, backend); }
const char* name_of(Spread spread) { return name_in(kSpreads, spread); }

Options parse_options(int argc, char** argv) {
    Options opts;
    CLI::App app{"Step 3: the article's generator loop as C++20 coroutines"};
    add_server_options(app, opts,
                       "all the backend and the process can hold: select below FD_SETSIZE (1024), poll and "
                       "epoll up to the descriptor limit (raised to `ulimit -Hn`), less a few spare");
    app.add_option("--backend", opts.backend, "What waits for the sockets: select, poll, epoll or io_uring")
        ->transform(CLI::CheckedTransformer(kBackends))
        ->default_str("epoll");
    app.add_option("--handler", opts.handler,
                   "How the handler waits: yield (Step 3, the article's form) or await (Step 4, co_await)")
        ->transform(CLI::CheckedTransformer(kHandlers))
        ->default_str("yield");
    app.add_option("--workers", opts.workers,
                   "Threads that compute big fib requests off the loop (0: in the loop, as in the article)")
        ->check(CLI::Range(0, 256))
        ->capture_default_str();
    app.add_option("--offload-min", opts.offload_min, "With --workers, smaller n stay in the loop")
        ->capture_default_str();
    app.add_option("--loops", opts.loops,
                   "Step 5: loops, each on a thread of its own with its own clients (0: one per core this "
                   "process may run on)")
        ->check(CLI::Range(0, 256))
        ->capture_default_str();
    app.add_option("--spread", opts.spread,
                   "Step 5, with --loops 2 or more: how new clients reach the loops. reuseport: a listening "
                   "socket per loop, the kernel picks (default); handoff: one accept task hands them out in "
                   "turn; shared: every loop watches one listening socket")
        ->transform(CLI::CheckedTransformer(kSpreads));
    app.add_flag("--one-queue", opts.one_queue,
                 "Step 6: the --loops threads wait on one epoll instance, and whichever wakes serves the ready "
                 "client (one queue for every core, not one per loop)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        std::exit(app.exit(e));
    }
    if (opts.loops == 0) opts.loops = usable_cores();
    if (opts.loops == 1 && opts.spread != Spread::one) {
        std::fprintf(stderr, "error: --spread %s needs --loops 2 or more: one loop takes every client\n",
                     name_of(opts.spread));
        std::exit(2);
    }
    auto one_queue_refuses = [](const char* why) {
        std::fprintf(stderr, "error: --one-queue %s\n", why);
        std::exit(2);
    };
    if (opts.one_queue && opts.backend != Backend::epoll) {
        one_queue_refuses("needs --backend epoll: select, poll and io_uring here have no one-shot wait that threads can share");
    }
    if (opts.one_queue && opts.workers > 0) one_queue_refuses("runs no --workers: every thread computes, as the queue hands it work");
    if (opts.one_queue && opts.spread != Spread::one) one_queue_refuses("spreads no clients: every thread serves every client");
    if (opts.loops > 1 && opts.spread == Spread::one && !opts.one_queue) opts.spread = Spread::reuseport;
    return opts;
}

std::unique_ptr<Poller> make_poller(std::string_view name) {
    if (name == "select") return make_select_poller();
    if (name == "poll") return make_poll_poller();
    if (name == "epoll") return make_epoll_poller();
    if (name == "io_uring") return make_io_uring_poller();  // throws Unavailable where it cannot run
    throw std::invalid_argument("unknown backend: " + std::string(name));
}

void Shared::failed(const Task& task, const std::exception& why) {
    bool no_memory = dynamic_cast<const std::bad_alloc*>(&why) != nullptr;
    const char* what = no_memory ? "out of memory" : why.what();
    if (task.name() != nullptr) throw std::runtime_error(std::string(task.name()) + " cannot go on: " + what);
    if (no_memory || dynamic_cast<const Refused*>(&why) != nullptr) return refusals.note(what);
    try {
        log_line(std::string("task failed: ") + what);
    } catch (const std::bad_alloc&) {
        // no memory for the line: the task ends without it
    }
}

namespace {

// How many clients the server takes: --max-clients, or else all that this backend and this process
// can hold, keeping kSpare descriptors for the stop pipe and the log, and kPerLoop for each loop's
// listener, its Acceptor's spare, its poller, its mailbox and its pause timer; never fewer than
// one. select can watch only descriptors below FD_SETSIZE; poll and epoll are bound by the
// descriptor limit (start_server raised it to the hard limit).
constexpr int kSpare = 12, kPerLoop = 5;

std::pair<int, std::string> client_limit(const Options& opts) {
    bool select = opts.backend == Backend::select && FD_SETSIZE < descriptor_limit();  // select's own bound is the lower
    int room = select ? FD_SETSIZE : descriptor_limit(), own = kSpare + kPerLoop * opts.loops;
    if (room - own < 1) {
        throw std::runtime_error((select ? "select watches only descriptors below FD_SETSIZE (" + group_digits(room) + ")"
                                         : "the descriptor limit is " + group_digits(room) + " (ulimit -n)") +
                                 ", and the server keeps " + group_digits(own) + " for itself and its " +
                                 std::to_string(opts.loops) + (opts.loops == 1 ? " loop" : " loops") + ": none is left for a client");
    }
    int most = room - own;
    if (opts.max_clients > 0 && opts.max_clients <= most) return {opts.max_clients, "--max-clients reached"};
    if (select) return {most, "select cannot watch descriptors past FD_SETSIZE"};
    return {most, "the " + group_digits(most) + " clients the descriptor limit allows are connected (ulimit -n " +
                      group_digits(room) + ")"};
}

// What the Listening line says, so a learner sees every option take effect:
// "epoll, co_await handler, 2 workers for n >= 25, up to 19,984 clients".
std::string about(const Options& opts, int max_clients) {
    std::string out = name_of(opts.backend);
    if (opts.handler == Handler::await) out += ", co_await handler";
    if (opts.one_queue) out += ", one queue for " + std::to_string(opts.loops) + (opts.loops == 1 ? " thread" : " threads");
    else if (opts.loops > 1) out += ", " + std::to_string(opts.loops) + " loops, spread by " + name_of(opts.spread);
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
// first one's port; shared: the first one's descriptor again (dup: the same socket); handoff: one,
// the first loop's, whose accept task hands the clients out.
std::vector<Fd> listeners(const Options& opts) {
    std::vector<Fd> out;
    out.push_back(start_server(opts, opts.spread == Spread::reuseport));
    std::uint16_t port = local_port(out[0].get());  // the real one, for --port 0
    for (int i = 1; i < opts.loops && opts.spread != Spread::handoff; ++i) {
        if (opts.spread == Spread::reuseport) out.push_back(listen_on(opts.host, port, 1024, true));
        if (opts.spread == Spread::shared) out.emplace_back(::fcntl(out[0].get(), F_DUPFD_CLOEXEC, 0));
        if (!out.back()) throw std::system_error(errno, std::generic_category(), "listener");
    }
    for (Fd& l : out) set_nonblocking(l.get());
    return out;
}

}  // namespace

Started::Started() = default;
Started::Started(Started&&) noexcept = default;
Started::~Started() {
    if (shared) shared->workers.stop_taking();  // before the loops go: no job is computed for a freed task
}

Started start(const Options& opts, Task (*handler)(Client, Context&)) {
    Started s;
    Faults faults = Faults::parse(std::getenv("FIBS_FAULTS"));  // the failpoint: faults.hpp
    s.stop = Fd(stop_on_signals_pipe());  // before the readiness line: a SIGTERM right after it is seen
    std::vector<Fd> socks = listeners(opts);
    auto [max_clients, why_full] = client_limit(opts);
    s.shared = std::make_unique<Shared>(opts, max_clients, why_full);
    int contexts = opts.one_queue ? 1 : opts.loops;  // Step 6: one listener, one queue, many threads
    for (int i = 0; i < contexts; ++i) {
        auto ctx = std::make_unique<Context>(*s.shared, with_faults(make_poller(name_of(opts.backend)), faults),
                                             opts.handler == Handler::await ? await_handler : handler);
        if (static_cast<std::size_t>(i) < socks.size()) ctx->listener.emplace(std::move(socks[i]), s.shared->seats, s.shared->refusals);
        if (contexts > 1) ctx->name = " (loop " + std::to_string(i + 1) + ")";
        s.loops.push_back(std::move(ctx));
    }
    if (opts.one_queue) {
        Shared* shared = s.shared.get();
        s.one_queue = std::make_unique<OneQueue>(opts.loops, static_cast<std::size_t>(descriptor_limit()),
                                                 [shared](const Task& task, const std::exception& why) { shared->failed(task, why); },
                                                 Failpoint::of(faults));
        s.loops[0]->one_queue = s.one_queue.get();
    }
    if (opts.spread == Spread::handoff) {
        for (auto& ctx : s.loops) s.loops[0]->hand_to.push_back(ctx.get());
    }
    if (!room_for_a_client()) {
        throw std::system_error(EMFILE, std::generic_category(),
                                "no descriptor left for a client (ulimit -n " + std::to_string(descriptor_limit()) + ")");
    }
    s.about = about(opts, max_clients);
    s.failpoint = std::make_shared<DescriptorHold>(faults.hold);
    return s;
}

}  // namespace fibs::loop
