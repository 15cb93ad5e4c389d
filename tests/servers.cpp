#include "servers.hpp"

namespace fibs::test {

std::vector<ServerKind> all_servers() {
    return {
        {"blocking", "fib-blocking", {}},
        {"loop_epoll", "fib-loop", {"--backend", "epoll"}},
        {"loop_poll", "fib-loop", {"--backend", "poll"}},
        {"loop_select", "fib-loop", {"--backend", "select"}},
        {"loop_workers", "fib-loop", {"--workers", "2", "--offload-min", "5"}},
        {"threads", "fib-threads", {}},
    };
}

std::vector<ServerKind> concurrent_servers() {
    std::vector<ServerKind> out;
    for (auto& k : all_servers()) {
        if (k.exe != "fib-blocking") out.push_back(k);
    }
    return out;
}

}  // namespace fibs::test
