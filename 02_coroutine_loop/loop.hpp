// The article's run(): a queue of ready tasks, and tasks parked by why they wait. It waits on the
// poller (select, poll, epoll or io_uring) only when no task is ready to run, and takes a quick
// look without waiting whenever a task's turn is over. It schedules, and nothing else: what a
// failed task costs is the server's to say (`Failed`).
#pragma once
#include <atomic>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "mailbox.hpp"
#include "poller.hpp"
#include "task.hpp"

namespace fibs::loop {

class Loop {
public:
    // A task that threw, or whose wait could not be made (the poller refused the watch, or there
    // was no memory to park it). The loop frees it after the call, which closes what its frame
    // holds; the call may throw to end run() (a task the server cannot do without).
    using Failed = std::function<void(const Task& task, const std::exception& why)>;
    Loop(std::unique_ptr<Poller> poller, Failed failed);

    void spawn(Task task) { ready(std::move(task)); }  // tasks.append(task)
    void run();   // until stop(), or until no task is left
    // Any thread: run() returns after the task that is running, once no task waits on a worker's
    // result (an answer being computed is still sent).
    void stop();
    // A new client's socket, before its first wait: "" or why it cannot be watched ("select
    // cannot watch descriptors past FD_SETSIZE"). Makes room for its task, so that parking and
    // waking it never needs memory (out of memory, the client is refused here, not later).
    std::string add(int fd);

    // Any thread: a letter for this loop (Mailbox). Shared, so a sender may outlive the loop.
    const std::shared_ptr<Mailbox>& mailbox() const { return mailbox_; }
    // The loop's thread: the job a task waits on is done; that task gets `value` and is ready.
    // A job whose task has gone (its frame freed meanwhile) is dropped.
    void wake(int job, std::uint64_t value);
    void forget(int job);  // the job was dropped (Workers::stop_taking): its task is freed

private:
    using Table = std::unordered_map<int, Task>;
    void run_next();
    void ready(Task task);
    void park(Table& table, Wait wait, Task& task);
    void wait_for_io(bool block);

    std::deque<Task> tasks;  // ready to run
    Table recv_wait;         // fd -> task waiting to read it
    Table send_wait;         // fd -> task waiting to write it
    Table future_wait;       // job -> task waiting for a worker's result
    std::unique_ptr<Poller> poller_;
    Failed failed_;
    // Not make_shared: its memory goes with the last owner, so a use after that is an ASan report.
    std::shared_ptr<Mailbox> mailbox_{new Mailbox};
    std::vector<int> ready_;  // the poller's answer, with room for every watched socket (add)
    std::atomic<bool> stopping_{false};
};

}  // namespace fibs::loop
