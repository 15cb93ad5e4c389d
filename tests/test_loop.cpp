// The coroutine loop itself, over socketpairs: no network, no processes.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/select.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <atomic>
#include <cstdlib>
#include <new>

#include "context.hpp"
#include "faults.hpp"
#include "frames.hpp"
#include "log.hpp"
#include "loop.hpp"
#include "net.hpp"
#include "support.hpp"
#include "turn.hpp"
#include "workers.hpp"

// Every allocation of this test program, counted (LoopBackend.ParkingAndWakingNeedNoMemory): an
// operator new of our own, and its operator delete (a sanitizer checks that they pair).
namespace {
std::atomic<long> allocations{0};
}  // namespace
void* operator new(std::size_t size) {
    ++allocations;
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // GCC 12 takes these frees for mismatched ones
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace fibs::loop {
namespace {

struct Pair {
    Fd a, b;
    Pair() {
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) throw std::runtime_error("socketpair");
        a.reset(sv[0]);
        b.reset(sv[1]);
    }
};

// The server's rule for a task that fails (Shared::failed, setup.cpp), with a Shared of its own:
// a client's task ends alone, with a line; one with a name ends run().
struct AsTheServer {
    Options opts;
    Shared shared{opts, 1, "full"};
    Loop::Failed failed() {
        return [this](const Task& task, const std::exception& why) { shared.failed(task, why); };
    }
};

// Skips, naming the reason, where io_uring cannot be used.
#define SKIP_IF_NO_BACKEND(name) \
    if (std::string(name) == "io_uring" && !io_uring_unavailable().empty()) GTEST_SKIP() << "io_uring is not available here (" << io_uring_unavailable() << ")"

class LoopBackend : public testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        SKIP_IF_NO_BACKEND(GetParam());
        loop = std::make_unique<Loop>(make_poller(GetParam()), server.failed());
    }
    AsTheServer server;
    std::unique_ptr<Loop> loop;
    std::vector<std::string> log;
};

Task reader(int fd, std::vector<std::string>& log) {
    log.push_back("reader waits");
    co_yield recv(fd);
    char buf[16];
    ssize_t n = ::read(fd, buf, sizeof buf);
    log.push_back("reader got " + std::string(buf, static_cast<std::size_t>(std::max<ssize_t>(n, 0))));
}

Task writer(int fd, std::vector<std::string>& log) {
    co_yield send(fd);
    log.push_back("writer writes");
    [[maybe_unused]] ssize_t n = ::write(fd, "hi", 2);
}

TEST_P(LoopBackend, ATaskWaitingToReadRunsWhenDataArrives) {
    Pair p;
    loop->spawn(reader(p.a.get(), log));
    loop->spawn(writer(p.b.get(), log));
    loop->run();  // returns when no task is left
    EXPECT_EQ(log, (std::vector<std::string>{"reader waits", "writer writes", "reader got hi"}));
}

Task thrower(std::vector<std::string>& log) {
    log.push_back("thrower runs");
    co_yield future(12345);  // parked; woken below
    throw std::runtime_error("boom");
}

Task counter(int rounds, std::vector<std::string>& log, Loop& loop) {
    for (int i = 0; i < rounds; ++i) {
        Pair p;
        [[maybe_unused]] ssize_t n = ::write(p.b.get(), "x", 1);
        co_yield recv(p.a.get());
        log.push_back("round " + std::to_string(i));
        if (i == 0) loop.wake(12345, 0);
    }
}

TEST_P(LoopBackend, AnExceptionEndsOnlyThatTask) {
    loop->spawn(thrower(log));
    loop->spawn(counter(3, log, *loop));
    testing::internal::CaptureStdout();
    loop->run();
    fibs::log_drain(std::chrono::seconds(2));  // the log's own thread writes the line (common/log.hpp)
    std::string out = testing::internal::GetCapturedStdout();
    EXPECT_EQ(log, (std::vector<std::string>{"thrower runs", "round 0", "round 1", "round 2"}));
    EXPECT_NE(out.find("task failed: boom"), std::string::npos) << out;
}

Task stopper(Loop& loop, std::vector<std::string>& log) {
    log.push_back("stopping");
    loop.stop();
    co_return;
}

TEST_P(LoopBackend, StopEndsRunWithTasksStillWaiting) {
    Pair p;
    loop->spawn(reader(p.a.get(), log));  // never gets data
    loop->spawn(stopper(*loop, log));
    loop->run();
    EXPECT_EQ(log, (std::vector<std::string>{"reader waits", "stopping"}));
}

Task reads_and_reports(int fd, int id, std::vector<std::string>& log) {
    co_yield recv(fd);
    char c;
    [[maybe_unused]] ssize_t n = ::read(fd, &c, 1);
    log.push_back(std::to_string(id));
}

TEST_P(LoopBackend, ManyReadyAtOnceAllRun) {
    std::vector<Pair> pairs(100);
    for (int i = 0; i < 100; ++i) loop->spawn(reads_and_reports(pairs[i].a.get(), i, log));
    for (auto& p : pairs) [[maybe_unused]] ssize_t n = ::write(p.b.get(), "x", 1);
    loop->run();
    EXPECT_EQ(log.size(), 100u);
}

// The turn: a task with many requests buffered answers a few, yields `again`, and the other task
// runs before it has finished its batch.
Task batch(int requests, std::vector<std::string>& log) {
    for (Turn turn; requests > 0; --requests) {
        if (turn.over()) co_yield again(-1);
        log.push_back("batch");
    }
}

Task one_request(int fd, std::vector<std::string>& log) {
    co_yield recv(fd);
    log.push_back("other");
}

TEST_P(LoopBackend, ATaskWithABigBatchLetsTheOthersRunBetweenTurns) {
    Pair p;
    [[maybe_unused]] ssize_t n = ::write(p.b.get(), "1\n", 2);  // the other's request is there already
    loop->spawn(batch(100, log));
    loop->spawn(one_request(p.a.get(), log));
    loop->run();
    ASSERT_EQ(log.size(), 101u);
    // The batch's first turn, then the other's first step (to its recv, already ready), the
    // batch's second turn, and the other's answer: after two turns, not after the whole batch. (A
    // turn is 16 requests or 200 µs: on a slow machine, or under a sanitizer, it can end sooner.)
    auto other = std::find(log.begin(), log.end(), "other") - log.begin();
    EXPECT_GE(other, 2);
    EXPECT_LE(other, 2 * Turn::kRequests) << "the other ran after " << other << " of the batch's 100";
}

TEST_P(LoopBackend, AnAgainAloneInTasksStillLetsAReadySocketIn) {
    Pair p;
    loop->spawn(batch(1000, log));
    loop->spawn(one_request(p.a.get(), log));  // parks in recv_wait: its socket is not ready yet
    [[maybe_unused]] ssize_t n = ::write(p.b.get(), "1\n", 2);
    loop->run();
    auto other = std::find(log.begin(), log.end(), "other") - log.begin();
    EXPECT_GE(other, 2);
    EXPECT_LE(other, 2 * Turn::kRequests) << "the ready socket waited for " << other << " of the batch's 1000";
}

// Readiness that arrives while nobody waits for it: the task is parked on a worker's result while
// its client sends more. The loop must not spin on that socket meanwhile (it has nothing to run:
// it should sleep in the poller), and the data must still be there for the task's next wait.
Task parks_while_readable(int fd, std::vector<std::string>& log) {
    co_yield recv(fd);
    char c;
    [[maybe_unused]] ssize_t n = ::read(fd, &c, 1);  // one of the two bytes: the socket stays readable
    co_yield future(fd);                              // parked, not watching its socket
    co_yield recv(fd);
    n = ::read(fd, &c, 1);
    log.push_back(n == 1 ? "got the rest" : "lost it");
}

Task wakes_on(int fd, int what, Loop& loop) {
    co_yield recv(fd);
    loop.wake(what, 0);
}

double thread_cpu_s() {
    rusage u{};
    ::getrusage(RUSAGE_THREAD, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

TEST_P(LoopBackend, ReadinessWhileNobodyWaitsIsNeitherLostNorSpunOn) {
    Pair client, alarm;
    ASSERT_EQ(loop->add(client.a.get()), "");
    [[maybe_unused]] ssize_t n = ::write(client.b.get(), "xy", 2);
    loop->spawn(parks_while_readable(client.a.get(), log));
    loop->spawn(wakes_on(alarm.a.get(), client.a.get(), *loop));
    std::thread later([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        [[maybe_unused]] ssize_t w = ::write(alarm.b.get(), "!", 1);
    });
    double cpu0 = thread_cpu_s();
    loop->run();
    double cpu = thread_cpu_s() - cpu0;
    later.join();
    EXPECT_EQ(log, std::vector<std::string>{"got the rest"});
    EXPECT_LT(cpu, 0.15) << "the loop spun for 300 ms on a ready socket nobody waited for";
}

INSTANTIATE_TEST_SUITE_P(Backends, LoopBackend, testing::Values("select", "poll", "epoll", "io_uring"));

// A descriptor number is reused as soon as it is closed. The loop's own sequence: a client's task
// waits, the client closes (its socket reads end of input), the task is resumed and closes its
// socket; a new client gets the same number and waits. The new one must be reported when, and
// only when, it has something to read.
class PollerBackend : public testing::TestWithParam<std::string> {};

// Looks without blocking until something is ready, for at most a second: a broken poller fails
// the test instead of hanging it.
void wait_briefly(Poller& poller, std::vector<int>& ready) {
    for (int i = 0; i < 100 && ready.empty(); ++i) {
        poller.wait(ready, /*block=*/false);
        if (ready.empty()) ::usleep(10'000);
    }
}

TEST_P(PollerBackend, AReusedDescriptorIsReportedForItsNewSocketOnly) {
    SKIP_IF_NO_BACKEND(GetParam());
    auto poller = make_poller(GetParam());
    std::vector<int> ready;
    auto old = std::make_unique<Pair>();
    const int fd = old->a.get();
    ASSERT_EQ(poller->add(fd), "");
    poller->watch(fd, Why::recv);
    poller->wait(ready, /*block=*/false);
    EXPECT_TRUE(ready.empty()) << "reported before anything was sent";
    old->b.reset();  // the client closes while its task waits
    wait_briefly(*poller, ready);
    ASSERT_EQ(ready, std::vector<int>{fd});
    ready.clear();
    poller->unwatch(fd);  // the loop resumes the task, which reads end of input and closes
    old.reset();
    Pair fresh;  // the next client gets the same number
    ASSERT_TRUE(fresh.a.get() == fd || fresh.b.get() == fd) << "the descriptor number was not reused";
    Fd& peer = fresh.a.get() == fd ? fresh.b : fresh.a;
    ASSERT_EQ(poller->add(fd), "");
    poller->watch(fd, Why::recv);
    poller->wait(ready, /*block=*/false);
    EXPECT_TRUE(ready.empty()) << "the new socket was reported before anything was sent to it";
    [[maybe_unused]] ssize_t n = ::write(peer.get(), "x", 1);
    wait_briefly(*poller, ready);
    EXPECT_EQ(ready, std::vector<int>{fd}) << "the new socket was never reported";
}

INSTANTIATE_TEST_SUITE_P(Backends, PollerBackend, testing::Values("select", "poll", "epoll", "io_uring"));

TEST(Poller, SelectRefusesDescriptorsPastFdSetsize) {
    auto p = make_select_poller();
    EXPECT_EQ(p->add(FD_SETSIZE - 1), "");
    EXPECT_EQ(p->add(FD_SETSIZE), "select cannot watch descriptors past FD_SETSIZE");
    EXPECT_EQ(make_poll_poller()->add(FD_SETSIZE), "");
    if (io_uring_unavailable().empty()) {
        EXPECT_EQ(make_io_uring_poller()->add(FD_SETSIZE), "");
    }
    EXPECT_THROW(make_poller("kqueue"), std::invalid_argument);
}

TEST(Poller, EpollSaysWhyItCannotAddADescriptor) {
    auto p = make_epoll_poller();
    Pair pair;
    EXPECT_EQ(p->add(pair.a.get()), "");
    // /dev/null cannot be watched by epoll (EPERM): the reason is the kernel's, in words.
    Fd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    EXPECT_EQ(p->add(null.get()), "epoll_ctl ADD: Operation not permitted");
}

// The turn ends after kRequests requests or after kTime, whichever comes first: a few slow
// requests (fib(30) takes about a millisecond) must not hold the loop for kRequests of them.
TEST(Turn, EndsAfterItsTimeEvenBeforeItsRequests) {
    using namespace std::chrono_literals;
    auto t0 = std::chrono::steady_clock::time_point{} + 1h;
    Turn turn;
    EXPECT_FALSE(turn.over(t0));                    // the turn's first request
    EXPECT_FALSE(turn.over(t0 + Turn::kTime / 2));  // its second, within the time
    EXPECT_TRUE(turn.over(t0 + Turn::kTime));       // its third, past the time: over
    EXPECT_FALSE(turn.over(t0 + 10 * Turn::kTime)); // a new turn: its clock starts now
}

TEST(Turn, EndsAfterItsRequestsEvenWithinItsTime) {
    auto t0 = std::chrono::steady_clock::time_point{};
    Turn turn;
    for (int i = 0; i < Turn::kRequests; ++i) EXPECT_FALSE(turn.over(t0)) << "request " << i;
    EXPECT_TRUE(turn.over(t0));
}

// A watch the kernel refuses (FIBS_FAULTS stands in for a full ring) ends the task that asked,
// frees its frame, and says so once; every other task goes on.
Task waits_twice(int fd, std::vector<std::string>& log) {
    co_yield recv(fd);
    char c;
    [[maybe_unused]] ssize_t n = ::read(fd, &c, 1);
    log.push_back("first wait over");
    co_yield recv(fd);  // refused: the task ends here
    log.push_back("never");
}

TEST(Loop, ARefusedWatchEndsOnlyTheTaskThatAsked) {
    Faults faults;
    faults.refuse_watch = 2;
    AsTheServer server;
    Loop loop(with_faults(make_poll_poller(), faults), server.failed());
    std::vector<std::string> log;
    Pair refused, other;
    ASSERT_EQ(loop.add(refused.a.get()), "");
    [[maybe_unused]] ssize_t n = ::write(refused.b.get(), "xy", 2);
    n = ::write(other.b.get(), "x", 1);
    loop.spawn(waits_twice(refused.a.get(), log));  // watches 1 and 2 of a client's socket
    loop.spawn(counter(3, log, loop));              // its own sockets are not clients'
    testing::internal::CaptureStdout();
    loop.run();
    fibs::log_drain(std::chrono::seconds(2));
    std::string out = testing::internal::GetCapturedStdout();
    EXPECT_EQ(log, (std::vector<std::string>{"first wait over", "round 0", "round 1", "round 2"}));
    EXPECT_NE(out.find("refusing clients: poll refused a watch"), std::string::npos) << out;
}

TEST(Faults, ParseNamesEachFaultAndRefusesTheUnknown) {
    Faults f = Faults::parse("add-limit=3,refuse-watch=5,wait-error=20,hold-descriptors-ms=300");
    EXPECT_EQ(f.add_limit, 3);
    EXPECT_EQ(f.refuse_watch, 5);
    EXPECT_EQ(f.wait_error, 20);
    EXPECT_EQ(f.hold.count(), 300);
    EXPECT_EQ(Faults::parse(nullptr).add_limit, -1);
    EXPECT_THROW(Faults::parse("fail-everything=1"), std::invalid_argument);
    EXPECT_THROW(Faults::parse("add-limit"), std::invalid_argument);
    EXPECT_EQ(Faults::parse("refuse-own=listener").refuse_own, "listener");
    EXPECT_THROW(Faults::parse("refuse-own=socket"), std::invalid_argument);
}

// The talk's future_monitor, for `letters` letters: what a worker posts runs on the loop's thread.
Task monitor(Loop& loop, int letters) {
    while (letters > 0) {
        co_yield recv(loop.mailbox()->fd());
        for (auto& letter : loop.mailbox()->take()) {
            letter(loop);
            --letters;
        }
    }
}

Task asks_a_worker(Workers& workers, Loop& loop, unsigned n, std::vector<std::string>& log) {
    Pair client;  // a job is named by its client's socket
    std::uint64_t value = co_yield future(workers.submit(n, client.a.get(), loop));
    log.push_back("fib(" + std::to_string(n) + ") = " + std::to_string(value));
}

// Each result goes to the task that waits for it, whatever its socket: the job is the key.
TEST(Workers, EachResultComesBackToTheTaskThatWaitsForIt) {
    Workers pool(2, 0);
    AsTheServer server;
    Loop loop(make_poll_poller(), server.failed());
    std::vector<std::string> log;
    loop.spawn(asks_a_worker(pool, loop, 20, log));
    loop.spawn(asks_a_worker(pool, loop, 10, log));
    loop.spawn(monitor(loop, 2));
    loop.run();
    std::sort(log.begin(), log.end());
    EXPECT_EQ(log, (std::vector<std::string>{"fib(10) = 55", "fib(20) = 6765"}));
}

// A stop while a task waits on a worker: run() goes on until that task has its result and has run
// once more (it sends its answer), then returns; a task that waits on a socket is left waiting.
TEST(Loop, AStopWaitsForTheAnswersBeingComputed) {
    Workers pool(1, 0);
    AsTheServer server;
    Loop loop(make_poll_poller(), server.failed());
    std::vector<std::string> log;
    Pair p;
    loop.spawn(reader(p.a.get(), log));  // never gets data
    loop.spawn(asks_a_worker(pool, loop, 30, log));
    loop.spawn(monitor(loop, 1));
    loop.spawn(stopper(loop, log));
    loop.run();
    EXPECT_EQ(log, (std::vector<std::string>{"reader waits", "stopping", "fib(30) = 832040"}));
}

// Ends run() once a worker is computing, as a task of the server's own that fails does (bounded:
// 30 s, for a machine busy with other tests).
Task fails_once_busy(Workers& pool, std::vector<std::string>& log) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (pool.busy() == 0 && std::chrono::steady_clock::now() < until) co_yield again(-1);
    log.push_back(pool.busy() > 0 ? "failing" : "failing, but the worker never started");
    throw std::runtime_error("the end");
}

// A frame freed while its job runs (here: run() ends, a task the server needs having failed, and
// the loop is destroyed) is never written into; the worker posts into a mailbox that nobody reads
// any more. Under ASan (the asan preset), a worker that wrote its result through a pointer into
// the frame, or into a mailbox that died with its loop, is a heap-use-after-free. (A stop does not
// free it: a stopping loop waits for the answers being computed, LoopBackend's tests say so.)
TEST(Workers, AFrameFreedWhileItsJobRunsIsNeverWrittenInto) {
    SLOW_REQUEST(n, 0.3);
    std::vector<std::string> log;
    std::weak_ptr<Mailbox> mailbox;
    {
        Workers pool(1, 0);
        {
            AsTheServer server;
            Loop loop(make_poll_poller(), server.failed());
            mailbox = loop.mailbox();
            loop.spawn(asks_a_worker(pool, loop, n, log));  // 0.3 s of CPU: still running below
            loop.spawn(fails_once_busy(pool, log).named("the ender"));
            EXPECT_THROW(loop.run(), std::runtime_error);
        }  // the loop and the waiting frame are freed; the job runs on
        EXPECT_FALSE(mailbox.expired()) << "the running job no longer holds the mailbox it will post to";
    }  // the pool waits for the running job, which posts its result
    EXPECT_EQ(log, std::vector<std::string>{"failing"});
    EXPECT_TRUE(mailbox.expired()) << "the mailbox outlived every sender";
}

// The server's own tasks (they have a name) have a stricter contract than clients': if one fails,
// or the kernel refuses its wait, run() throws, and fib-loop ends with one `error:` line and exit 1.
TEST(Loop, AServerTaskThatThrowsEndsRun) {
    AsTheServer server;
    Loop loop(make_poll_poller(), server.failed());
    std::vector<std::string> log;
    loop.spawn(thrower(log).named("the thrower"));
    loop.spawn(counter(3, log, loop));
    try {
        loop.run();
        ADD_FAILURE() << "run() went on without a task the server needs";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "the thrower cannot go on: boom");
    }
}

Task waits_on(int fd, std::vector<std::string>& log) {
    co_yield recv(fd);
    log.push_back("never");
}

TEST(Loop, ARefusedWatchOfAServerTaskEndsRun) {
    Faults faults;
    faults.refuse_own = "pipe";
    AsTheServer server;
    Loop loop(with_faults(make_epoll_poller(), faults), server.failed());
    std::vector<std::string> log;
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    Fd r(fds[0]), w(fds[1]);
    loop.spawn(waits_on(r.get(), log).named("the pipe's watcher"));
    try {
        loop.run();
        ADD_FAILURE() << "run() went on without a task the server needs";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "the pipe's watcher cannot go on: epoll refused a watch of the pipe: no room in the "
                               "kernel (FIBS_FAULTS)");
    }
    EXPECT_TRUE(log.empty());
}

// Two tasks that wait on one descriptor are a bug in the program: the second is ended with a
// line that says so, never destroyed silently; the first still runs.
TEST(Loop, ASecondWaitOnTheSameDescriptorIsAnErrorNotASilentDestroy) {
    AsTheServer server;
    Loop loop(make_poll_poller(), server.failed());
    std::vector<std::string> log;
    Pair p;
    loop.spawn(reads_and_reports(p.a.get(), 1, log));
    loop.spawn(reads_and_reports(p.a.get(), 2, log));
    loop.spawn(writer(p.b.get(), log));
    testing::internal::CaptureStdout();
    loop.run();
    fibs::log_drain(std::chrono::seconds(2));
    std::string out = testing::internal::GetCapturedStdout();
    EXPECT_EQ(log, (std::vector<std::string>{"writer writes", "1"}));
    EXPECT_NE(out.find("task failed: a second task waits on " + std::to_string(p.a.get())), std::string::npos) << out;
}

// A client's seat travels with its socket (a Client), into its handler's frame: given back when
// the frame is freed, even if the handler never ran (a loop stopped before its turn came).
TEST(Seats, AHandlerFreedBeforeItRanGivesItsSeatBack) {
    AsTheServer server;
    Context ctx(server.shared, make_poll_poller(), await_handler);
    Seats seats(1, "full");
    {
        Loop loop(make_poll_poller(), server.failed());
        Pair p;
        std::optional<Seat> seat = seats.take();
        ASSERT_TRUE(seat);
        EXPECT_FALSE(seats.take()) << "a second seat of one";
        loop.spawn(await_handler(Client(std::move(p.a), std::move(*seat), "test"), ctx));
        EXPECT_EQ(seats.taken(), 1);
    }  // the loop frees the frame: the handler never ran
    EXPECT_EQ(seats.taken(), 0);
    EXPECT_TRUE(seats.take()) << "the seat was not given back";
}

// Two loops take seats at once. A take that finds them all taken must not count one more even
// for a moment: another loop that looks then finds a seat that is free counted as taken, and
// refuses its client (a count up past the top and back down did that). Both threads go on until
// both have done their share: the takes go on while the other thread looks (each waits for the
// other's count, not for a time), so the looks always overlap the takes.
TEST(Seats, ARefusedTakeNeverCountsASeatThatIsNotThere) {
    constexpr int kTakes = 2000000, kLooks = 2000000;
    Seats seats(2, "full");
    std::optional<Seat> one = seats.take(), two = seats.take();
    ASSERT_TRUE(one && two);
    std::atomic<int> takes{0}, looks{0};
    int wrongly_taken = 0;
    std::thread refused([&] {
        while (takes < kTakes || looks < kLooks) {
            if (seats.take()) ++wrongly_taken;
            ++takes;
        }
    });
    int most = 0;
    while (looks < kLooks || takes < kTakes) {  // what another loop would see meanwhile
        most = std::max(most, seats.taken());
        ++looks;
    }
    refused.join();
    EXPECT_EQ(wrongly_taken, 0) << "a third seat of two";
    EXPECT_EQ(most, 2) << "a refused take counted a seat that is not there";
}

// A task that answers each byte its socket receives with a byte, `rounds` times; the first
// of a pair also starts the exchange. Notes the program's allocations at round 100 and at the end.
Task ping_pong(int fd, bool first, int rounds, long& at_100, long& at_end) {
    char c = 'x';
    if (first) [[maybe_unused]] ssize_t w = ::write(fd, &c, 1);
    for (int i = 0; i < rounds; ++i) {
        if (i == 100) at_100 = allocations;
        co_yield recv(fd);
        [[maybe_unused]] ssize_t r = ::read(fd, &c, 1);
        if (first && i == rounds - 1) break;  // its partner reads the last byte
        co_yield send(fd);
        [[maybe_unused]] ssize_t w = ::write(fd, &c, 1);
    }
    at_end = allocations;
}

// Once add() has made room, parking a client's task and waking it need no memory: the wait tables
// are indexed by descriptor and `tasks` is a ring (out of memory, a client is refused at add(),
// never dropped in the middle of a wait). 261367e's unordered_maps allocated a node per park
// (1.02 mallocs per reply on fib-loop), and a park that found no memory freed the task it was
// adding: fib-loop --loops 2 ended out of memory.
TEST_P(LoopBackend, ParkingAndWakingNeedNoMemory) {
    std::vector<Pair> pairs(4);
    std::vector<long> at_100(8), at_end(8);
    for (auto& p : pairs) {
        ASSERT_EQ(loop->add(p.a.get()), "");
        ASSERT_EQ(loop->add(p.b.get()), "");
    }
    for (std::size_t i = 0; i < pairs.size(); ++i) {
        loop->spawn(ping_pong(pairs[i].a.get(), true, 1000, at_100[2 * i], at_end[2 * i]));
        loop->spawn(ping_pong(pairs[i].b.get(), false, 1000, at_100[2 * i + 1], at_end[2 * i + 1]));
    }
    loop->run();
    long last_warm = *std::max_element(at_100.begin(), at_100.end()), first_end = *std::min_element(at_end.begin(), at_end.end());
    EXPECT_EQ(first_end - last_warm, 0) << "allocations while 8 tasks parked and woke 900 times each";
}

// Step 4's frame pool: bounded, and off under AddressSanitizer so a freed frame stays freed.
TEST(Frames, ThePoolKeepsAtMostKKeptFramesOfASize) {
    std::vector<void*> taken;
    for (std::size_t i = 0; i < Frames::kKept + 10; ++i) taken.push_back(Frames::take(200));
    for (void* f : taken) Frames::give(f, 200);
    EXPECT_EQ(Frames::kept(200), Frames::kPooled ? Frames::kKept : 0u);
    void* again = Frames::take(200);
    EXPECT_EQ(Frames::kept(200), Frames::kPooled ? Frames::kKept - 1 : 0u);
    Frames::give(again, 200);
}

TEST(Frames, UnderAddressSanitizerEveryFrameIsPlainNewAndDelete) {
#ifdef FIBS_ASAN
    EXPECT_FALSE(Frames::kPooled);
#else
    GTEST_SKIP() << "this build has no AddressSanitizer (the asan preset runs this test)";
#endif
}

}  // namespace
}  // namespace fibs::loop
