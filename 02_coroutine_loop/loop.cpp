#include "loop.hpp"

#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <tuple>

#include "log.hpp"

namespace fibs::loop {

Loop::Loop(std::unique_ptr<Poller> poller, RefusalLog* refusals)
    : poller_(std::move(poller)), refusals_(refusals != nullptr ? refusals : &own_refusals_) {}

void Loop::spawn(Task task) { tasks.push_back(std::move(task)); }

void Loop::spawn_vital(const char* name, Task task) {
    task.make_vital(name);
    spawn(std::move(task));
}

void Loop::stop() { stopping_ = true; }

void Loop::wake(int job, std::uint64_t value) {
    auto it = future_wait.find(job);
    if (it == future_wait.end()) return;  // its task has gone: nobody to tell
    it->second.send(value);
    tasks.push_back(std::move(it->second));
    future_wait.erase(it);
}

void Loop::run() {
    while (!stopping_ && (!tasks.empty() || !recv_wait.empty() || !send_wait.empty() || !future_wait.empty())) {
        if (tasks.empty()) {
            wait_for_io(/*block=*/true);  // nothing to run: wait until a socket is ready
            continue;
        }
        Task task = std::move(tasks.front());
        tasks.pop_front();
        std::optional<Wait> wait;
        try {
            wait = task.next();
        } catch (const std::exception& e) {
            failed(task, e.what());  // only this task ends (unless the server needs it); its frame is freed
            continue;
        }
        if (!wait) continue;  // the task has finished (StopIteration)
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
                tasks.push_back(std::move(task));
                break;
        }
    }
}

// recv_wait[fd] = task (or send_wait, or future_wait[job]), and the poller watches the fd. A watch
// it refuses (no room in the kernel) ends a client's task alone: its frame is freed here, closing
// its socket. A task the server needs is never dropped so: the server ends instead.
void Loop::park(std::unordered_map<int, Task>& table, Wait wait, Task& task) {
    std::unordered_map<int, Task>::iterator it;
    try {
        // Room for every watched socket in the next wait's answer, so that a wait never allocates:
        // out of memory, the client that would need more is refused here, never a wait.
        std::size_t watched = recv_wait.size() + send_wait.size() + 1;
        if (!task.vital() && ready_.capacity() < watched) ready_.reserve(2 * watched);
        bool added = false;
        std::tie(it, added) = table.try_emplace(wait.what, std::move(task));  // moves the task only if added
        if (!added) return failed(task, "a second task waits on " + std::to_string(wait.what));
    } catch (const std::bad_alloc&) {
        return failed(task, "out of memory");  // no room to park it: as a refused watch
    }
    if (wait.why == Why::future) return;
    try {
        poller_->watch(wait.what, wait.why);
    } catch (const Refused& e) {
        Task refused = std::move(it->second);
        table.erase(it);
        if (refused.vital()) failed(refused, e.what());
        refusals_->note(e.what());
    }
}

// A client's task ends with one line in the log; a task the server needs ends the server.
void Loop::failed(Task& task, const std::string& why) {
    if (task.vital()) throw std::runtime_error(std::string(task.vital()) + " cannot go on: " + why);
    try {
        log_line("task failed: " + why);
    } catch (const std::bad_alloc&) {
        // out of memory: the task ends without its line
    }
}

// select's loop body: every fd that is ready moves its task from the wait table to `tasks`.
// The whole batch is handled before any task runs, so a task cannot close an fd still in it.
void Loop::wait_for_io(bool block) {
    ready_.clear();
    poller_->wait(ready_, block);
    for (int fd : ready_) {
        for (auto* waiting : {&recv_wait, &send_wait}) {
            auto it = waiting->find(fd);
            if (it == waiting->end()) continue;
            poller_->unwatch(fd);
            try {
                tasks.push_back(std::move(it->second));  // moves the task only if there was room
            } catch (const std::bad_alloc&) {
                failed(it->second, "out of memory");
            }
            waiting->erase(it);
        }
    }
}

}  // namespace fibs::loop
