#include "servers.hpp"

#include <algorithm>

#include "poller.hpp"

namespace fibs::test {

namespace {

std::vector<ServerKind> every_kind() {
    return {
        {"blocking", "fib-blocking", {}},
        {"loop_epoll", "fib-loop", {"--backend", "epoll"}},
        {"loop_poll", "fib-loop", {"--backend", "poll"}},
        {"loop_select", "fib-loop", {"--backend", "select"}},
        {"loop_io_uring", "fib-loop", {"--backend", "io_uring"}},
        {"loop_workers", "fib-loop", {"--workers", "2", "--offload-min", "5"}},
        {"loop_await_epoll", "fib-loop", {"--handler", "await", "--backend", "epoll"}},
        {"loop_await_poll", "fib-loop", {"--handler", "await", "--backend", "poll"}},
        {"loop_await_select", "fib-loop", {"--handler", "await", "--backend", "select"}},
        {"loop_await_io_uring", "fib-loop", {"--handler", "await", "--backend", "io_uring"}},
        {"loop_await_workers", "fib-loop", {"--handler", "await", "--workers", "2", "--offload-min", "5"}},
        // Step 5, two loops: each spread, backend and handler meets each other one (a pairwise cover
        // of the 2 x 2 x 2 combinations), and the workers with both spreads.
        {"loops2_reuseport_epoll", "fib-loop", {"--loops", "2", "--spread", "reuseport", "--backend", "epoll"}},
        {"loops2_handoff_await_epoll", "fib-loop", {"--loops", "2", "--spread", "handoff", "--handler", "await", "--backend", "epoll"}},
        {"loops2_reuseport_await_io_uring_workers", "fib-loop",
         {"--loops", "2", "--spread", "reuseport", "--handler", "await", "--backend", "io_uring", "--workers", "2", "--offload-min", "5"}},
        {"loops2_handoff_io_uring_workers", "fib-loop",
         {"--loops", "2", "--spread", "handoff", "--backend", "io_uring", "--workers", "2", "--offload-min", "5"}},
        // Step 6: two threads on one queue, with each handler.
        {"oneq2_epoll", "fib-loop", {"--loops", "2", "--one-queue"}},
        {"oneq2_await", "fib-loop", {"--loops", "2", "--one-queue", "--handler", "await"}},
        {"threads", "fib-threads", {}},
    };
}

// Under a sanitizer each server runs about ten times slower, and what a sanitizer finds lives in
// code that a few kinds reach between them. Beside blocking and threads (the blocking handler,
// a thread per client), four loop kinds, each meeting every other choice at least once:
//   backend: select, poll, epoll, io_uring (one each: each backend's own watch and wait);
//   handler: yield (Step 3) in two, await (Step 4: frames freed one by one under ASan) in two;
//   workers (the pool, the mailbox, a result coming back to a frame) with each handler;
//   one loop in two, two loops in two: reuseport, and handoff (a client handed across threads).
// Data races live where threads meet: the workers and the mailbox, the hand-off, the seats all
// loops share, the log's thread, the stop's thread, a task that moves between threads (Step 6);
// each is in at least one of these.
std::vector<ServerKind> sanitizer_cover() {
    return {
        {"blocking", "fib-blocking", {}},
        {"loop_select_workers", "fib-loop", {"--backend", "select", "--workers", "2", "--offload-min", "5"}},
        {"loop_await_poll", "fib-loop", {"--handler", "await", "--backend", "poll"}},
        {"loops2_reuseport_epoll", "fib-loop", {"--loops", "2", "--spread", "reuseport", "--backend", "epoll"}},
        {"loops2_handoff_await_io_uring_workers", "fib-loop",
         {"--loops", "2", "--spread", "handoff", "--handler", "await", "--backend", "io_uring", "--workers", "2",
          "--offload-min", "5"}},
        {"oneq2_await", "fib-loop", {"--loops", "2", "--one-queue", "--handler", "await"}},
        {"threads", "fib-threads", {}},
    };
}

}  // namespace

std::vector<ServerKind> all_servers() { return kSanitized ? sanitizer_cover() : every_kind(); }

std::optional<std::string> unavailable(const ServerKind& kind) {
    bool uring = std::find(kind.args.begin(), kind.args.end(), "io_uring") != kind.args.end();
    if (!uring) return std::nullopt;
    std::string why = loop::io_uring_unavailable();
    if (why.empty()) return std::nullopt;
    return "io_uring is not available here (" + why + ")";
}

std::vector<ServerKind> concurrent_servers() {
    std::vector<ServerKind> out;
    for (auto& k : all_servers()) {
        if (k.exe != "fib-blocking") out.push_back(k);
    }
    return out;
}

}  // namespace fibs::test
