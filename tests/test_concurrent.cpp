// End to end, the servers that serve many clients at once (the loop with each backend, threads).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <thread>

#include "load.hpp"
#include "proc_stats.hpp"
#include "servers.hpp"

namespace fibs::test {
namespace {

// epoll registers a client once: at ping-pong, a reply costs its recvfrom, its sendto and a share
// of an epoll_wait, and no epoll_ctl. strace -c is attached to the running server (so start-up is
// not counted) while 50 clients make 10,000 requests; a reply is a sendto here. How large the
// wait's share is depends on how many clients are ready at once, which the machine decides (0.02
// here with strace slowing the server; up to 1 if the server always outran its clients): so the
// test counts the calls that do not depend on it. One recvfrom and one sendto per reply (and a
// recvfrom per client for its end); calls per client, not per reply; at most a wait per reply.
// The one-shot epoll this backend once was re-armed with an epoll_ctl per wait: 3.02 per reply.
TEST(Epoll, AReplyCostsARecvASendAndNoEpollCtl) {
    const std::string strace = "/usr/bin/strace";
    if (::access(strace.c_str(), X_OK) != 0) GTEST_SKIP() << "needs strace (./workshop setup installs it)";
    auto server = start({"loop_epoll", "fib-loop", {"--backend", "epoll"}}, {"--quiet"});
    std::string summary = testing::TempDir() + "fib-loop-" + std::to_string(::getpid()) + ".strace";
    auto tracer = std::make_unique<Process>(
        strace, std::vector<std::string>{"-c", "-f", "-o", summary, "-p", std::to_string(server->pid())});
    ASSERT_TRUE(tracer->wait_for_line("attached", 10s)) << "strace could not attach";
    bench::LoadConfig cfg;
    cfg.port = server->port();
    cfg.clients = 50;
    cfg.warmup_s = 0;
    cfg.requests = 10000;
    cfg.duration_s = 0;
    auto r = bench::run_load(cfg);
    EXPECT_EQ(r.errors.total(), 0u);
    tracer->stop();  // on SIGTERM strace detaches, writes its summary and exits 143
    tracer.reset();

    std::map<std::string, long> calls;  // strace -c: "% time seconds usecs/call calls [errors] syscall"
    std::ifstream in(summary);
    for (std::string line; std::getline(in, line);) {
        std::istringstream fields(line);
        std::vector<std::string> f{std::istream_iterator<std::string>(fields), {}};
        if (f.size() >= 5 && std::isdigit(static_cast<unsigned char>(f[3][0])) && f.back() != "total") {
            calls[f.back()] = std::stol(f[3]);
        }
    }
    std::remove(summary.c_str());
    long total = 0;
    std::string seen;
    for (auto& [name, n] : calls) {
        total += n;
        seen += name + " " + std::to_string(n) + ", ";
    }
    ASSERT_GE(calls["sendto"], 10000) << seen;
    const double replies = static_cast<double>(calls["sendto"]);
    std::printf("%.3f syscalls per reply: %s\n", static_cast<double>(total) / replies, seen.c_str());
    EXPECT_LE(static_cast<double>(calls["recvfrom"]), 1.01 * replies + cfg.clients + 1) << seen;
    EXPECT_LE(calls["epoll_wait"], calls["sendto"]) << "more than a wait per reply: " << seen;
    for (auto& [name, n] : calls) {
        if (name == "recvfrom" || name == "sendto" || name == "epoll_wait") continue;
        EXPECT_LE(n, 2 * cfg.clients + 8) << name << " is not once per client: " << seen;
    }
    EXPECT_EQ(server->stop(), 0) << dump(*server);
}

class ConcurrentServer : public testing::TestWithParam<ServerKind> {};

TEST_P(ConcurrentServer, FiftyClientsConnectedAtOnceAreAllAnswered) {
    SKIP_IF_UNAVAILABLE(GetParam());
    auto server = start(GetParam(), {"--quiet"});
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 50; ++i) clients.push_back(std::make_unique<Client>(server->port()));
    for (int i = 0; i < 50; ++i) clients[i]->send(std::to_string(i % 30) + "\n");
    for (int i = 0; i < 50; ++i) EXPECT_EQ(clients[i]->read_line(), expected_reply(i % 30)) << "client " << i;
    // All still connected: each answers again.
    for (int i = 0; i < 50; ++i) clients[i]->send("10\n");
    for (int i = 0; i < 50; ++i) EXPECT_EQ(clients[i]->read_line(), "55") << "client " << i;
    EXPECT_EQ(server->stop(), 0) << dump(*server);
}

TEST_P(ConcurrentServer, AClientThatNeverReadsDoesNotStopOthers) {
    SKIP_IF_UNAVAILABLE(GetParam());
    auto server = start(GetParam(), {"--quiet"});
    // A tiny receive window, then 10,000 pipelined requests (as many as the kernel takes), never read.
    Fd hog = connect_with_small_window(server->port(), 2048);
    set_nonblocking(hog.get());
    std::string burst;
    for (int i = 0; i < 10000; ++i) burst += "1\n";
    std::size_t sent = 0;
    for (int tries = 0; tries < 200 && sent < burst.size(); ++tries) {
        ssize_t n = ::send(hog.get(), burst.data() + sent, burst.size() - sent, MSG_NOSIGNAL);
        if (n > 0) sent += static_cast<std::size_t>(n);
        if (n <= 0) std::this_thread::sleep_for(1ms);  // bounded: the kernel may not take it all
    }
    EXPECT_GT(sent, 4096u);

    Client other(server->port());
    for (int i = 0; i < 20; ++i) {
        other.send("20\n");
        ASSERT_EQ(other.read_line(2s), "6765") << "request " << i;
    }
    EXPECT_EQ(server->stop(), 0) << dump(*server);
}

INSTANTIATE_TEST_SUITE_P(All, ConcurrentServer, testing::ValuesIn(concurrent_servers()), label_of);

// Ordering, not timing: which of two replies comes first. The slow request costs about half a
// second of CPU in this build (fib_costing), and the short one is sent once the server is seen
// computing it (its CPU has grown), so the answer does not depend on how busy the machine is.
struct OrderCase {
    ServerKind server;
    bool short_first;  // is fib(1) on another connection answered before the slow one?
};

void PrintTo(const OrderCase& c, std::ostream* os) { *os << c.server.label; }

class Ordering : public testing::TestWithParam<OrderCase> {};

TEST_P(Ordering, ShortRequestBesideASlowOne) {
    const OrderCase& c = GetParam();
    SLOW_REQUEST(n, 0.5);
    std::vector<std::string> args = c.server.args;
    args.insert(args.end(), {"--max-n", std::to_string(n)});
    ServerProcess server(bin(c.server.exe), args);
    Client slow(server.port()), quick(server.port());
    double idle = cpu_seconds(server.pid());
    slow.send(std::to_string(n) + "\n");
    ASSERT_TRUE(busy_beyond(server.pid(), idle, 0.05)) << "fib(" << n << ") never started" << dump(server);
    quick.send("1\n");
    ASSERT_EQ(quick.read_line(30s), "1");
    pollfd p{slow.fd(), POLLIN, 0};
    bool slow_already_answered = ::poll(&p, 1, 0) == 1;
    EXPECT_EQ(slow_already_answered, !c.short_first);
    EXPECT_EQ(slow.read_line(60s), expected_reply(n));
    EXPECT_EQ(server.stop(), 0) << dump(server);
}

std::vector<OrderCase> order_cases() {
    return {
        {{"loop_inline", "fib-loop", {"--quiet"}}, false},
        {{"loop_workers", "fib-loop", {"--quiet", "--workers", "2"}}, true},
        {{"loop_await_inline", "fib-loop", {"--quiet", "--handler", "await"}}, false},
        {{"loop_await_workers", "fib-loop", {"--quiet", "--handler", "await", "--workers", "2"}}, true},
        {{"threads", "fib-threads", {"--quiet"}}, true},
        {{"floor", "fib-floor", {"--quiet"}}, false},  // the ruler: one thread, fib inline
    };
}

INSTANTIATE_TEST_SUITE_P(All, Ordering, testing::ValuesIn(order_cases()),
                         [](const testing::TestParamInfo<OrderCase>& i) { return i.param.server.label; });

// select cannot watch a descriptor at or above FD_SETSIZE: such a client is told and closed.
TEST(LoopSelect, PastFdSetsizeClientsGetServerFull) {
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    const rlim_t need = FD_SETSIZE + 200;
    if (lim.rlim_max < need) GTEST_SKIP() << "RLIMIT_NOFILE hard limit " << lim.rlim_max << " < " << need;
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &raised);

    ServerProcess server(bin("fib-loop"), {"--backend", "select", "--quiet"});
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < FD_SETSIZE + 60; ++i) clients.push_back(std::make_unique<Client>(server.port()));
    for (std::size_t i = clients.size() - 20; i < clients.size(); ++i) {
        EXPECT_EQ(clients[i]->read_line(5s), "error: server full") << "client " << i;
    }
    clients[0]->send("10\n");
    EXPECT_EQ(clients[0]->read_line(), "55");
    clients.clear();
    Client fresh(server.port());  // descriptors are free again
    fresh.send("12\n");
    EXPECT_EQ(fresh.read_line(), "144");
    EXPECT_EQ(server.stop(), 0) << dump(server);
    int said = 0;
    for (const auto& line : server.lines()) said += line.find("FD_SETSIZE") != std::string::npos;
    EXPECT_EQ(said, 1);  // said once, not once per client
    ::setrlimit(RLIMIT_NOFILE, &lim);
}

// A finished client's thread closes its socket as it ends: after a burst of clients the server
// holds as many descriptors as before it, with nobody new connecting to make it clean up.
TEST(Threads, FinishedClientsLeaveNoDescriptorBehind) {
    ServerProcess server(bin("fib-threads"), {"--quiet"});
    auto open_fds = [&] {
        std::size_t n = 0;
        for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(server.pid()) + "/fd")) ++n;
        return n;
    };
    {
        Client warm(server.port());  // the first client settles what a served client leaves behind
        warm.send("1\n");
        ASSERT_EQ(warm.read_line(), "1");
    }
    std::size_t baseline = 0;
    for (int i = 0; i < 100 && (baseline = open_fds()) > 6; ++i) std::this_thread::sleep_for(10ms);
    {
        std::vector<std::unique_ptr<Client>> burst;
        for (int i = 0; i < 50; ++i) {
            burst.push_back(std::make_unique<Client>(server.port()));
            burst.back()->send("5\n");
            ASSERT_EQ(burst.back()->read_line(), "5");
        }
        EXPECT_GE(open_fds(), baseline + 50);
    }
    std::size_t now = open_fds();
    for (int i = 0; i < 200 && now > baseline; ++i) {  // bounded: the threads end within moments
        std::this_thread::sleep_for(10ms);
        now = open_fds();
    }
    EXPECT_EQ(now, baseline) << "descriptors still held after every client left";
    EXPECT_EQ(server.stop(), 0) << dump(server);
}

// Without --max-clients, epoll takes what the descriptor limit allows, well past select's 1024.
TEST(LoopDefaults, EpollHoldsPastTheOld1024WithNoFlag) {
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    const rlim_t need = 1500;
    if (lim.rlim_max < need) GTEST_SKIP() << "RLIMIT_NOFILE hard limit " << lim.rlim_max << " < " << need;
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &raised);

    ServerProcess server(bin("fib-loop"), {"--quiet"});
    std::string said = server.lines().front();
    EXPECT_NE(said.find("(epoll, up to "), std::string::npos) << said;
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 1100; ++i) clients.push_back(std::make_unique<Client>(server.port()));
    for (std::size_t i = 0; i < clients.size(); i += 100) {
        clients[i]->send("10\n");
        EXPECT_EQ(clients[i]->read_line(), "55") << "client " << i;
    }
    clients.back()->send("12\n");
    EXPECT_EQ(clients.back()->read_line(), "144");
    clients.clear();
    EXPECT_EQ(server.stop(), 0) << dump(server);
    ::setrlimit(RLIMIT_NOFILE, &lim);
}

// Out of memory, fib-threads closes the clients it cannot give a thread or their replies, and
// goes on serving. 300 clients, one in 15 pipelining 200 requests, with the address space the
// server uses and 8 MiB more: 261367e aborted ("terminate called recursively", std::bad_alloc
// out of a client's thread), every client lost. (Not under a sanitizer: its allocator cannot run
// under such a limit.)
TEST(Threads, OutOfMemoryCostsClientsNotTheServer) {
    if (kSanitized) GTEST_SKIP() << "a sanitizer's allocator cannot run under an address-space limit";
    ServerProcess server(bin("fib-threads"), {"--quiet"});
    {
        Client first(server.port());
        first.send("1\n");
        ASSERT_EQ(first.read_line(), "1");
    }
    long vm = vm_size_kib(server.pid());
    ASSERT_GT(vm, 0);
    rlimit as{static_cast<rlim_t>(vm + 8192) * 1024, static_cast<rlim_t>(vm + 8192) * 1024};
    ASSERT_EQ(::prlimit(server.pid(), RLIMIT_AS, &as, nullptr), 0);
    std::string many;
    for (int i = 0; i < 200; ++i) many += "20\n";
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 300; ++i) {
        try {
            clients.push_back(std::make_unique<Client>(server.port()));
            clients.back()->send(i % 15 == 0 ? many : "1\n");
        } catch (const std::exception&) {
            break;  // not even a connection: checked below
        }
    }
    for (auto& c : clients) (void)c->read_line(200ms);  // a reply, `server full`, or nothing
    clients.clear();
    bool served = false;
    for (int i = 0; i < 100 && !served; ++i) {  // its threads end as their clients' closes arrive
        Client fresh(server.port());
        fresh.send("12\n");
        served = fresh.read_line(2s) == "144";
        if (!served) std::this_thread::sleep_for(20ms);
    }
    EXPECT_TRUE(served) << dump(server);
    EXPECT_EQ(server.stop(), 0) << dump(server);
}

// Out of descriptors, fib-threads refuses a client with its spare descriptor. Once descriptors
// come back, the next client is served: 261367e had given up its spare and blocked in accept,
// committed to refusing whoever came next, however much later.
TEST(Threads, DescriptorsThatComeBackServeTheNextClient) {
    if (::access("/usr/bin/prlimit", X_OK) != 0) GTEST_SKIP() << "needs prlimit (util-linux)";
    if (kSanitized) GTEST_SKIP() << "a sanitizer's runtime needs descriptors of its own";
    ServerProcess server("/usr/bin/prlimit", {"--nofile=12:12", bin("fib-threads"), "--quiet"});
    std::vector<std::unique_ptr<Client>> held;
    bool refused = false;
    for (int i = 0; i < 20 && !refused; ++i) {
        held.push_back(std::make_unique<Client>(server.port()));
        held.back()->send("1\n");
        refused = held.back()->read_line(2s) != "1";
    }
    ASSERT_TRUE(refused) << "never out of descriptors" << dump(server);
    held.clear();
    auto stats = bench::read_proc_stats(server.pid());
    for (int i = 0; i < 200 && stats && stats->threads > 2; ++i) {  // every client's thread has ended
        std::this_thread::sleep_for(10ms);
        stats = bench::read_proc_stats(server.pid());
    }
    Client next(server.port());
    next.send("20\n");
    EXPECT_EQ(next.read_line(), "6765") << dump(server);
    EXPECT_EQ(server.stop(), 0) << dump(server);
}

TEST(Threads, SigtermWithManyClientsJoinsEveryThread) {
    ServerProcess server(bin("fib-threads"), {"--quiet"});
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 20; ++i) {
        clients.push_back(std::make_unique<Client>(server.port()));
        clients.back()->send("5\n");
        ASSERT_EQ(clients.back()->read_line(), "5");
    }
    auto stats = bench::read_proc_stats(server.pid());
    ASSERT_TRUE(stats);
    EXPECT_GE(stats->threads, 21);  // the accept loop and one per client
    EXPECT_EQ(server.stop(), 0) << dump(server);
    for (auto& c : clients) EXPECT_EQ(c->read_to_end(), "");  // each connection was closed
}

}  // namespace
}  // namespace fibs::test
