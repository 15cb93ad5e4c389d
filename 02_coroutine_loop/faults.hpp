// fib-loop's failpoint: refusals that are hard to cause for real, on demand, for the tests. They
// start fib-loop with
//
//     FIBS_FAULTS="add-limit=3,refuse-watch=5,wait-error=20,hold-descriptors-ms=300,refuse-own=listener"
//
// (any subset), and check that each refusal costs one client, never the server, and that a
// refusal the server cannot live with ends it with one `error:` line and exit code 1. Without the
// variable nothing here runs; the lesson's files never include this one (setup.cpp does). Tuning
// the kernel instead (fs.epoll.max_user_watches, a tiny ring) would need root and would change
// the whole machine.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "net.hpp"
#include "poller.hpp"

namespace fibs::loop {

struct Faults {
    int add_limit = -1;    // add-limit=N: every new client past the first N is refused, as epoll_ctl's
                           //   ENOSPC does past fs.epoll.max_user_watches
    int refuse_watch = 0;  // refuse-watch=N: the Nth watch of a client's socket throws Refused, as a
                           //   full io_uring does; then every Nth after it
    int wait_error = 0;    // wait-error=N: the Nth wait fails with EBADF, a wait nobody can retry
    std::chrono::milliseconds hold{0};  // hold-descriptors-ms=T: take every free descriptor at
                                        //   start-up, and give them back T ms later
    std::string refuse_own;  // refuse-own=KIND: every watch of the server's own descriptor of that
                             //   kind throws Refused, as a full io_uring would. KIND is the kernel's
                             //   name for it: listener (the accept task), eventfd (the mailbox:
                             //   future_monitor), pipe (the stop watcher), timerfd (the accept
                             //   task's pause)

    // How many adds, client watches and waits there were, across every poller of the process
    // (each loop has its own: Step 5), so that add-limit=N means N for the server.
    struct Counts {
        std::atomic<int> adds{0}, watches{0}, waits{0};
    };
    std::shared_ptr<Counts> counts = std::make_shared<Counts>();

    // Parses FIBS_FAULTS ("" or nullptr: no faults). Throws std::invalid_argument on a bad item.
    static Faults parse(const char* spec);
};

// Where the faults strike, for any thread: a poller (below), and Step 6's one queue, which waits
// on epoll without a Poller. `who` names the backend in the refusal ("epoll").
class Failpoint {
public:
    explicit Failpoint(const Faults& f) : f_(f) {}
    static std::shared_ptr<Failpoint> of(const Faults& f);  // nullptr when there is nothing to inject
    std::string refuse_add(int fd, const char* who);  // "" or why this new client cannot be watched
    void check_watch(int fd, const char* who);        // throws Refused
    void check_wait(const char* who);                 // throws std::system_error

private:
    static std::string kind(int fd);
    Faults f_;
    std::mutex mu_;
    std::unordered_set<int> clients_;  // descriptors that came through refuse_add: the clients'
};

// The poller, failing as `faults` says; the poller itself when there is nothing to inject.
std::unique_ptr<Poller> with_faults(std::unique_ptr<Poller> poller, const Faults& faults);

// Holds every descriptor the process could still open, and closes them `hold` later.
class DescriptorHold {
public:
    explicit DescriptorHold(std::chrono::milliseconds hold);
    ~DescriptorHold();
    DescriptorHold(const DescriptorHold&) = delete;
    DescriptorHold& operator=(const DescriptorHold&) = delete;

private:
    std::vector<Fd> held_;
    std::mutex mu_;
    std::condition_variable ended_;
    bool ending_ = false;
    std::thread release_;
};

}  // namespace fibs::loop
