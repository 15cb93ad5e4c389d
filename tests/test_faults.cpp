// fib-loop when the kernel refuses a resource. A refusal costs one client, never the server: the
// others are still served, the log says so once, and SIGTERM still ends it with exit code 0. A
// wait that cannot be retried ends it with an `error:` line and exit code 1, never an abort.
// The refusals come from the FIBS_FAULTS seam (02_coroutine_loop/faults.hpp), on every backend.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <thread>

#include "proc_stats.hpp"
#include "servers.hpp"

namespace fibs::test {
namespace {

std::vector<ServerKind> loop_servers() {
    std::vector<ServerKind> out;
    for (auto& k : all_servers()) {
        if (k.exe == "fib-loop") out.push_back(k);
    }
    return out;
}

class LoopFaults : public testing::TestWithParam<ServerKind> {
public:
    void start_with(const std::string& faults, std::vector<std::string> extra = {}) {
        ::setenv("FIBS_FAULTS", faults.c_str(), 1);
        server = start(GetParam(), std::move(extra));
        ::unsetenv("FIBS_FAULTS");
    }
    long lines_with(const std::string& text) {
        auto lines = server->lines();
        return std::count_if(lines.begin(), lines.end(), [&](auto& l) { return l.find(text) != std::string::npos; });
    }
    void SetUp() override { SKIP_IF_UNAVAILABLE(GetParam()); }
    std::unique_ptr<ServerProcess> server;
};

// Out of memory, for real: the running server gets an address-space limit half a MiB above what it
// uses, and clients come until some are refused. A refused client costs itself only, and the
// accept task goes on: once clients leave, a new one is served, and SIGTERM ends it with 0. Never
// the silent failure (alive, but refusing all), and never the end of the server: its own tasks
// wait without memory, as every task does once let in (Loop::add). Over IPv4 and over IPv6,
// whose addresses are too long to be kept without memory (261367e's accept task ended on them
// with "std::bad_alloc").
// (Not under a sanitizer: its allocator cannot run under such a limit.)
void out_of_memory_costs_clients(LoopFaults& t, const std::string& host) {
    SCOPED_TRACE(host);
    ::setenv("MALLOC_ARENA_MAX", "1", 1);  // every thread's allocations under the limit (see OutOfMemory below)
    t.start_with("", {"--host", host});
    ::unsetenv("MALLOC_ARENA_MAX");
    auto& server = t.server;
    {  // a reply means start-up is over: every loop's thread runs
        Client first(server->port(), host);
        first.send("1\n");
        ASSERT_EQ(first.read_line(), "1");
    }
    long vm = vm_size_kib(server->pid());
    ASSERT_GT(vm, 0);
    rlimit as{static_cast<rlim_t>(vm + 512) * 1024, static_cast<rlim_t>(vm + 512) * 1024};
    ASSERT_EQ(::prlimit(server->pid(), RLIMIT_AS, &as, nullptr), 0);
    std::vector<std::unique_ptr<Client>> held;
    int refused = 0;
    bool connected = true;
    for (int i = 0; i < 4500 && refused < 20 && connected; ++i) {
        try {
            auto c = std::make_unique<Client>(server->port(), host);
            c->send("1\n");
            if (c->read_line(2s) == "1") held.push_back(std::move(c));
            else ++refused;
        } catch (const std::exception&) {
            connected = false;  // no listener: the server is ending (checked below)
        }
    }
    ASSERT_TRUE(refused > 0 || !connected) << "memory never ran out: the test proved nothing (" << held.size() << " held)";
    held.erase(held.begin(), held.begin() + std::min<std::ptrdiff_t>(300, std::ssize(held)));  // some leave
    bool served = false;
    for (int i = 0; i < 50 && !served && connected; ++i) {  // their frames are freed as the loop sees them go
        try {
            Client fresh(server->port(), host);
            fresh.send("2\n");  // below every kind's --offload-min: the accept task is what is tested
            served = fresh.read_line(1s) == "1";
        } catch (const std::exception&) {
            connected = false;
        }
        if (!served) std::this_thread::sleep_for(20ms);
    }
    held.clear();
    EXPECT_TRUE(served) << "not served once clients left" << dump(*server);
    EXPECT_EQ(server->stop(), 0) << dump(*server);  // (its "refusing clients: out of memory" line may itself find no memory: not checked)
}

TEST_P(LoopFaults, OutOfMemoryRefusesClientsOneByOne) {
    if (kSanitized) GTEST_SKIP() << "a sanitizer's allocator cannot run under an address-space limit";
    rlimit files{};
    ::getrlimit(RLIMIT_NOFILE, &files);
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
    if (files.rlim_cur < 5000) GTEST_SKIP() << "needs 5,000 descriptors, the hard limit is " << files.rlim_max;
    out_of_memory_costs_clients(*this, "127.0.0.1");
    server.reset();
    out_of_memory_costs_clients(*this, "::1");
}

TEST_P(LoopFaults, ADescriptorTheKernelWillNotWatchCostsThatClientOnly) {
    start_with("add-limit=2");  // as epoll_ctl's ENOSPC past fs.epoll.max_user_watches
    Client a(server->port()), b(server->port());
    a.send("10\n");
    b.send("12\n");
    EXPECT_EQ(a.read_line(), "55");
    EXPECT_EQ(b.read_line(), "144");
    for (int i = 0; i < 3; ++i) {
        Client refused(server->port());
        EXPECT_EQ(refused.read_line(), "error: server full") << dump(*server);
        EXPECT_EQ(refused.read_to_end(), "");
    }
    a.send("20\n");
    EXPECT_EQ(a.read_line(), "6765") << "a client already watched is no longer served";
    EXPECT_TRUE(server->wait_for_line("refusing clients: ", 5s)) << dump(*server);
    EXPECT_EQ(lines_with("refusing clients: "), 1) << "once per kind" << dump(*server);
    EXPECT_EQ(lines_with("No space left on device"), 1) << dump(*server);
    EXPECT_EQ(server->stop(), 0) << dump(*server);
}

TEST_P(LoopFaults, AWatchTheKernelRefusesClosesThatClientOnly) {
    start_with("refuse-watch=2");  // as a full io_uring: every second watch of a client's socket
    Client a(server->port());
    a.send("10\n");  // watch 1 was a's first wait
    EXPECT_EQ(a.read_line(), "55");
    EXPECT_EQ(a.read_to_end(), "") << "its next wait (watch 2) was refused: it must be closed" << dump(*server);
    Client b(server->port());
    b.send("12\n");  // watch 3
    EXPECT_EQ(b.read_line(), "144") << dump(*server);
    EXPECT_EQ(b.read_to_end(), "");  // watch 4
    EXPECT_TRUE(server->wait_for_line("refusing clients: ", 5s)) << dump(*server);
    EXPECT_EQ(lines_with("refusing clients: "), 1) << "once per kind" << dump(*server);
    EXPECT_EQ(server->stop(), 0) << dump(*server);
}

TEST_P(LoopFaults, AWaitThatCannotBeRetriedEndsTheServerWithExitOne) {
    start_with("wait-error=3");
    {
        Client c(server->port());
        for (int i = 0; i < 50; ++i) {  // the third wait fails within a few requests, however few waits each costs
            c.send("1\n");
            if (c.read_line(10s) != "1") break;
        }
    }
    EXPECT_EQ(server->wait_exit(10s), 1) << dump(*server);
    EXPECT_EQ(lines_with("error: "), 1) << dump(*server);
    EXPECT_EQ(lines_with("Bad file descriptor"), 1) << dump(*server);
    EXPECT_EQ(lines_with("terminate called"), 0) << dump(*server);
    server.reset();
}

TEST_P(LoopFaults, WithNoDescriptorToSpareTheAcceptTaskPausesInsteadOfSpinning) {
    start_with("hold-descriptors-ms=500");  // every free descriptor taken: no spare, no client
    double cpu0 = bench::read_proc_stats(server->pid())->cpu_s;
    Client c(server->port());  // waits in the backlog until the descriptors come back
    c.send("20\n");
    EXPECT_EQ(c.read_line(), "6765") << dump(*server);
    double cpu = bench::read_proc_stats(server->pid())->cpu_s - cpu0;
    EXPECT_LT(cpu, 0.25) << "the server burned CPU while it could not accept: it spun";
    EXPECT_EQ(lines_with("refusing clients: out of file descriptors, none spare"), 1) << dump(*server);
    EXPECT_EQ(server->stop(), 0) << dump(*server);
}

// The shared state outlives the frames: a stop with a frame parked on a worker's result, and one
// parked on a socket, frees them after the workers stop and before the state they point into.
TEST_P(LoopFaults, SigtermWithAClientWaitingOnItsAnswerExitsZero) {
    SLOW_REQUEST(n, 0.3);  // on a worker with --workers
    start_with("", {"--max-n", std::to_string(n)});
    Client waiting(server->port()), idle(server->port());
    idle.send("1\n");
    EXPECT_EQ(idle.read_line(), "1");
    double before = cpu_seconds(server->pid());
    waiting.send(std::to_string(n) + "\n");
    ASSERT_TRUE(busy_beyond(server->pid(), before, 0.05)) << "the request is never computed" << dump(*server);
    ::kill(server->pid(), SIGTERM);
    EXPECT_EQ(waiting.read_line(10s), expected_reply(n)) << "the answer being computed" << dump(*server);
    EXPECT_EQ(server->wait_exit(10s), 0) << dump(*server);
    EXPECT_TRUE(server->wait_for_line("Shutting down", 1s)) << dump(*server);
    server.reset();
}

// The server's own tasks have a stricter contract than a client's: a refused watch of one of their
// descriptors ends the server with one `error:` line naming the task, and exit code 1, never a
// process that lives on half dead. One test per task, by the kernel's name for its descriptor.
void expect_ends_naming(ServerProcess& server, const std::string& task, const std::string& kind) {
    EXPECT_EQ(server.wait_exit(10s), 1) << dump(server);
    auto lines = server.lines();
    long errors = std::count_if(lines.begin(), lines.end(), [](auto& l) { return l.rfind("error: ", 0) == 0; });
    EXPECT_EQ(errors, 1) << dump(server);
    std::string want = "error: " + task + " cannot go on: ";
    EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [&](auto& l) {
        return l.rfind(want, 0) == 0 && l.find("a watch of the " + kind) != std::string::npos;
    })) << "no line starting \"" << want << "\"" << dump(server);
}

TEST_P(LoopFaults, ARefusedWatchOfTheListenerEndsTheServerWithExitOne) {
    start_with("refuse-own=listener");  // the accept task's first wait
    expect_ends_naming(*server, "fib_server", "listener");
    server.reset();
}

TEST_P(LoopFaults, ARefusedWatchOfTheMailboxEndsTheServerWithExitOne) {
    start_with("refuse-own=eventfd");  // future_monitor's first wait
    expect_ends_naming(*server, "future_monitor", "eventfd");
    server.reset();
}

TEST_P(LoopFaults, ARefusedWatchOfTheStopPipeEndsTheServerWithExitOne) {
    start_with("refuse-own=pipe");  // stop_watcher's first wait: without it no signal would be heard
    expect_ends_naming(*server, "stop_watcher", "pipe");
    server.reset();
}

TEST_P(LoopFaults, ARefusedWatchOfThePauseTimerEndsTheServerWithExitOne) {
    start_with("refuse-own=timerfd,hold-descriptors-ms=2000");  // no descriptor: the accept task pauses
    Client c(server->port());  // makes the listener readable; accepting it fails for want of a descriptor
    expect_ends_naming(*server, "fib_server", "timerfd");
    server.reset();
}

// Ctrl-C twice: the first asks for a clean stop, the second ends the process at once, even while
// the loop computes a fib(50) (about 20 s) or waits for a worker that does.
TEST_P(LoopFaults, ASecondSigintEndsTheServerAtOnceEvenDuringALongFib) {
    SKIP_WITHOUT_SLOW_REQUESTS();
    server = start(GetParam(), {"--max-n", "60"});
    Client c(server->port());
    c.send("1\n");
    EXPECT_EQ(c.read_line(), "1");
    double idle = cpu_seconds(server->pid());
    c.send("50\n");
    ASSERT_TRUE(busy_beyond(server->pid(), idle, 0.03)) << dump(*server);  // the fib has started
    ::kill(server->pid(), SIGINT);
    ASSERT_TRUE(signal_taken(server->pid(), SIGINT)) << dump(*server);  // two pending would be one
    double second = cpu_seconds(server->pid());
    ::kill(server->pid(), SIGINT);
    EXPECT_EQ(server->wait_exit(30s), 128 + SIGINT) << "the second Ctrl-C did not end the server" << dump(*server);
    ASSERT_TRUE(server->cpu_s_at_exit());
    EXPECT_LT(*server->cpu_s_at_exit() - second, 0.5) << "it went on computing after the second Ctrl-C" << dump(*server);
    server.reset();
}

INSTANTIATE_TEST_SUITE_P(Loop, LoopFaults, testing::ValuesIn(loop_servers()), label_of);

// Out of memory as review found it: clients that send lines the server answers with `error:`
// replies and never read them (the replies wait in the server's memory: their receive buffers are
// kept small), with the address space the server uses and 8 MiB more; then 20 new clients. Each
// of the 20 is answered, the server is alive, and SIGTERM ends it with 0: a client that found no
// memory cost itself only, on one loop and on several, with the pool or without. (261367e ended
// with `error: out of memory`, or a SIGSEGV, on two loops: a wait table that grew freed the task
// it was adding.) Not under a sanitizer: its allocator cannot run under such a limit.
class OutOfMemory : public testing::TestWithParam<ServerKind> {};

TEST_P(OutOfMemory, ClientsThatFillTheMemoryCostThemselvesOnly) {
    if (kSanitized) GTEST_SKIP() << "a sanitizer's allocator cannot run under an address-space limit";
    SKIP_IF_UNAVAILABLE(GetParam());
    // One malloc arena for every thread, as when the limit is set before the server starts: else
    // each thread's arena has 64 MiB of address space reserved already, and the limit binds none.
    ::setenv("MALLOC_ARENA_MAX", "1", 1);
    auto server = start(GetParam(), {"--quiet"});
    ::unsetenv("MALLOC_ARENA_MAX");
    {  // a reply means start-up is over: every loop's thread runs
        Client first(server->port());
        first.send("1\n");
        ASSERT_EQ(first.read_line(), "1");
    }
    long vm = vm_size_kib(server->pid());
    ASSERT_GT(vm, 0);
    rlimit as{static_cast<rlim_t>(vm + 8 * 1024) * 1024, static_cast<rlim_t>(vm + 8 * 1024) * 1024};
    ASSERT_EQ(::prlimit(server->pid(), RLIMIT_AS, &as, nullptr), 0);
    const std::string lines(8 * 1024, '\n');  // 8,192 empty lines: about 300 KiB of replies each
    std::vector<Fd> hogs;
    for (int i = 0; i < 300; ++i) {
        Fd hog = connect_with_small_window(server->port(), 4096);
        set_nonblocking(hog.get());
        [[maybe_unused]] ssize_t n = ::send(hog.get(), lines.data(), lines.size(), MSG_NOSIGNAL);
        hogs.push_back(std::move(hog));
    }
    ASSERT_TRUE(server->wait_for_line("out of memory", 30s)) << "memory never ran out: the test proved nothing" << dump(*server);
    ASSERT_TRUE(eventually_idle(server->pid())) << "the server never settled" << dump(*server);
    for (int i = 0; i < 20; ++i) {
        Client c(server->port());
        c.send("1\n");
        EXPECT_EQ(c.read_line(10s), "1") << "client " << i << " of the 20" << dump(*server);
    }
    hogs.clear();
    EXPECT_EQ(server->stop(), 0) << dump(*server);
}

std::vector<ServerKind> memory_kinds() {
    return {{"loop", "fib-loop", {}},
            {"loop_workers", "fib-loop", {"--workers", "2"}},
            {"loops2", "fib-loop", {"--loops", "2"}},
            {"loops2_workers_io_uring", "fib-loop", {"--loops", "2", "--workers", "2", "--backend", "io_uring"}},
            {"loops2_handoff_await_workers", "fib-loop", {"--loops", "2", "--spread", "handoff", "--handler", "await", "--workers", "2"}},
            {"loops4", "fib-loop", {"--loops", "4"}},
            {"loops4_workers", "fib-loop", {"--loops", "4", "--workers", "2"}}};
}
INSTANTIATE_TEST_SUITE_P(Loops, OutOfMemory, testing::ValuesIn(memory_kinds()), label_of);

// At any descriptor limit fib-loop either starts, taking at least one client, or says why it
// cannot in one `error:` line and exits 1; never a `terminate`, never "up to -8 clients".
TEST(LoopStartUp, AtEveryTinyDescriptorLimitOneClearLineOrAtLeastOneClient) {
    for (int limit = 6; limit <= 24; ++limit) {  // below 6 the dynamic loader itself fails
        SCOPED_TRACE("ulimit -n " + std::to_string(limit));
        // (LeakSanitizer needs descriptors of its own at exit: off here, where there are none.)
        Process p("/bin/sh", {"-c", "export ASAN_OPTIONS=\"$ASAN_OPTIONS:detect_leaks=0\"; ulimit -n " +
                                        std::to_string(limit) + " && exec " + bin("fib-loop") + " --port 0"});
        auto listening = p.wait_for_line("Listening on ", 10s);
        auto lines = p.lines();
        std::string all;
        for (auto& l : lines) all += "  | " + l + "\n";
        EXPECT_EQ(all.find("terminate"), std::string::npos) << all;
        if (!listening) {
            EXPECT_EQ(p.wait_exit(5s), 1) << all;
            ASSERT_EQ(lines.size(), 1u) << all;
            EXPECT_EQ(lines[0].rfind("error: ", 0), 0u) << all;
            continue;
        }
        std::smatch m;
        std::string line = lines[*listening];
        ASSERT_TRUE(std::regex_search(line, m, std::regex(R"(up to ([-0-9,]+) clients?\))"))) << line;
        EXPECT_GE(std::stoi(m[1]), 1) << line;
        std::string port = line.substr(line.find(':') + 1);
        Client c(static_cast<std::uint16_t>(std::stoi(port.substr(0, port.find(' ')))));
        c.send("20\n");
        auto reply = c.read_line();
        EXPECT_TRUE(reply == "6765" || reply == "error: server full") << reply.value_or("(nothing)") << "\n" << all;
        EXPECT_EQ(p.stop(), 0) << all;
    }
}

// Under an address-space limit from its first instruction, fib-loop with two loops and two
// workers either says Listening once every thread runs, and serves, or says in one `error:` line
// which thread could not start, and exits 1: never Listening and then an error, never a bare
// "Resource temporarily unavailable". (Below 7 MiB the C++ runtime cannot throw at all, and below
// 6 MiB the dynamic loader fails: not tried. Not under a sanitizer, whose runtime needs more.)
TEST(LoopStartUp, UnderAnyMemoryLimitListeningOnlyOnceEveryThreadRuns) {
    if (kSanitized) GTEST_SKIP() << "a sanitizer's allocator cannot run under an address-space limit";
    if (::access("/usr/bin/prlimit", X_OK) != 0) GTEST_SKIP() << "needs prlimit (util-linux)";
    for (int mib = 8; mib <= 48; mib += 4) {
        SCOPED_TRACE("prlimit --as " + std::to_string(mib) + " MiB");
        Process p("/usr/bin/prlimit", {"--as=" + std::to_string(mib << 20), bin("fib-loop"), "--port", "0", "--loops", "2",
                                       "--workers", "2", "--quiet"});
        auto listening = p.wait_for_line("Listening on ", 10s);
        std::optional<int> code = listening ? std::nullopt : p.wait_exit(5s);
        auto lines = p.lines();
        std::string all;
        for (auto& l : lines) all += "  | " + l + "\n";
        if (!listening) {
            EXPECT_EQ(code, 1) << all;
            ASSERT_EQ(lines.size(), 1u) << all;
            EXPECT_EQ(lines[0].rfind("error: cannot start ", 0), 0u) << all;
            continue;
        }
        EXPECT_EQ(lines.size(), 1u) << all;
        std::string line = lines[*listening];
        std::string port = line.substr(line.find(':') + 1);
        Client c(static_cast<std::uint16_t>(std::stoi(port.substr(0, port.find(' ')))));
        c.send("20\n");
        EXPECT_EQ(c.read_line(), "6765") << all;
        EXPECT_EQ(p.stop(), 0) << all;
    }
}

}  // namespace
}  // namespace fibs::test
