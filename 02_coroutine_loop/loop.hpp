// The article's run(): a queue of ready tasks, and tasks parked by why they wait. It calls
// select/poll/epoll only when no task is ready to run.
#pragma once
#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

#include "poller.hpp"
#include "task.hpp"

namespace fibs::loop {

class Loop {
public:
    explicit Loop(std::unique_ptr<Poller> poller);

    void spawn(Task task);  // tasks.append(task)
    void run();             // until stop(), or until no task is left
    void stop();            // run() returns after the task that called it
    void wake(int what);    // the future a task waits on for `what` is done: make it ready
    bool can_watch(int fd) const { return poller_->can_watch(fd); }
    const char* backend() const { return poller_->name(); }

private:
    void wait_for_io();

    std::deque<Task> tasks;                    // ready to run
    std::unordered_map<int, Task> recv_wait;   // fd -> task waiting to read it
    std::unordered_map<int, Task> send_wait;   // fd -> task waiting to write it
    std::unordered_map<int, Task> future_wait; // fd -> task waiting for a worker's result
    std::unique_ptr<Poller> poller_;
    std::vector<int> ready_;
    bool stopping_ = false;
};

}  // namespace fibs::loop
