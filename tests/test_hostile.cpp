// Hostile clients, every server: no input may crash a server, hang it, grow it without bound, or
// lose or reorder another client's answers. EveryServer's TearDown checks after each case that a
// fresh client is still served and that SIGTERM still ends the server with exit code 0.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <thread>

#include "proc_stats.hpp"
#include "servers.hpp"

namespace fibs::test {
namespace {

std::uint64_t peak_rss_kib(pid_t pid) {
    auto stats = bench::read_proc_stats(pid);
    return stats ? stats->hwm_kib : 0;
}

TEST_P(EveryServer, EveryKindOfBadRequestGetsOneErrorLine) {
    Client c(server->port());
    const std::pair<std::string, std::string> cases[] = {
        {"\n", "error: empty request"},
        {"   \t \n", "error: empty request"},
        {"\r\n", "error: empty request"},
        {"abc\n", "error: not a number: \"abc\""},
        {"12abc\n", "error: not a number: \"12abc\""},
        {"-1\n", "error: not a number: \"-1\""},
        {"+1\n", "error: not a number: \"+1\""},
        {"1e3\n", "error: not a number: \"1e3\""},
        {"0x1f\n", "error: not a number: \"0x1f\""},
        {"1 2\n", "error: not a number: \"1 2\""},
        {"1234567890123456789012345\n", "error: n out of range 0..40: \"1234567890123456789012345\""},
        {"41\n", "error: n out of range 0..40: \"41\""},
        {std::string("1\0" "2\n", 4), "error: not a number: \"1\\x002\""},
        {std::string("\0\n", 2), "error: not a number: \"\\x00\""},
        {"\x01\x7f\xff\n", "error: not a number: \"\\x01\\x7f\\xff\""},
        {"\xc3\x28\n", "error: not a number: \"\\xc3(\""},            // invalid UTF-8
        {"\xd9\xa1\n", "error: not a number: \"\\xd9\\xa1\""},         // ARABIC-INDIC DIGIT ONE
        {"\x1b[31m1\n", "error: not a number: \"\\x1b[31m1\""},        // a terminal escape
    };
    for (const auto& [req, rep] : cases) {
        c.send(req);
        EXPECT_EQ(c.read_line(), rep) << "request " << testing::PrintToString(req);
    }
    c.send("12\n");
    EXPECT_EQ(c.read_line(), "144");  // the connection goes on
}

TEST_P(EveryServer, AMegabyteLineWithoutNewlineIsRefusedWithoutBuffering) {
    Client c(server->port());
    c.send("10\n");  // first be served: the connection's own costs (a thread, a frame) come now
    ASSERT_EQ(c.read_line(), "55");
    auto before = peak_rss_kib(server->pid());
    std::thread writer([fd = c.fd()] {
        std::string chunk(64 * 1024, '7');
        for (int i = 0; i < 16; ++i) {  // 1 MiB; the server closes early, so sends may fail
            if (!blocking_send_all(fd, chunk)) break;
        }
    });
    EXPECT_EQ(c.read_line(10s), "error: line too long");
    writer.join();
    EXPECT_TRUE(c.read_to_end(5s).has_value()) << "the server kept the connection open";
    auto after = peak_rss_kib(server->pid());
    EXPECT_LT(after, before + 512) << "peak RSS grew from " << before << " to " << after << " KiB";
}

TEST_P(EveryServer, TenThousandRequestsInOneWriteAnsweredInOrder) {
    Client c(server->port());
    std::string burst;
    for (int i = 0; i < 10000; ++i) burst += std::to_string(i % 25) + "\n";
    std::thread writer([&c, &burst] { c.send(burst); });  // the replies are read meanwhile
    int in_order = 0;
    for (int i = 0; i < 10000; ++i) {
        auto line = c.read_line(10s);
        if (line != expected_reply(static_cast<unsigned>(i % 25))) {
            ADD_FAILURE() << "reply " << i << " is " << line.value_or("<none>");
            break;
        }
        ++in_order;
    }
    writer.join();
    EXPECT_EQ(in_order, 10000);
}

TEST_P(EveryServer, OneRequestDribbledAByteAtATime) {
    Client c(server->port());
    int one = 1;
    ::setsockopt(c.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // one byte, one segment
    for (char ch : std::string("  30\r\n")) {
        c.send(std::string(1, ch));
        std::this_thread::sleep_for(5ms);  // a pause between segments, not a wait
    }
    EXPECT_EQ(c.read_line(), "832040");
}

TEST_P(EveryServer, HalfCloseRightAfterTheRequestStillGetsTheAnswer) {
    Client c(server->port());
    c.send("10\n12\n");
    c.shutdown_write();
    EXPECT_EQ(c.read_to_end(), "55\n144\n");
}

TEST_P(EveryServer, ResetWhileTheAnswerIsBeingSent) {
    Client c(server->port());
    std::string burst;
    for (int i = 0; i < 20000; ++i) burst += "20\n";
    c.send(burst);
    EXPECT_EQ(c.read_line(), "6765");  // the server is answering now
    c.reset();
}

TEST_P(EveryServer, ManyClientsComeAndGo) {
    for (int i = 0; i < 200; ++i) {
        Client c(server->port());
        c.send("5\n");
        ASSERT_EQ(c.read_line(), "5") << "client " << i;
        if (i % 2) c.reset();
    }
}

// Every reply exactly once and in order, through a send path that must stop and resume: 200,000
// requests (50,000 under a sanitizer, still more replies than the sockets' buffers hold) whose
// replies (error lines) are ten times longer, and nothing read until the server's sends have
// filled the socket, so they go on later from where they stopped.
TEST_P(EveryServer, ASlowReaderGetsEveryReplyOnceAndInOrder) {
    Client c(server->port());
    constexpr int kRequests = kSanitized ? 50000 : 200000;
    auto request = [](int i) { return std::to_string(41 + i % 59); };  // 41..99: all out of range
    std::thread writer([&] {
        std::string burst;
        for (int i = 0; i < kRequests; ++i) burst += request(i) + "\n";
        c.send(burst);  // blocks while the server is not reading: it is waiting for us to read
    });
    ASSERT_TRUE(c.backed_up(server->pid())) << "the replies never filled the socket";  // the slow reader reads nothing until then
    int in_order = 0;
    for (int i = 0; i < kRequests; ++i) {
        auto line = c.read_line(10s);
        std::string expected = "error: n out of range 0..40: \"" + request(i) + "\"";
        if (line != expected) {
            ADD_FAILURE() << "reply " << i << " is " << line.value_or("<none>") << ", expected " << expected;
            break;
        }
        ++in_order;
    }
    writer.join();
    EXPECT_EQ(in_order, kRequests);
    EXPECT_TRUE(c.silent_for(100ms)) << "a reply came twice";
}

// A client that pipelines slow requests without end and never reads must not starve the others:
// each of them still gets every reply, in order, while it floods (the loop gives each task a turn).
// What the others wait is measured in the server's CPU, which a busy machine does not inflate: a
// turn is a few fib(30) at most (a millisecond or two); without turns it is a whole read of the
// flood, 1,365 of them. A stop then costs a unit of work more, not the rest of that read.
class Flood : public testing::TestWithParam<ServerKind> {};

TEST_P(Flood, OthersAreServedInOrderBesideAClientThatPipelinesFib30AndNeverReads) {
    SKIP_IF_UNAVAILABLE(GetParam());
    SKIP_WITHOUT_SLOW_REQUESTS();
    auto server = start(GetParam(), {"--quiet"});
    const double a_read_of_the_flood = 1365 * cpu_of_fib(30);
    Client hog(server->port());
    set_nonblocking(hog.fd());
    std::atomic<bool> done{false};
    std::thread flood([&] {
        std::string burst;
        for (int i = 0; i < 1000; ++i) burst += "30\n";
        for (int rounds = 0; rounds < 2000 && !done; ++rounds) {  // bounded: 2000 x at most 5 ms
            if (::send(hog.fd(), burst.data(), burst.size(), MSG_NOSIGNAL) < 0) std::this_thread::sleep_for(5ms);
        }
    });
    ASSERT_TRUE(busy_beyond(server->pid(), 0, 0.02)) << "the flood never reached the server" << dump(*server);
    std::vector<std::unique_ptr<Client>> others;
    for (int i = 0; i < 3; ++i) others.push_back(std::make_unique<Client>(server->port()));
    int answered = 0;
    double most = 0;  // the server's CPU from a round's requests to its last reply
    for (int round = 0; round < 10; ++round) {
        double sent = cpu_seconds(server->pid());
        for (int i = 0; i < 3; ++i) others[i]->send(std::to_string(round + i) + "\n" + std::to_string(round + i + 1) + "\n");
        for (int i = 0; i < 3; ++i) {
            auto a = others[i]->read_line(10s), b = others[i]->read_line(10s);
            EXPECT_EQ(a, expected_reply(round + i)) << "round " << round << " client " << i;
            EXPECT_EQ(b, expected_reply(round + i + 1)) << "round " << round << " client " << i;
            answered += (a == expected_reply(round + i)) + (b == expected_reply(round + i + 1));
        }
        most = std::max(most, cpu_seconds(server->pid()) - sent);
    }
    done = true;
    flood.join();
    EXPECT_EQ(answered, 60);
    EXPECT_LT(most, 0.25 * a_read_of_the_flood) << "a round of the others waited for " << most
                                                << " s of the server's CPU; a read of the flood is " << a_read_of_the_flood << " s";
    // A stop answers what was read up to a unit of work, not the rest of the flood's read.
    double at_stop = cpu_seconds(server->pid());
    EXPECT_EQ(server->stop(60s), 0) << dump(*server);
    ASSERT_TRUE(server->cpu_s_at_exit());
    EXPECT_LT(*server->cpu_s_at_exit() - at_stop, 0.25 * a_read_of_the_flood) << "the stop computed the flood's read";
}

INSTANTIATE_TEST_SUITE_P(All, Flood, testing::ValuesIn(concurrent_servers()), label_of);

// Descriptors run out: each client is served, told "server full", or closed; the server does not
// spin, and serves again once they leave. Runs the server under `prlimit --nofile=64`.
class FdLimit : public testing::TestWithParam<ServerKind> {};

TEST_P(FdLimit, PastTheDescriptorLimitClientsAreRefusedAndServiceResumes) {
    SKIP_IF_UNAVAILABLE(GetParam());
    const std::string prlimit = "/usr/bin/prlimit";
    if (::access(prlimit.c_str(), X_OK) != 0) GTEST_SKIP() << "needs prlimit (util-linux)";
    std::vector<std::string> args = {"--nofile=64", bin(GetParam().exe)};
    args.insert(args.end(), GetParam().args.begin(), GetParam().args.end());
    args.push_back("--quiet");
    ServerProcess server(prlimit, args);

    std::vector<std::unique_ptr<Client>> clients;
    int served = 0, full = 0, closed = 0;
    for (int i = 0; i < 100; ++i) {
        clients.push_back(std::make_unique<Client>(server.port()));
        clients.back()->send("1\n");
        auto line = clients.back()->read_line(3s);
        if (line == "1") {
            ++served;
        } else if (line == "error: server full") {
            ++full;
        } else {
            ++closed;
        }
    }
    EXPECT_GE(served, 40);
    EXPECT_GE(full, 1);
    EXPECT_EQ(served + full + closed, 100);

    double cpu0 = cpu_seconds(server.pid());
    std::this_thread::sleep_for(200ms);  // a window to measure, not a wait: a spin would fill it
    EXPECT_LT(cpu_seconds(server.pid()) - cpu0, 0.05) << "the server spins while out of descriptors";

    clients.clear();
    bool resumed = false;
    for (int attempt = 0; attempt < 100 && !resumed; ++attempt) {  // its threads may take a moment to end
        Client fresh(server.port());
        fresh.send("12\n");
        resumed = fresh.read_line(2s) == "144";
        if (!resumed) std::this_thread::sleep_for(20ms);
    }
    EXPECT_TRUE(resumed);
    EXPECT_EQ(server.stop(), 0) << dump(server);
    // Said once, not once per client, and truly: fib-loop keeps descriptors of its own, so its
    // clients are refused when the seats the limit leaves are taken, which it says; fib-threads
    // when accept() finds none left.
    std::map<std::string, int> said;
    for (const auto& line : server.lines()) {
        if (line.rfind("refusing clients: ", 0) == 0) ++said[line];
    }
    ASSERT_FALSE(said.empty()) << "no refusal was said" << dump(server);
    for (const auto& [line, times] : said) {
        EXPECT_EQ(times, 1) << line << ": said once, not once per client";
        bool loop = GetParam().exe == "fib-loop";
        EXPECT_NE(line.find(loop ? "clients the descriptor limit allows are connected (ulimit -n 64)" : "out of file descriptors"),
                  std::string::npos) << line;
    }
}

INSTANTIATE_TEST_SUITE_P(All, FdLimit, testing::ValuesIn(concurrent_servers()), label_of);

// --max-clients, the same flag and message on every server that serves several at once.
class MaxClients : public testing::TestWithParam<ServerKind> {};

TEST_P(MaxClients, TheFifthIsRefusedUntilOneLeaves) {
    SKIP_IF_UNAVAILABLE(GetParam());
    auto server = start(GetParam(), {"--max-clients", "4", "--quiet"});
    std::vector<std::unique_ptr<Client>> four;
    for (int i = 0; i < 4; ++i) {
        four.push_back(std::make_unique<Client>(server->port()));
        four.back()->send("10\n");
        ASSERT_EQ(four.back()->read_line(), "55");  // each is being served before the next comes
    }
    Client fifth(server->port());
    EXPECT_EQ(fifth.read_to_end(), "error: server full\n");
    four.pop_back();  // one leaves
    bool served = false;
    for (int attempt = 0; attempt < 50 && !served; ++attempt) {  // the server notices the leave soon
        Client next(server->port());
        next.send("12\n");
        served = next.read_line() == "144";
        if (!served) std::this_thread::sleep_for(20ms);
    }
    EXPECT_TRUE(served);
    EXPECT_EQ(server->stop(), 0) << dump(*server);
}

INSTANTIATE_TEST_SUITE_P(All, MaxClients, testing::ValuesIn(concurrent_servers()), label_of);

}  // namespace
}  // namespace fibs::test
