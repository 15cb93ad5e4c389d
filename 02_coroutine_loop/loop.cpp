#include "loop.hpp"

#include <new>
#include <stdexcept>
#include <string>

namespace fibs::loop {

Loop::Loop(std::unique_ptr<Poller> poller, Failed failed) : poller_(std::move(poller)), failed_(std::move(failed)) {
    ready_.reserve(64);  // the server's own sockets; add() makes room for the clients'
}

void Loop::stop() {
    stopping_ = true;
    mailbox_->ring();  // a loop waiting on its poller wakes: its future_monitor watches the mailbox
}

std::string Loop::add(int fd) {
    std::string why = poller_->add(fd);
    std::size_t tasks_now = tasks.size() + recv_wait.size() + send_wait.size() + future_wait.size() + 1;
    if (why.empty() && ready_.capacity() < tasks_now) ready_.reserve(2 * tasks_now);  // bad_alloc: refused
    return why;
}

void Loop::wake(int job, std::uint64_t value) {
    auto it = future_wait.find(job);
    if (it == future_wait.end()) return;  // its task has gone: nobody to tell
    Task task = std::move(it->second);
    future_wait.erase(it);
    task.send(value);
    ready(std::move(task));
}

void Loop::forget(int job) { future_wait.erase(job); }

void Loop::run() {
    while (!(stopping_ && future_wait.empty()) &&
           (!tasks.empty() || !recv_wait.empty() || !send_wait.empty() || !future_wait.empty())) {
        if (tasks.empty()) {
            wait_for_io(/*block=*/true);  // nothing to run: wait until a socket is ready
            continue;
        }
        run_next();
    }
    // A stop: the tasks that a worker's result made ready send their answers, then the loop ends.
    for (std::size_t ready = stopping_ ? tasks.size() : 0; ready > 0 && !tasks.empty(); --ready) run_next();
}

// next(task), and the task goes where its co_yield says: to a wait table, or (again) to the back.
void Loop::run_next() {
    Task task = std::move(tasks.front());
    tasks.pop_front();
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
// that cannot be made (the kernel refused the watch, no memory for the entry) fails the task.
void Loop::park(Table& table, Wait wait, Task& task) {
    try {
        auto [it, added] = table.try_emplace(wait.what, std::move(task));  // moves the task only if added
        if (!added) throw std::logic_error("a second task waits on " + std::to_string(wait.what));
        if (wait.why == Why::future) return;
        try {
            poller_->watch(wait.what, wait.why);
        } catch (...) {
            task = std::move(it->second);
            table.erase(it);
            throw;
        }
    } catch (const std::exception& e) {
        failed_(task, e);
    }
}

// tasks.append(task). With no room left in the queue, this task fails and the others go on.
void Loop::ready(Task task) {
    try {
        tasks.push_back(std::move(task));  // moves the task only if there was room
    } catch (const std::bad_alloc& e) {
        failed_(task, e);
    }
}

// select's loop body: every fd that is ready moves its task from the wait table to `tasks`.
// The whole batch is handled before any task runs, so a task cannot close an fd still in it.
void Loop::wait_for_io(bool block) {
    ready_.clear();
    poller_->wait(ready_, block);
    for (int fd : ready_) {
        for (Table* waiting : {&recv_wait, &send_wait}) {
            auto it = waiting->find(fd);
            if (it == waiting->end()) continue;
            poller_->unwatch(fd);
            Task task = std::move(it->second);
            waiting->erase(it);
            ready(std::move(task));
        }
    }
}

}  // namespace fibs::loop
