// End to end, every server: the article's session and the protocol's promises, on real processes.
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "servers.hpp"

namespace fibs::test {

namespace {

TEST_P(EveryServer, TheArticlesNcSession) {
    Client c(server->port());
    for (auto [req, rep] : {std::pair{"10", "55"}, {"10", "55"}, {"12", "144"}, {"20", "6765"}}) {
        c.send(std::string(req) + "\n");
        EXPECT_EQ(c.read_line(), rep) << "request " << req;
    }
}

TEST_P(EveryServer, PrintsConnectAndCloseLines) {
    {
        Client c(server->port());
        c.send("1\n");
        EXPECT_EQ(c.read_line(), "1");
        EXPECT_TRUE(server->wait_for_line("Connection 127.0.0.1:", 5s));
    }
    EXPECT_TRUE(server->wait_for_line("Connection Closed", 5s));
}

// A client's "Connection ..." line comes before anything of that client: at every point of the
// log, no more clients have closed than have connected.
TEST_P(EveryServer, EveryConnectLineComesBeforeItsCloseLine) {
    constexpr int kClients = 40;
    for (int i = 0; i < kClients; ++i) {
        Client c(server->port());
        c.shutdown_write();  // gone at once: the close races the connect line
    }
    int connected = 0, closed = 0;
    for (int i = 0; i < 500 && closed < kClients; ++i) {  // bounded: 500 x 10 ms
        connected = closed = 0;
        for (const auto& line : server->lines()) {
            if (line.starts_with("Connection 127.0.0.1:")) ++connected;
            if (line == "Connection Closed" && ++closed > connected) FAIL() << "a close before its connect" << dump(*server);
        }
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_EQ(closed, kClients) << dump(*server);
}

TEST_P(EveryServer, PipelinedRequestsAnsweredInOrder) {
    Client c(server->port());
    c.send("1\n2\n3\n");
    EXPECT_EQ(c.read_line(), "1");
    EXPECT_EQ(c.read_line(), "1");
    EXPECT_EQ(c.read_line(), "2");
}

TEST_P(EveryServer, RequestSplitAcrossTwoWrites) {
    Client c(server->port());
    c.send("1");
    std::this_thread::sleep_for(50ms);  // a real pause between two packets, not a wait
    c.send("2\n");
    EXPECT_EQ(c.read_line(), "144");
}

TEST_P(EveryServer, CrlfLineEnds) {
    Client c(server->port());
    c.send("10\r\n12\r\n");
    EXPECT_EQ(c.read_line(), "55");
    EXPECT_EQ(c.read_line(), "144");
}

TEST_P(EveryServer, LastLineWithoutNewlineIsAnsweredAtEndOfInput) {
    Client c(server->port());
    c.send("10");
    c.shutdown_write();  // what `printf 10 | nc -N` does
    EXPECT_EQ(c.read_to_end(), "55\n");
}

TEST_P(EveryServer, OverlongLineIsRefusedAndClosed) {
    {
        Client c(server->port());
        c.send("5\n" + std::string(200, '1') + "\n");
        EXPECT_EQ(c.read_to_end(), "5\nerror: line too long\n");
    }
}

TEST_P(EveryServer, ClientResetMidRequestDoesNotHurtTheServer) {
    // The assertions are in TearDown: a fresh client is still served, SIGTERM still exits 0.
    {
        Client c(server->port());
        c.send("12");
        c.reset();
    }
}

TEST_P(EveryServer, ClientThatLeavesBeforeReadingItsAnswer) {
    // The assertions are in TearDown: a fresh client is still served, SIGTERM still exits 0.
    {
        Client c(server->port());
        c.send("25\n25\n25\n");
        c.reset();  // the server's send may now hit a reset or a broken pipe
    }
}

TEST_P(EveryServer, QuietPrintsNoConnectionLines) {
    auto quiet = start(GetParam(), {"--quiet"});
    {
        Client c(quiet->port());
        c.send("10\n");
        EXPECT_EQ(c.read_line(), "55");
    }
    EXPECT_EQ(quiet->stop(), 0) << dump(*quiet);
    for (const auto& line : quiet->lines()) EXPECT_EQ(line.find("Connection"), std::string::npos) << line;
}

TEST_P(EveryServer, MaxNIsAFlag) {
    auto small = start(GetParam(), {"--max-n", "5"});
    Client c(small->port());
    c.send("5\n6\n");
    EXPECT_EQ(c.read_line(), "5");
    EXPECT_EQ(c.read_line(), "error: n out of range 0..5: \"6\"");
}

TEST_P(EveryServer, SigtermWithAClientConnectedExitsZero) {
    Client c(server->port());
    c.send("10\n");
    EXPECT_EQ(c.read_line(), "55");
    EXPECT_EQ(server->stop(), 0) << dump(*server);
    EXPECT_TRUE(server->wait_for_line("Shutting down", 1s));
    server.reset();
}

// Ctrl-C and SIGTERM, with nobody connected and with a client connected and idle: "Shutting down",
// exit code 0. (The blocking server waits in accept() or recv() then: the signal interrupts it.)
void expect_clean_stop(ServerProcess& server, int sig) {
    ::kill(server.pid(), sig);
    EXPECT_EQ(server.wait_exit(10s), 0) << dump(server);
    EXPECT_TRUE(server.wait_for_line("Shutting down", 1s)) << dump(server);
}

TEST_P(EveryServer, CtrlCWithNobodyConnectedExitsZero) {
    expect_clean_stop(*server, SIGINT);
    server.reset();
}

TEST_P(EveryServer, CtrlCWithAnIdleClientExitsZero) {
    Client c(server->port());
    c.send("10\n");
    EXPECT_EQ(c.read_line(), "55");
    expect_clean_stop(*server, SIGINT);
    server.reset();
}

TEST_P(EveryServer, SigtermWithNobodyConnectedExitsZero) {
    expect_clean_stop(*server, SIGTERM);
    server.reset();
}

// A stdout nobody reads (`fib-loop | less` left unscrolled, Ctrl-S in a terminal) fills after a few
// dozen lines. Serving goes on, and a stop still works: the log waits, not the server.
TEST_P(EveryServer, AStdoutNobodyReadsStallsNeitherServingNorTheStop) {
    server->stall_output();
    for (int i = 0; i < 400; ++i) {  // about 45 bytes of log each: the pipe is full long before the end
        Client c(server->port());
        c.send("1\n");
        ASSERT_EQ(c.read_line(2s), "1") << "client " << i << " was not served" << dump(*server);
    }
    auto stopped = std::chrono::steady_clock::now();
    EXPECT_EQ(server->stop(5s), 0) << "SIGTERM must end it while stdout is full" << dump(*server);
    EXPECT_LT(std::chrono::steady_clock::now() - stopped, 3s);
    server.reset();
}

INSTANTIATE_TEST_SUITE_P(All, EveryServer, testing::ValuesIn(all_servers()), label_of);
// The ruler fib-bench compare measures every step against (bench/floor.cpp) keeps the same protocol
// and stops the same way, or its figures would flatter it.
INSTANTIATE_TEST_SUITE_P(Ruler, EveryServer, testing::Values(ServerKind{"floor", "fib-floor", {}}), label_of);

}  // namespace
}  // namespace fibs::test
