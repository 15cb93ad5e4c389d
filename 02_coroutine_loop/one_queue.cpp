// Step 6: one queue for every core (one_queue.hpp). Each thread, in turn the leader: it waits on
// the shared epoll instance for one ready socket, takes the task parked on it, and runs it until
// the task waits again; meanwhile another thread leads. One wake-up per request, as with a thread
// per client; one small frame per client, as with the loops.
#include "one_queue.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "context.hpp"
#include "stop.hpp"

namespace fibs::loop {

OneQueue::OneQueue(int threads, std::size_t slots, Loop::Failed failed, std::shared_ptr<Failpoint> faults)
    : epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      wake_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      threads_(threads),
      slots_size_(slots),
      slots_(new Slot[slots]),
      failed_(std::move(failed)),
      faults_(std::move(faults)) {
    if (!epoll_) throw std::system_error(errno, std::generic_category(), "epoll_create1");
    if (!wake_) throw std::system_error(errno, std::generic_category(), "eventfd");
}

OneQueue::~OneQueue() = default;

std::string Context::add(int fd) { return one_queue ? one_queue->add(fd) : loop.add(fd); }
void Context::spawn(Task task) { one_queue ? one_queue->spawn(std::move(task)) : loop.spawn(std::move(task)); }

std::string OneQueue::add(int fd) {
    if (static_cast<std::size_t>(fd) >= slots_size_) return "descriptor " + std::to_string(fd) + " is past the slots made";
    if (faults_) {
        if (std::string why = faults_->refuse_add(fd, "epoll"); !why.empty()) return why;
    }
    epoll_event e{};
    e.events = EPOLLONESHOT;  // watched, not armed: its task's first wait arms it
    e.data.fd = fd;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &e) != 0) return std::string("epoll_ctl ADD: ") + std::strerror(errno);
    return "";
}

void OneQueue::spawn(Task task) {
    try {
        std::lock_guard lock(mu_);
        tasks.push_back(std::move(task));  // moves the task only if there was room
    } catch (const std::bad_alloc& e) {
        failed_(task, e);
    }
}

bool OneQueue::pop_ready(Task& task) {
    std::lock_guard lock(mu_);
    if (tasks.empty()) return false;
    task = std::move(tasks.front());
    tasks.pop_front();
    return true;
}

// next(task), as Loop::run_next: then the task waits, goes to the back of `tasks`, or is done.
void OneQueue::run_task(Task task) {
    std::optional<Wait> wait;
    try {
        wait = task.next();
    } catch (const std::exception& e) {
        failed_(task, e);
        return;
    }
    if (wait) park(*wait, std::move(task));
}

// recv_wait[fd] = task (or send_wait): the task goes into its socket's slot, and only then is the
// socket armed, the last thing this thread does with the task: from that moment another thread
// may be woken for it.
void OneQueue::park(Wait wait, Task task) {
    if (wait.why == Why::again) return spawn(std::move(task));
    if (wait.why == Why::future) return failed_(task, std::logic_error("--one-queue runs no workers"));
    auto at = static_cast<std::size_t>(wait.what);
    if (at >= slots_size_) return failed_(task, std::runtime_error("descriptor past the slots made"));
    try {
        if (faults_) faults_->check_watch(wait.what, "epoll");
    } catch (const std::exception& e) {
        return failed_(task, e);
    }
    int error;
    {
        Hold hold(slots_[at]);
        hold.slot.task = std::move(task);
        hold.slot.why = wait.why;
        hold.slot.waiting = true;
        epoll_event e{};
        e.events = (wait.why == Why::recv ? EPOLLIN : EPOLLOUT) | EPOLLONESHOT;
        e.data.fd = wait.what;
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, wait.what, &e) == 0) return;
        if (errno == ENOENT && ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wait.what, &e) == 0) return;  // the server's own, first wait
        error = errno;
        hold.slot.waiting = false;
        task = std::move(hold.slot.task);
    }
    if (error == ENOSPC || error == ENOMEM) return failed_(task, Refused(std::string("epoll_ctl: ") + std::strerror(error)));
    failed_(task, std::system_error(error, std::generic_category(), "epoll_ctl"));
}

// A thread that finds the slot held sleeps (a futex, through atomic wait) instead of spinning:
// the holder may have been preempted in its epoll_ctl, and a spinner would keep it off the core.
OneQueue::Hold::Hold(Slot& s) : slot(s) {
    while (slot.busy.exchange(true, std::memory_order_acquire)) slot.busy.wait(true, std::memory_order_relaxed);
}
OneQueue::Hold::~Hold() {
    slot.busy.store(false, std::memory_order_release);
    slot.busy.notify_one();
}

Task OneQueue::take_waiting(int fd) {
    Hold hold(slots_[static_cast<std::size_t>(fd)]);
    if (!std::exchange(hold.slot.waiting, false)) return Task();
    return std::move(hold.slot.task);
}

// wake_, readable from now on and watched level-triggered: every thread's wait returns (the
// kernel wakes the waiters one after another while it stays readable), and each sees stopping_.
void OneQueue::stop_all() {
    if (stopping_.exchange(true)) return;
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_.get(), &one, sizeof one);
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.fd = wake_.get();
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &e);
}

// One thread: the ready tasks first, then lead: wait for one socket and run its task. After a
// stop, every thread but the last leaves as soon as it holds no task; the last finishes.
void OneQueue::work() {
    for (;;) {
        try {
            if (stop_requested()) stop_all();
            Task task;
            if (pop_ready(task)) {
                run_task(std::move(task));
                continue;
            }
            if (stopping_) {
                int n = live_.load();
                while (n > 1 && !live_.compare_exchange_weak(n, n - 1)) {
                }
                if (n == 1) finish_as_last();
                return;
            }
            if (faults_) faults_->check_wait("epoll");
            epoll_event e{};
            int n = ::epoll_wait(epoll_.get(), &e, 1, -1);
            if (n < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "epoll_wait");
            if (n != 1 || e.data.fd == wake_.get()) continue;  // a signal, or the stop
            task = take_waiting(e.data.fd);
            if (task) run_task(std::move(task));
        } catch (...) {  // a task the server cannot do without has failed: every thread stops
            {
                std::lock_guard lock(mu_);
                if (!error_) error_ = std::current_exception();
            }
            stop_all();
        }
    }
}

// The stop, on the last thread: nobody new is read (a task waiting to read stays, unwatched, until
// the queue frees it); the ready tasks run, and what waits to send goes when it can go now.
void OneQueue::finish_as_last() {
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, wake_.get(), nullptr);
    for (bool ran = true; ran;) {
        ran = false;
        for (Task task; pop_ready(task); ran = true) run_task(std::move(task));
        epoll_event ready[64];
        int n = ::epoll_wait(epoll_.get(), ready, 64, 0);
        for (int i = 0; i < n; ++i) {
            int fd = ready[i].data.fd;
            if (fd == wake_.get()) continue;
            Task task = take_waiting(fd);
            if (!task) continue;
            bool sends;
            {
                Hold hold(slots_[static_cast<std::size_t>(fd)]);
                sends = hold.slot.why == Why::send;
                if (!sends) {
                    hold.slot.task = std::move(task);  // waits to read: stays, unwatched
                    hold.slot.waiting = true;
                }
            }
            if (sends) {
                run_task(std::move(task));
                ran = true;
            }
        }
    }
}

void OneQueue::run(const std::function<void()>& ready) {
    live_ = threads_;
    std::vector<std::thread> threads;
    try {
        for (int i = 1; i < threads_; ++i) {
            try {
                threads.emplace_back([this] { work(); });
            } catch (const std::system_error& e) {
                throw std::system_error(e.code(), "cannot start thread " + std::to_string(i + 1) + " of the one queue (ulimit -u)");
            }
        }
        ready();
    } catch (...) {
        stop_all();
        for (auto& t : threads) t.join();
        throw;
    }
    work();
    for (auto& t : threads) t.join();
    if (error_) std::rethrow_exception(error_);
}

}  // namespace fibs::loop
