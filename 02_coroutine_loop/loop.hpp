// The article's run(): a queue of ready tasks, and tasks parked by why they wait. It waits on the
// poller (select, poll, epoll or io_uring) only when no task is ready to run, and takes a quick
// look without waiting whenever a task's turn is over.
#pragma once
#include <chrono>
#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

#include "poller.hpp"
#include "server.hpp"
#include "task.hpp"

namespace fibs::loop {

// A task's turn: at most kRequests requests or kTime of work. A handler asks over() before each
// request; when it says yes, the handler yields `again`, the others run, and a new turn begins
// with the next request. (`now` is a parameter so that a test can play the clock.)
class Turn {
public:
    static constexpr int kRequests = 16;
    static constexpr std::chrono::microseconds kTime{200};

    bool over(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) {
        if (!timing_) start_ = now;
        timing_ = true;
        if (done_ < kRequests && now - start_ < kTime) {
            ++done_;
            return false;
        }
        done_ = 1;        // the request that asked is the first of the next turn,
        timing_ = false;  // whose clock starts when the task runs again
        return true;
    }

private:
    int done_ = 0;
    bool timing_ = false;
    std::chrono::steady_clock::time_point start_;
};

class Loop {
public:
    explicit Loop(std::unique_ptr<Poller> poller);

    void spawn(Task task);  // tasks.append(task)
    void run();             // until stop(), or until no task is left
    void stop();            // run() returns after the task that called it
    void wake(int what);    // the future a task waits on for `what` is done: make it ready
    std::string add(int fd) { return poller_->add(fd); }  // a new client: "" or why it cannot be watched

private:
    void wait_for_io(bool block);
    void park(std::unordered_map<int, Task>& table, int fd, Why why, Task task);

    std::deque<Task> tasks;                    // ready to run
    std::unordered_map<int, Task> recv_wait;   // fd -> task waiting to read it
    std::unordered_map<int, Task> send_wait;   // fd -> task waiting to write it
    std::unordered_map<int, Task> future_wait; // fd -> task waiting for a worker's result
    std::unique_ptr<Poller> poller_;
    std::vector<int> ready_;
    bool stopping_ = false;
    RefusalLog refusals_;
};

}  // namespace fibs::loop
