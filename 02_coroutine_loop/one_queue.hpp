// Step 6: one queue for every core. `fib-loop --loops N --one-queue`: N threads wait on one epoll
// instance, and whichever thread wakes runs the task whose socket is ready, in place, until the
// task waits again. A task may run on any thread, never on two at once: each socket is watched
// EPOLLONESHOT, so the kernel reports it to one epoll_wait and then not again until the task that
// waits on it re-arms it, and a task re-arms its socket only as the last thing it does on a thread
// (park, below). The tasks are Step 3's (main.cpp), unchanged; Step 3's Loop and pollers are not
// used: this is a second, small scheduler beside them (leader/followers, POSA2).
#pragma once
#include <atomic>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "faults.hpp"
#include "loop.hpp"
#include "net.hpp"
#include "task.hpp"

namespace fibs::loop {

class OneQueue {
public:
    // `slots`: the highest descriptor it may watch, plus one (a task per descriptor at most).
    // `faults`: the tests' failpoint (faults.hpp), or nullptr. Throws std::system_error when no
    // epoll instance or eventfd can be made.
    OneQueue(int threads, std::size_t slots, Loop::Failed failed, std::shared_ptr<Failpoint> faults);
    ~OneQueue();  // frees every task still waiting, which closes their sockets

    // A new client's socket, before its first wait: "" or why epoll cannot watch it. Watching
    // it needs no memory afterwards: its slot was made with the others.
    std::string add(int fd);
    void spawn(Task task);  // tasks.append(task); any thread
    // Runs `threads` threads (this one among them) until the stop: then nobody new is read, the
    // tasks computing an answer finish and send what can go, and run() returns. Rethrows the
    // error of a task the server cannot do without.
    void run(const std::function<void()>& ready);

private:
    // A waiting task, owned by its socket's slot while the socket is armed. The thread that parks
    // the task holds `busy` from storing it until the socket is armed, and the thread the kernel
    // wakes for it takes `busy` before taking it: epoll alone orders the two, but no sanitizer
    // can see that, and the woken thread must not close the socket while epoll_ctl still reads it.
    struct Slot {
        Task task;
        Why why = Why::recv;
        bool waiting = false;
        std::atomic<bool> busy{false};
    };
    struct Hold {  // holds a slot's `busy` (a spin lock: it is held for one epoll_ctl)
        explicit Hold(Slot& s);
        ~Hold();
        Slot& slot;
    };
    void work();
    void run_task(Task task);
    void park(Wait wait, Task task);
    Task take_waiting(int fd);
    bool pop_ready(Task& task);
    void stop_all();          // every thread wakes and sees the stop
    void finish_as_last();    // the stop, on the last thread: what is ready, and what can be sent

    Fd epoll_;
    Fd wake_;  // readable from the stop on (never read): every thread's wait returns
    int threads_;
    std::size_t slots_size_;
    std::unique_ptr<Slot[]> slots_;
    Loop::Failed failed_;
    std::shared_ptr<Failpoint> faults_;
    std::mutex mu_;           // guards tasks and error_
    std::deque<Task> tasks;   // ready: new tasks, and those whose turn is over (again)
    std::exception_ptr error_;
    std::atomic<bool> stopping_{false};
    std::atomic<int> live_{0};  // threads still in run()
};

}  // namespace fibs::loop
