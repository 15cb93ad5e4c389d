// The article's run(): a queue of ready tasks, and tasks parked by why they wait. It waits on the
// poller (select, poll, epoll or io_uring) only when no task is ready to run, and takes a quick
// look without waiting whenever a task's turn is over.
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

#include "mailbox.hpp"
#include "poller.hpp"
#include "server.hpp"
#include "task.hpp"
#include "turn.hpp"

namespace fibs::loop {

class Loop {
public:
    // `refusals`: where refused watches are said, if not in the loop's own log (Step 5: one for all loops).
    explicit Loop(std::unique_ptr<Poller> poller, RefusalLog* refusals = nullptr);

    void spawn(Task task);  // tasks.append(task): a client's task, whose failure ends it alone
    // A task the server cannot do without (the accept task, future_monitor, the stop watcher): if
    // it fails, or the kernel refuses its wait, run() throws and the server ends with exit 1.
    void spawn_vital(const char* name, Task task);
    void run();   // until stop(), or until no task is left
    void stop();  // run() returns after the task that called it
    std::string add(int fd) { return poller_->add(fd); }  // a new client: "" or why it cannot be watched

    // Any thread: a letter for this loop (Mailbox). Shared, so a sender may outlive the loop.
    const std::shared_ptr<Mailbox>& mailbox() const { return mailbox_; }
    // The loop's thread: the job a task waits on is done; that task gets `value` and is ready.
    // A job whose task has gone (its frame freed meanwhile) is dropped.
    void wake(int job, std::uint64_t value);

private:
    void wait_for_io(bool block);
    void park(std::unordered_map<int, Task>& table, Wait wait, Task& task);
    void failed(Task& task, const std::string& why);

    std::deque<Task> tasks;                    // ready to run
    std::unordered_map<int, Task> recv_wait;   // fd -> task waiting to read it
    std::unordered_map<int, Task> send_wait;   // fd -> task waiting to write it
    std::unordered_map<int, Task> future_wait; // job -> task waiting for a worker's result
    std::unique_ptr<Poller> poller_;
    // Not make_shared: its memory goes with the last owner, so a use after that is an ASan report.
    std::shared_ptr<Mailbox> mailbox_{new Mailbox};
    std::vector<int> ready_;
    bool stopping_ = false;
    RefusalLog own_refusals_;
    RefusalLog* refusals_;
};

}  // namespace fibs::loop
