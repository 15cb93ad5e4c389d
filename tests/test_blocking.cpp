// Step 1 and Step 2 on the blocking server: what only it does.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "servers.hpp"

namespace fibs::test {
namespace {

// Step 2: while one client stays connected, a second one gets nothing; when the first leaves,
// the second is answered.
TEST(Blocking, SecondClientWaitsUntilTheFirstLeaves) {
    ServerProcess server(bin("fib-blocking"), {});
    auto first = std::make_unique<Client>(server.port());
    first->send("10\n");
    ASSERT_EQ(first->read_line(), "55");

    Client second(server.port());  // the kernel completes the connect; nobody accepts it yet
    second.send("12\n");
    EXPECT_TRUE(second.silent_for(300ms));

    first.reset();  // the first client leaves
    EXPECT_EQ(second.read_line(), "144");
    EXPECT_EQ(server.stop(), 0) << dump(server);
}

// Step 1 blocks for real: in accept() and recv(), never in poll, select or epoll. Runs the server
// under strace while one client sends 100 requests.
TEST(Blocking, WaitsInAcceptAndRecvNeverInAPoller) {
    const std::string strace = "/usr/bin/strace";
    if (::access(strace.c_str(), X_OK) != 0) GTEST_SKIP() << "needs strace (./workshop setup installs it)";
    std::string trace = testing::TempDir() + "fib-blocking-" + std::to_string(::getpid()) + ".strace";
    // LeakSanitizer cannot run under ptrace: an ASan build's leak check is off for this one run.
    ServerProcess server(strace, {"-f", "-qq", "-o", trace, "-E", "ASAN_OPTIONS=detect_leaks=0", "-e",
                                  "trace=accept,accept4,recvfrom,poll,ppoll,select,pselect6,epoll_wait,epoll_pwait",
                                  bin("fib-blocking"), "--quiet"});
    {
        Client c(server.port());
        for (int i = 0; i < 100; ++i) {
            c.send(std::to_string(i % 30) + "\n");
            ASSERT_EQ(c.read_line(), expected_reply(i % 30));
        }
    }
    // strace holds fatal signals with -o; the signal goes to the server, its only child.
    std::ifstream children("/proc/" + std::to_string(server.pid()) + "/task/" + std::to_string(server.pid()) + "/children");
    pid_t child = 0;
    ASSERT_TRUE(children >> child) << "no child of strace";
    ::kill(child, SIGTERM);
    EXPECT_EQ(server.wait_exit(10s), 0) << dump(server);

    std::ifstream in(trace);
    int accepts = 0, recvs = 0;
    for (std::string line; std::getline(in, line);) {
        accepts += line.find("accept") != std::string::npos;
        recvs += line.find("recvfrom(") != std::string::npos;
        for (const char* poller : {"poll(", "select(", "epoll_wait(", "epoll_pwait("}) {
            EXPECT_EQ(line.find(poller), std::string::npos) << line;
        }
    }
    EXPECT_GE(accepts, 1);
    EXPECT_GE(recvs, 100);
    std::remove(trace.c_str());
}

// Ctrl-C while fib is being computed: that request is answered first, then the server stops.
TEST(Blocking, SigtermWhileComputingAnswersThatRequestFirst) {
    SLOW_REQUEST(n, 0.3);
    ServerProcess server(bin("fib-blocking"), {"--quiet", "--max-n", std::to_string(n)});
    Client c(server.port());
    double idle = cpu_seconds(server.pid());
    c.send(std::to_string(n) + "\n");
    ASSERT_TRUE(busy_beyond(server.pid(), idle, 0.03)) << dump(server);  // the signal lands during fib(n)
    ::kill(server.pid(), SIGTERM);
    EXPECT_EQ(c.read_to_end(10s), expected_reply(n) + "\n");
    EXPECT_EQ(server.wait_exit(10s), 0) << dump(server);
    EXPECT_TRUE(server.wait_for_line("Shutting down", 1s));
}

TEST(Blocking, PortInUseGivesAClearErrorAndExitCode1) {
    Fd taken = listen_on("127.0.0.1", 0);
    std::string port = std::to_string(local_port(taken.get()));
    Finished run = run_to_end(bin("fib-blocking"), {"--port", port});
    EXPECT_EQ(run.code, 1);
    EXPECT_EQ(run.output, "error: cannot listen on 127.0.0.1:" + port + ": Address already in use\n");
}

TEST(Blocking, MaxNAbove92IsRejected) {
    Finished run = run_to_end(bin("fib-blocking"), {"--max-n", "93"});
    EXPECT_NE(run.code, 0);
    EXPECT_NE(run.output.find("--max-n"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace fibs::test
