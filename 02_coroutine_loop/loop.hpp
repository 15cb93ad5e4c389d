// The article's run(): a queue of ready tasks, and tasks parked by why they wait. It waits on the
// poller (select, poll, epoll or io_uring) only when no task is ready to run, and takes a quick
// look without waiting whenever a task's turn is over. It schedules, and nothing else: what a
// failed task costs is the server's to say (`Failed`).
#pragma once
#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mailbox.hpp"
#include "poller.hpp"
#include "task.hpp"

namespace fibs::loop {

// `tasks`: the ready queue. A ring over room made beforehand (reserve), so that putting a task
// in it never needs memory while the room lasts.
class Ready {
public:
    bool empty() const { return size_ == 0; }
    std::size_t size() const { return size_; }
    void reserve(std::size_t n);  // throws std::bad_alloc
    void push_back(Task task);    // grows (and may throw std::bad_alloc) only past the room made
    Task pop_front();

private:
    std::vector<Task> ring_;
    std::size_t head_ = 0, size_ = 0;
};

class Loop {
public:
    // A task that threw, or whose wait could not be made (the poller refused the watch). The loop
    // frees it after the call, which closes what its frame holds; the call may throw to end run()
    // (a task the server cannot do without).
    using Failed = std::function<void(const Task& task, const std::exception& why)>;
    Loop(std::unique_ptr<Poller> poller, Failed failed);

    void spawn(Task task) { ready(std::move(task)); }  // tasks.append(task)
    // Until no task is left, or until a stop. A stop reads nobody new: the answers being
    // computed (by a task, or a worker) are made and sent as far as their clients take them,
    // then run() returns.
    void run();
    // Any thread: ask run() to stop (above).
    void stop();
    // A new client's socket, before its first wait: "" or why it cannot be watched ("select
    // cannot watch descriptors past FD_SETSIZE"). Makes room for its task in `tasks` and in every
    // wait table, so that parking and waking it never needs memory (out of memory, the client is
    // refused here, not later). Throws std::bad_alloc.
    std::string add(int fd);

    // Any thread: a letter for this loop (Mailbox). Shared, so a sender may outlive the loop.
    const std::shared_ptr<Mailbox>& mailbox() const { return mailbox_; }
    // The loop's thread: the job a task waits on is done (a job is named by its client's socket:
    // a task waits for one job at a time), or was dropped at a stop (Workers::stop_taking: the
    // value then says so); that task gets `value` and is ready. A job whose task has gone (its
    // frame freed meanwhile) is dropped.
    void wake(int job, std::uint64_t value);

private:
    // fd (or job) -> the task that waits on it; an empty Task where none does. Indexed by the
    // descriptor, as Redis's ae indexes its handlers: a wait never allocates (room: add()).
    using Table = std::vector<Task>;
    void run_next();
    void ready(Task task);
    void park(Table& table, Wait wait, Task& task);
    void wait_for_io(bool block);

    Ready tasks;        // ready to run
    Table recv_wait;    // fd -> task waiting to read it
    Table send_wait;    // fd -> task waiting to write it
    Table future_wait;  // job -> task waiting for a worker's result
    std::size_t parked_ = 0, futures_ = 0;  // tasks in the three tables; in future_wait alone
    std::unique_ptr<Poller> poller_;
    Failed failed_;
    // Not make_shared: its memory goes with the last owner, so a use after that is an ASan report.
    std::shared_ptr<Mailbox> mailbox_{new Mailbox};
    std::vector<int> ready_;  // the poller's answer, with room for every watched socket (add)
    std::atomic<bool> stopping_{false};
};

}  // namespace fibs::loop
