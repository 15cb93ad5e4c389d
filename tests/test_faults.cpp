// fib-loop when the kernel refuses a resource. A refusal costs one client, never the server: the
// others are still served, the log says so once, and SIGTERM still ends it with exit code 0. A
// wait that cannot be retried ends it with an `error:` line and exit code 1, never an abort.
// The refusals come from the FIBS_FAULTS seam (02_coroutine_loop/faults.hpp), on every backend.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cstdlib>

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
protected:
    void start_with(const std::string& faults) {
        ::setenv("FIBS_FAULTS", faults.c_str(), 1);
        server = start(GetParam());
        ::unsetenv("FIBS_FAULTS");
    }
    long lines_with(const std::string& text) {
        auto lines = server->lines();
        return std::count_if(lines.begin(), lines.end(), [&](auto& l) { return l.find(text) != std::string::npos; });
    }
    void SetUp() override { SKIP_IF_UNAVAILABLE(GetParam()); }
    std::unique_ptr<ServerProcess> server;
};

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
        for (int i = 0; i < 5; ++i) {  // the third wait fails, within these few requests
            c.send("1\n");
            if (c.read_line(1s) != "1") break;
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
    start_with("");
    Client waiting(server->port()), idle(server->port());
    idle.send("1\n");
    EXPECT_EQ(idle.read_line(), "1");
    waiting.send("32\n");  // a few ms, on a worker with --workers
    ::kill(server->pid(), SIGTERM);
    EXPECT_EQ(server->wait_exit(10s), 0) << dump(*server);
    EXPECT_TRUE(server->wait_for_line("Shutting down", 1s)) << dump(*server);
    server.reset();
}

INSTANTIATE_TEST_SUITE_P(Loop, LoopFaults, testing::ValuesIn(loop_servers()), label_of);

}  // namespace
}  // namespace fibs::test
