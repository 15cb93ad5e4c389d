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
        {"threads", "fib-threads", {}},
    };
}

// Under a sanitizer each server runs about ten times slower, and what a sanitizer finds lives in
// code that fewer kinds reach: the blocking handler and the threads (blocking, threads), each
// backend's watch and wait (select and poll here, epoll and io_uring in the loops2 kinds), both
// handlers' frames (yield: loop_select; await, whose frames ASan sees freed one by one: frames.hpp),
// the mailbox and the workers' results (the two loops2 kinds with workers), the hand-off of a
// client to another loop and the loops' shared seats (handoff, reuseport). The eight kinds below
// meet each of those at least once; the release suite runs all seventeen.
bool sanitizer_cover(const ServerKind& kind) {
    return kind.label == "blocking" || kind.label == "threads" || kind.label == "loop_select" ||
           kind.label == "loop_await_poll" || kind.label.rfind("loops2_", 0) == 0;
}

}  // namespace

std::vector<ServerKind> all_servers() {
    std::vector<ServerKind> out = every_kind();
    if (kSanitized) std::erase_if(out, [](const ServerKind& k) { return !sanitizer_cover(k); });
    return out;
}

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
