// Step 5: a loop per core. How clients reach the loops (--spread), limits for the server as a
// whole, and a stop that ends every loop.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <regex>
#include <thread>

#include "servers.hpp"

namespace fibs::test {
namespace {

// How many "Connection ... (loop N)" lines each loop has, once `clients` have been logged.
std::map<int, int> per_loop(ServerProcess& server, int clients) {
    std::map<int, int> out;
    std::regex line(R"(^Connection 127\.0\.0\.1:\d+ \(loop (\d+)\)$)");
    for (int i = 0; i < 100; ++i) {  // bounded: the lines come from two threads
        out.clear();
        int seen = 0;
        for (const auto& l : server.lines()) {
            std::smatch m;
            if (std::regex_match(l, m, line)) {
                ++out[std::stoi(m[1])];
                ++seen;
            }
        }
        if (seen >= clients) break;
        std::this_thread::sleep_for(20ms);
    }
    return out;
}

// Connects `n` clients and checks that each is answered.
std::vector<std::unique_ptr<Client>> served_clients(ServerProcess& server, int n) {
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < n; ++i) clients.push_back(std::make_unique<Client>(server.port()));
    for (int i = 0; i < n; ++i) clients[i]->send(std::to_string(i % 30) + "\n");
    for (int i = 0; i < n; ++i) EXPECT_EQ(clients[i]->read_line(), expected_reply(i % 30)) << "client " << i;
    return clients;
}

class Spread : public testing::TestWithParam<std::string> {  // by backend
protected:
    void SetUp() override {
        if (GetParam() == "io_uring") SKIP_IF_UNAVAILABLE((ServerKind{"", "fib-loop", {"io_uring"}}));
    }
    // Serves `clients` at once with --spread `spread`, stops the server (exit 0), and returns how
    // many clients each loop took, from its Connection lines.
    std::map<int, int> spread_of(const std::string& spread, int clients) {
        ServerProcess server(bin("fib-loop"), {"--loops", "2", "--spread", spread, "--backend", GetParam()});
        EXPECT_NE(server.lines()[0].find("2 loops, spread by " + spread), std::string::npos) << server.lines()[0];
        auto connected = served_clients(server, clients);
        auto loops = per_loop(server, clients);
        connected.clear();
        EXPECT_EQ(server.stop(), 0) << dump(server);
        return loops;
    }
};

// handoff hands the clients out in turn: 8 clients are 4 and 4, every time.
TEST_P(Spread, HandoffGivesEightClientsFourToEachLoop) {
    EXPECT_EQ(spread_of("handoff", 8), (std::map<int, int>{{1, 4}, {2, 4}}));
}

// reuseport lets the kernel pick, by a hash of each client's address: 64 clients reach both loops
// (the chance that a fair hash puts all 64 on one of two is 2 in 2^64).
TEST_P(Spread, ReuseportReachesBothLoops) {
    auto loops = spread_of("reuseport", 64);
    EXPECT_EQ(loops.size(), 2u);
    EXPECT_EQ(loops[1] + loops[2], 64);
}

// shared: every loop watches one listening socket; whichever accepts first takes the client.
TEST_P(Spread, SharedServesEveryClientOnSomeLoop) {
    auto loops = spread_of("shared", 16);
    EXPECT_EQ(loops[1] + loops[2], 16);
}

INSTANTIATE_TEST_SUITE_P(Backends, Spread, testing::Values("epoll", "io_uring"));

// --max-clients holds for the server, not for each loop: 3 across two loops, the 4th refused,
// and served again once one leaves.
TEST(Loops, MaxClientsHoldsAcrossAllLoops) {
    for (const char* spread : {"reuseport", "handoff"}) {
        SCOPED_TRACE(spread);
        ServerProcess server(bin("fib-loop"), {"--loops", "2", "--spread", spread, "--max-clients", "3", "--quiet"});
        auto clients = served_clients(server, 3);
        {
            Client refused(server.port());
            EXPECT_EQ(refused.read_line(), "error: server full") << dump(server);
        }
        clients.pop_back();
        bool served = false;
        for (int i = 0; i < 100 && !served; ++i) {  // the seat is given back when its loop sees the close
            Client fresh(server.port());
            fresh.send("12\n");
            served = fresh.read_line(2s) == "144";
            if (!served) std::this_thread::sleep_for(20ms);
        }
        EXPECT_TRUE(served) << dump(server);
        clients.clear();
        EXPECT_EQ(server.stop(), 0) << dump(server);
    }
}

// A stop while a worker computes for a client of the second loop: every loop ends, the frames
// are freed after the loops stop, `Shutting down` once, exit 0 (and no report under ASan or TSan).
TEST(Loops, SigtermWhileAWorkerComputesForAClientOfTheSecondLoopExitsZero) {
    SLOW_REQUEST(n, 0.3);
    ServerProcess server(bin("fib-loop"), {"--loops", "2", "--spread", "handoff", "--workers", "1", "--max-n", std::to_string(n)});
    Client first(server.port()), second(server.port());  // handoff: loop 1, then loop 2
    first.send("1\n");
    EXPECT_EQ(first.read_line(), "1");
    second.send("1\n");
    EXPECT_EQ(second.read_line(), "1");
    ASSERT_EQ(per_loop(server, 2), (std::map<int, int>{{1, 1}, {2, 1}})) << dump(server);
    double idle = cpu_seconds(server.pid());
    second.send(std::to_string(n) + "\n");  // on the worker (n >= 25), for loop 2's client
    ASSERT_TRUE(busy_beyond(server.pid(), idle, 0.05)) << "the worker never took the request" << dump(server);
    ::kill(server.pid(), SIGTERM);
    EXPECT_EQ(second.read_line(10s), expected_reply(n)) << "the answer being computed" << dump(server);
    EXPECT_EQ(server.wait_exit(10s), 0) << dump(server);
    auto lines = server.lines();
    EXPECT_EQ(std::count(lines.begin(), lines.end(), "Shutting down"), 1) << dump(server);
}

// With one loop (the default) nothing of Step 5 shows: Steps 3 and 4 read as they did.
TEST(Loops, OneLoopLooksExactlyAsBefore) {
    ServerProcess server(bin("fib-loop"), {"--loops", "1"});
    Client c(server.port());
    c.send("10\n");
    EXPECT_EQ(c.read_line(), "55");
    ASSERT_TRUE(server.wait_for_line("Connection 127.0.0.1:", 5s));
    for (const auto& l : server.lines()) {
        EXPECT_EQ(l.find("loop"), std::string::npos) << l;
    }
    EXPECT_EQ(server.stop(), 0) << dump(server);
}

TEST(Loops, ZeroMeansOnePerCore) {
    unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    ServerProcess server(bin("fib-loop"), {"--loops", "0"});
    std::string listening = server.lines()[0];
    if (cores > 1) {
        EXPECT_NE(listening.find(std::to_string(cores) + " loops, spread by reuseport"), std::string::npos) << listening;
    } else {
        EXPECT_EQ(listening.find("loops"), std::string::npos) << listening;
    }
    EXPECT_EQ(server.stop(), 0) << dump(server);
}

// One per core it may run on: `taskset -c 0` leaves it one, so it runs one loop (the machine's
// core count, which ignores the affinity mask, made it run one per core of the machine).
TEST(Loops, ZeroCountsTheCoresThisProcessMayRunOn) {
    if (::access("/usr/bin/taskset", X_OK) != 0) GTEST_SKIP() << "needs taskset (util-linux)";
    ServerProcess server("/usr/bin/taskset", {"-c", "0", bin("fib-loop"), "--loops", "0"});
    std::string listening = server.lines()[0];
    EXPECT_EQ(listening.find("loops"), std::string::npos) << "more than one loop on one core: " << listening;
    EXPECT_EQ(server.stop(), 0) << dump(server);
}

// Two seats shared by two loops, and clients coming to both at once: while two hold their seats,
// every other is refused; once they leave, the others are served, each in turn (a refused one
// tries again, bounded).
TEST(Loops, TwoSeatsSharedByTwoLoopsNeverServeAThird) {
    ServerProcess server(bin("fib-loop"), {"--loops", "2", "--spread", "reuseport", "--max-clients", "2", "--quiet"});
    auto held = served_clients(server, 2);
    std::atomic<int> served{0}, refused{0};
    auto knock = [&](int times, bool until_served) {
        for (int i = 0; i < times; ++i) {
            for (int attempt = 0; attempt < (until_served ? 500 : 1); ++attempt) {
                Client c(server.port());
                c.send("20\n");
                if (c.read_line(5s) == "6765") {
                    ++served;
                    break;
                }
                ++refused;
            }
        }
    };
    std::vector<std::thread> knocking;
    for (int t = 0; t < 4; ++t) knocking.emplace_back(knock, 25, false);
    for (auto& t : knocking) t.join();
    EXPECT_EQ(served, 0) << "a third client was served beside two seated ones" << dump(server);
    EXPECT_EQ(refused, 100);
    held.clear();
    knocking.clear();
    served = 0;
    for (int t = 0; t < 4; ++t) knocking.emplace_back(knock, 10, true);
    for (auto& t : knocking) t.join();
    EXPECT_EQ(served, 40) << dump(server);
    EXPECT_EQ(server.stop(), 0) << dump(server);
}

// Bad values: a clear error line first, and a non-zero exit.
TEST(Loops, BadValuesAreRefusedWithAClearLine) {
    struct Case {
        std::vector<std::string> args;
        std::string says;
    };
    for (const Case& c : std::vector<Case>{{{"--loops", "-1"}, "--loops"},
                                           {{"--loops", "100000"}, "--loops"},
                                           {{"--loops", "1", "--spread", "handoff"}, "--spread handoff needs --loops 2"},
                                           {{"--spread", "reuseport"}, "--spread reuseport needs --loops 2"},
                                           {{"--loops", "2", "--spread", "random"}, "--spread"},
                                           {{"--backend", "select", "--loops", "256"}, "none is left for a client"}}) {
        Finished run = run_to_end(bin("fib-loop"), c.args);
        EXPECT_NE(run.code, 0) << run.output;
        EXPECT_EQ(run.output.find("Listening"), std::string::npos) << run.output;
        std::string first = run.output.substr(0, run.output.find('\n'));
        EXPECT_NE(first.find(c.says), std::string::npos) << run.output;
    }
}

}  // namespace
}  // namespace fibs::test
