// End to end, every server: the article's session and the protocol's promises, on real processes.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <cstring>
#include <thread>

#include "fib.hpp"
#include "protocol.hpp"
#include "proc_stats.hpp"
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

// A batch whose second request is costly (n = kCheckN: the server first sends the replies it
// has made, then checks the client is still there, conversation.hpp) and a client that waits for
// both replies before it sends again. Two small writes in a row: with Nagle's algorithm on, the
// second waited for the ACK of the first, which the client delays (40 ms on Linux) because it has
// nothing to send. That stall is on every batch but the first (44 ms each, without TCP_NODELAY),
// so the test looks at the median of 21: a busy machine that preempts a batch or two cannot make
// it, nor hide it. The median must stay under half the stall and twice the batch's fib(30) as
// this build computes it (a server under a sanitizer computes it slower than this process).
TEST_P(EveryServer, AMixedBatchIsAnsweredWithoutWaitingForADelayedAck) {
    const auto bound = 20ms + 2 * std::chrono::duration<double>(cpu_of_fib(fibs::protocol::kCheckN));
    Client c(server->port());
    std::vector<std::chrono::duration<double, std::milli>> took;
    for (int i = 0; i < 21; ++i) {
        auto sent = std::chrono::steady_clock::now();
        c.send("1\n" + std::to_string(fibs::protocol::kCheckN) + "\n");
        ASSERT_EQ(c.read_line(), "1");
        ASSERT_EQ(c.read_line(), expected_reply(fibs::protocol::kCheckN));
        took.push_back(std::chrono::steady_clock::now() - sent);
    }
    std::string each;
    for (auto t : took) each += std::to_string(static_cast<int>(t.count())) + " ";
    std::nth_element(took.begin(), took.begin() + 10, took.end());
    EXPECT_LT(took[10], bound) << "the median batch took " << took[10].count() << " ms; each, in ms: " << each;
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

// The same with a client connected, served once and idle since.
void expect_clean_stop_with_an_idle_client(ServerProcess& server, int sig) {
    Client c(server.port());
    c.send("10\n");
    EXPECT_EQ(c.read_line(), "55");
    expect_clean_stop(server, sig);
}

TEST_P(EveryServer, CtrlCWithAnIdleClientExitsZero) {
    expect_clean_stop_with_an_idle_client(*server, SIGINT);
    server.reset();
}

TEST_P(EveryServer, SigtermWithNobodyConnectedExitsZero) {
    expect_clean_stop(*server, SIGTERM);
    server.reset();
}

// SIGHUP: the terminal that started the server has closed. A clean stop, as SIGTERM.
TEST_P(EveryServer, SighupStopsItCleanlyToo) {
    expect_clean_stop_with_an_idle_client(*server, SIGHUP);
    server.reset();
}

// Every kind again, for tests that start their server themselves, with flags or a wrapper of their
// own (EveryServer starts one before each test).
class EachServer : public testing::TestWithParam<ServerKind> {
protected:
    void SetUp() override { SKIP_IF_UNAVAILABLE(GetParam()); }
};

// Under `nohup` SIGHUP is ignored from the start, and a background job of a shell without job
// control starts with SIGINT ignored: a server leaves them so. (A server that blocked them for its
// signal thread, or installed its handler over them, stopped on them.)
TEST_P(EachServer, ASignalIgnoredAtStartStaysIgnored) {
    std::vector<std::string> args = {"-c", "trap '' HUP INT; exec \"$0\" \"$@\"", bin(GetParam().exe)};
    args.insert(args.end(), GetParam().args.begin(), GetParam().args.end());
    ServerProcess ignoring("/bin/sh", args);
    EXPECT_TRUE(ignoring.wait_for_line("SIGINT and SIGHUP were ignored when the server started", 5s))
        << "it must say which stop signals it will not take" << dump(ignoring);
    for (int sig : {SIGHUP, SIGINT}) {
        ::kill(ignoring.pid(), sig);
        ASSERT_TRUE(signal_taken(ignoring.pid(), sig)) << dump(ignoring);
        Client c(ignoring.port());
        c.send("10\n");
        EXPECT_EQ(c.read_line(), "55") << strsignal(sig) << " stopped it" << dump(ignoring);
    }
    EXPECT_EQ(ignoring.stop(), 0) << dump(ignoring);
}

// A second stop signal ends a server at once, whatever its kind: SIGTERM and then SIGHUP (a
// terminal closed while the server was stopping) while a request of 5 s of CPU is computed. "At
// once" is counted in the server's CPU after the second signal, which a busy machine does not
// inflate: a small part of the request, not the rest of it.
TEST_P(EachServer, ASecondStopSignalOfAnotherKindEndsItAtOnce) {
    if (kThreadSanitized && GetParam().exe == "fib-blocking") {
        GTEST_SKIP() << "fib-blocking computes on the thread that takes the signal, and ThreadSanitizer holds a signal "
                        "back until that thread next calls the C library (the release preset runs this test)";
    }
    SLOW_REQUEST(n, 5.0);
    auto started = start(GetParam(), {"--max-n", std::to_string(n)});
    ServerProcess& busy = *started;
    Client c(busy.port());
    double idle = cpu_seconds(busy.pid());
    c.send(std::to_string(n) + "\n");
    ASSERT_TRUE(busy_beyond(busy.pid(), idle, 0.05)) << dump(busy);
    ::kill(busy.pid(), SIGTERM);
    ASSERT_TRUE(signal_taken(busy.pid(), SIGTERM)) << dump(busy);
    double second = cpu_seconds(busy.pid());
    ::kill(busy.pid(), SIGHUP);
    EXPECT_EQ(busy.wait_exit(30s), 128 + SIGHUP) << "the second signal did not end it" << dump(busy);
    ASSERT_TRUE(busy.cpu_s_at_exit());
    EXPECT_LT(*busy.cpu_s_at_exit() - second, 0.5) << "it went on computing after the second signal" << dump(busy);
}

// A stop that comes while a request is computed: the answer, already paid for, is sent, then the
// server ends with 0. Every server does the same, whichever thread computes it.
TEST_P(EachServer, AStopSendsTheAnswerItIsComputing) {
    SLOW_REQUEST(n, 0.25);
    auto started = start(GetParam(), {"--max-n", std::to_string(n)});
    ServerProcess& busy = *started;
    Client c(busy.port());
    double idle = cpu_seconds(busy.pid());
    c.send(std::to_string(n) + "\n");
    ASSERT_TRUE(busy_beyond(busy.pid(), idle, 0.05)) << dump(busy);
    ::kill(busy.pid(), SIGTERM);
    EXPECT_EQ(c.read_line(10s), expected_reply(n)) << dump(busy);
    EXPECT_EQ(busy.wait_exit(10s), 0) << dump(busy);
}

// A stop in the middle of a pipelined batch the server has read: the batch is answered, every
// reply goes out, then the connection closes (nothing more is read). The batch is a slow request
// (0.3 s of CPU) and 1,900 of fib(1), in one write; the stop comes while the slow one is computed
// (on a worker, with --workers: a job already started). 261367e's loop freed the task that was
// working through the batch at its next turn: the client got none of it, only the close, where
// fib-threads sent it all.
TEST_P(EachServer, AStopSendsTheRepliesOfABatchItHasMade) {
    SLOW_REQUEST(n, 0.3);
    constexpr int kQuick = 1900;
    auto started = start(GetParam(), {"--max-n", std::to_string(n), "--quiet"});
    ServerProcess& busy = *started;
    std::string batch = std::to_string(n) + "\n", replies = expected_reply(n) + "\n";
    for (int i = 0; i < kQuick; ++i) {
        batch += "1\n";
        replies += "1\n";
    }
    ASSERT_LE(batch.size(), 4096u) << "the batch must fit one read";
    Client c(busy.port());
    double idle = cpu_seconds(busy.pid());
    c.send(batch);
    ASSERT_TRUE(busy_beyond(busy.pid(), idle, 0.05)) << dump(busy);  // computing the slow one
    ::kill(busy.pid(), SIGTERM);
    auto got = c.read_to_end(30s);
    ASSERT_TRUE(got) << "the connection was not closed" << dump(busy);
    EXPECT_EQ(busy.wait_exit(30s), 0) << dump(busy);
    EXPECT_EQ(got->size(), replies.size()) << "the batch's replies, " << replies.size() << " bytes, were not all sent" << dump(busy);
    EXPECT_TRUE(*got == replies) << "not the batch's replies, in order: " << got->substr(0, 100);
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
    EXPECT_EQ(server->stop(30s), 0) << "SIGTERM must end it while stdout is full (a server stuck on it is killed)"
                                    << dump(*server);
    server.reset();
}

double server_cpu_s(ServerProcess& server) { return cpu_seconds(server.pid()); }

// Waits until the server uses under 15 ms of CPU in 100 ms (at most 30 s); returns its CPU then.
double server_cpu_once_idle(ServerProcess& server) {
    double last = server_cpu_s(server);
    for (int i = 0; i < 300; ++i) {
        std::this_thread::sleep_for(100ms);
        double now = server_cpu_s(server);
        bool idle = now - last < 0.015;
        last = now;
        if (idle) break;
    }
    return last;
}

// Sends each of `clients` connections `lines` requests for fib(n) and resets it at once (or, with
// `close`, closes it for good: no reset until the server's first reply), then waits until the
// server is idle again (bounded). Returns the server CPU it spent meanwhile.
double cpu_spent_on_clients_that_leave(ServerProcess& server, int clients, int lines, unsigned n, bool close = false) {
    double before = server_cpu_s(server);
    std::string batch;
    for (int i = 0; i < lines; ++i) batch += std::to_string(n) + "\n";
    for (int i = 0; i < clients; ++i) {
        Client c(server.port());
        c.send(batch);
        if (!close) c.reset();  // else its destructor closes it
    }
    return server_cpu_once_idle(server) - before;
}

// Clients that send a batch of costly requests and leave at once, by a reset or by a plain close.
// Before each request that brings its work since the last look to fib(30), a server sends the
// replies it has made and checks that its client is still there (Conversation::next), so what the
// gone clients cost is a request or two each, not their batches (160 requests here).
TEST_P(EveryServer, ClientsThatLeaveCostARequestOrTwoEach) {
    SKIP_WITHOUT_SLOW_REQUESTS();
    constexpr int kClients = 8, kEach = 20;
    constexpr unsigned kN = 33;  // about 4 ms each (docs/protocol.md), 0.6 s for every batch
    double one = cpu_of_fib(kN);
    for (bool close : {false, true}) {
        double spent = cpu_spent_on_clients_that_leave(*server, kClients, kEach, kN, close);
        EXPECT_LT(spent, 0.25 * kClients * kEach * one)
            << "the server spent " << spent << " s of CPU on clients that had " << (close ? "closed" : "reset")
            << "; one request costs " << one << " s" << dump(*server);
    }
}

// The same with requests below fib(30): the check comes after the work they add up to, so a gone
// client's small requests cost what one costly one does, not a whole read of them (2,730 of fib(29)
// in two 4 KiB reads took 1.3 to 1.55 s when only requests from fib(30) on were checked).
TEST_P(EveryServer, ClientsThatLeaveCostLittleEvenWithSmallRequests) {
    SKIP_WITHOUT_SLOW_REQUESTS();
    constexpr int kClients = 2, kEach = 2730;
    double thirty = cpu_of_fib(30);
    double spent = cpu_spent_on_clients_that_leave(*server, kClients, kEach, 29);
    EXPECT_LT(spent, 0.1 * kClients * kEach * cpu_of_fib(29))
        << "the server spent " << spent << " s of CPU on clients that had reset; fib(30) costs " << thirty << " s" << dump(*server);
}

// With --workers, a request is a job in the pool's queue until a worker takes it, and its client
// may reset meanwhile. Two live clients keep both workers busy (0.3 s of CPU each) while 40
// others send fib(33) and reset once the server has read their requests: the worker checks before
// it computes, so the 40 queued jobs cost nothing (the bound, 60% of their cost, leaves room for
// the noise of the two long jobs measured apart).
class WithWorkers : public EveryServer {};

TEST_P(WithWorkers, QueuedJobsOfClientsThatResetAreNotComputed) {
    SLOW_REQUEST(n, 0.3);
    constexpr int kGone = 40;
    double one = cpu_of_fib(33), busy = cpu_of_fib(n);
    auto slow = start(GetParam(), {"--max-n", std::to_string(n)});
    double before = server_cpu_s(*slow);
    Client a(slow->port()), b(slow->port());
    a.send(std::to_string(n) + "\n");
    b.send(std::to_string(n) + "\n");
    ASSERT_TRUE(busy_beyond(slow->pid(), before, 0.05) && computing(slow->pid(), 2))
        << "the workers never took the two long jobs" << dump(*slow);
    std::vector<std::unique_ptr<Client>> gone;
    for (int i = 0; i < kGone; ++i) {
        gone.push_back(std::make_unique<Client>(slow->port()));
        gone.back()->send("33\n");
    }
    ASSERT_TRUE(read_everything(slow->port(), 2 + kGone)) << "the server never read the 40 requests" << dump(*slow);
    for (auto& c : gone) c->reset();  // their jobs wait in the queue
    EXPECT_EQ(a.read_line(30s), expected_reply(n));
    EXPECT_EQ(b.read_line(30s), expected_reply(n));
    double spent = server_cpu_once_idle(*slow) - before - 2 * busy;
    EXPECT_LT(spent, 0.6 * kGone * one) << "the server spent " << spent << " s of CPU on the jobs of clients that had gone; "
                                        << "one costs " << one << " s" << dump(*slow);
    EXPECT_EQ(slow->stop(), 0) << dump(*slow);
}

// A stop drops the jobs no worker has started (their answers are not paid for yet): 14 requests
// of W seconds of CPU each queue for the two workers; once the first answer is in, SIGTERM. From
// then on the server computes what its two workers have started, at most 2 W of CPU; not a job
// more each (up to 4 W, as when workers took queued jobs after the loops had gone), nor the 12
// others. Counted in the server's CPU, which a busy machine does not change.
TEST_P(WithWorkers, AStopDropsTheJobsNotStarted) {
    SLOW_REQUEST(n, 0.2);
    const double one_job = cpu_of_fib(n);
    auto started = start(GetParam(), {"--max-n", std::to_string(n)});
    ServerProcess& busy = *started;
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 14; ++i) clients.push_back(std::make_unique<Client>(busy.port()));
    for (auto& c : clients) c->send(std::to_string(n) + "\n");
    ASSERT_EQ(clients[0]->read_line(30s), expected_reply(n));
    double at_stop = cpu_seconds(busy.pid());
    EXPECT_EQ(busy.stop(30s), 0) << dump(busy);
    ASSERT_TRUE(busy.cpu_s_at_exit());
    double after = *busy.cpu_s_at_exit() - at_stop;
    EXPECT_LT(after, 3 * one_job) << "after SIGTERM the server computed for " << after << " s; a job costs " << one_job << " s";
}

INSTANTIATE_TEST_SUITE_P(All, EveryServer, testing::ValuesIn(all_servers()), label_of);

// With no file descriptor left for even one client (ulimit -n 4: stdin, stdout, stderr and the
// listener), a server says so in one line and exits 1, instead of accepting in a loop that fails at
// once, at 100% of a core. (Not under a sanitizer: its runtime needs descriptors of its own.)
TEST(Servers, NoDescriptorLeftForAClientIsOneLineAndExitOne) {
    if (kSanitized) GTEST_SKIP() << "a sanitizer's runtime needs descriptors of its own";
    if (::access("/usr/bin/prlimit", X_OK) != 0) GTEST_SKIP() << "needs prlimit (util-linux)";
    // The servers get stdin, stdout and stderr only: what the test runner left open stays here.
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
        int fd = std::stoi(e.path().filename().string());
        if (int flags = ::fcntl(fd, F_GETFD); fd > 2 && flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
    for (const char* exe : {"fib-blocking", "fib-threads", "fib-loop", "fib-floor"}) {
        Finished run = run_to_end("/usr/bin/prlimit", {"--nofile=4", bin(exe), "--port", "0"}, 5s);
        EXPECT_EQ(run.code, 1) << exe << ":\n" << run.output;
        EXPECT_NE(run.output.find("error: "), std::string::npos) << exe << ":\n" << run.output;
    }
}

// Numbers on the command line are decimal, on every server and for every number: 0x5 is not 5
// (CLI11 alone took it), and 1e1 gets the same message, not "not in range".
TEST(Servers, NumbersOnTheCommandLineAreDecimal) {
    for (const char* exe : {"fib-blocking", "fib-threads", "fib-loop", "fib-floor"}) {
        for (const char* flag : {"--max-n", "--max-clients", "--port"}) {
            for (const char* value : {"0x5", "1e1", "5.0", "-1"}) {
                Finished run = run_to_end(bin(exe), {flag, value});
                EXPECT_NE(run.code, 0) << exe << " " << flag << " " << value << ":\n" << run.output;
                EXPECT_NE(run.output.find("not a whole number in decimal"), std::string::npos)
                    << exe << " " << flag << " " << value << ":\n" << run.output;
            }
        }
    }
}

// A thread the process limit refuses (ulimit -u): one line that says which, and exit 1, not an
// abort. RLIMIT_NPROC does not bind root, so the server runs as nobody (setpriv).
TEST(Servers, AWorkerThreadTheLimitRefusesIsOneLineAndExitOne) {
    if (::access("/usr/bin/setpriv", X_OK) != 0 || ::access("/usr/bin/prlimit", X_OK) != 0) {
        GTEST_SKIP() << "needs setpriv and prlimit (util-linux)";
    }
    if (::geteuid() != 0) GTEST_SKIP() << "needs root, to run the server as nobody";
    Finished run = run_to_end("/usr/bin/prlimit", {"--nproc=3", "/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                                                   "--clear-groups", bin("fib-loop"), "--port", "0", "--workers", "8"},
                              5s);
    if (run.output.find("Permission denied") != std::string::npos) GTEST_SKIP() << "nobody may not run " << bin("fib-loop");
    EXPECT_EQ(run.code, 1) << run.output;
    EXPECT_NE(run.output.find("error: cannot start worker thread"), std::string::npos) << run.output;
}

std::vector<ServerKind> with_workers() {
    std::vector<ServerKind> out;
    for (auto& k : all_servers()) {
        if (std::find(k.args.begin(), k.args.end(), "--workers") != k.args.end()) out.push_back(k);
    }
    return out;
}
INSTANTIATE_TEST_SUITE_P(All, WithWorkers, testing::ValuesIn(with_workers()), label_of);
// The ruler fib-bench compare measures every step against (bench/floor.cpp) keeps the same protocol
// and stops the same way, or its figures would flatter it.
// (Not under a sanitizer: the floor is the bench's ruler, not a step, and its protocol code is
// the steps' own Conversation, which every sanitized kind runs.)
std::vector<ServerKind> rulers() {
    if (kSanitized) return {};
    return {ServerKind{"floor", "fib-floor", {}}};
}
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(EveryServer);
INSTANTIATE_TEST_SUITE_P(Ruler, EveryServer, testing::ValuesIn(rulers()), label_of);
INSTANTIATE_TEST_SUITE_P(All, EachServer, testing::ValuesIn(all_servers()), label_of);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(EachServer);
INSTANTIATE_TEST_SUITE_P(Ruler, EachServer, testing::ValuesIn(rulers()), label_of);

}  // namespace
}  // namespace fibs::test
