#include "loop.hpp"

#include <algorithm>
#include <new>
#include <stdexcept>
#include <string>

namespace fibs::loop {

void Ready::reserve(std::size_t n) {
    if (n <= ring_.size()) return;
    std::vector<Task> bigger(n);  // throws std::bad_alloc: then nothing has moved
    for (std::size_t i = 0; i < size_; ++i) bigger[i] = std::move(ring_[(head_ + i) % ring_.size()]);
    ring_ = std::move(bigger);
    head_ = 0;
}

void Ready::push_back(Task task) {
    if (size_ == ring_.size()) reserve(2 * size_ + 8);  // past the room made: only a task of the server's own
    ring_[(head_ + size_++) % ring_.size()] = std::move(task);
}

Task Ready::pop_front() {
    Task task = std::move(ring_[head_]);
    head_ = (head_ + 1) % ring_.size();
    --size_;
    return task;
}

Loop::Loop(std::unique_ptr<Poller> poller, Failed failed) : poller_(std::move(poller)), failed_(std::move(failed)) {
    ready_.reserve(64);  // the server's own sockets; add() makes room for the clients'
    tasks.reserve(16);
    // The mailbox lives as long as the loop: registered once, as a client is, and not armed
    // again at every letter.
    if (std::string why = poller_->add(mailbox_->fd()); !why.empty()) throw std::runtime_error("mailbox: " + why);
}

void Loop::stop() {
    stopping_ = true;
    mailbox_->ring();  // a loop waiting on its poller wakes: its future_monitor watches the mailbox
}

std::string Loop::add(int fd) {
    std::string why = poller_->add(fd);
    if (!why.empty()) return why;
    std::size_t room = static_cast<std::size_t>(fd) + 1;  // a task per descriptor at most, and a few of the server's
    for (Table* table : {&recv_wait, &send_wait, &future_wait}) {
        if (table->size() < room) table->resize(std::max(room, 2 * table->size()));
    }
    tasks.reserve(recv_wait.size() + 16);
    if (ready_.capacity() < recv_wait.size()) ready_.reserve(recv_wait.size());
    return "";
}

void Loop::wake(int job, std::uint64_t value) {
    auto at = static_cast<std::size_t>(job);
    if (at >= future_wait.size() || !future_wait[at]) return;  // its task has gone: nobody to tell
    Task task = std::move(future_wait[at]);
    --parked_, --futures_;
    task.send(value);
    ready(std::move(task));
}

void Loop::run() {
    for (;;) {
        if (!tasks.empty()) {
            run_next();
        } else if (!stopping_) {
            if (parked_ == 0) return;     // no task left
            wait_for_io(/*block=*/true);  // nothing to run: wait until a socket is ready
        } else if (futures_ > 0) {
            wait_for_io(/*block=*/true);  // a stop: a worker's answer is still coming
        } else {
            wait_for_io(/*block=*/false);  // a stop: send what can go now, then end
            if (tasks.empty()) return;
        }
    }
}

// next(task), and the task goes where its co_yield says: to a wait table, or (again) to the back.
void Loop::run_next() {
    Task task = tasks.pop_front();
    std::optional<Wait> wait;
    try {
        wait = task.next();
    } catch (const std::exception& e) {
        failed_(task, e);  // the server says what it costs; the task's frame is freed here
        return;
    }
    if (!wait) return;  // the task has finished (StopIteration)
    switch (wait->why) {
        case Why::recv:
            park(recv_wait, *wait, task);
            break;
        case Why::send:
            park(send_wait, *wait, task);
            break;
        case Why::future:
            park(future_wait, *wait, task);
            break;
        case Why::again:
            // Its turn is over: to the back of `tasks`. A quick look at the sockets first (no
            // waiting), or a task that is alone in `tasks` would never let anyone else in.
            wait_for_io(/*block=*/false);
            ready(std::move(task));
            break;
    }
}

// recv_wait[fd] = task (or send_wait, or future_wait[job]), and the poller watches the fd. A wait
// the kernel refuses fails the task. The table has room for it: add() made it for a client, and a
// descriptor of the server's own is parked first at start-up, when the table grows to hold it.
void Loop::park(Table& table, Wait wait, Task& task) {
    try {
        auto at = static_cast<std::size_t>(wait.what);
        if (at >= table.size()) table.resize(at + 1);  // the server's own, at start-up (above)
        if (table[at]) throw std::logic_error("a second task waits on " + std::to_string(wait.what));
        if (wait.why != Why::future) poller_->watch(wait.what, wait.why);
        table[at] = std::move(task);
        ++parked_;
        if (wait.why == Why::future) ++futures_;
    } catch (const std::exception& e) {
        failed_(task, e);
    }
}

// tasks.append(task). Past the room made (a task of the server's own), with no memory left, this
// task fails and the others go on.
void Loop::ready(Task task) {
    try {
        tasks.push_back(std::move(task));  // moves the task only if there was room
    } catch (const std::bad_alloc& e) {
        failed_(task, e);
    }
}

// select's loop body: every fd that is ready moves its task from the wait table to `tasks`.
// The whole batch is handled before any task runs, so a task cannot close an fd still in it.
// While stopping, nobody new is read: a task waiting to read stays where it is, unwatched, until
// the loop frees it; only what waits to send, and the mailbox (through which a worker's answer
// comes), are woken.
void Loop::wait_for_io(bool block) {
    ready_.clear();
    poller_->wait(ready_, block);
    for (int fd : ready_) {
        auto at = static_cast<std::size_t>(fd);
        for (Table* waiting : {&recv_wait, &send_wait}) {
            if (at >= waiting->size() || !(*waiting)[at]) continue;
            poller_->unwatch(fd);
            if (stopping_ && waiting == &recv_wait && fd != mailbox_->fd()) continue;
            Task task = std::move((*waiting)[at]);
            --parked_;
            ready(std::move(task));
        }
    }
}

}  // namespace fibs::loop
