#include "stop.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <system_error>

namespace fibs {

namespace {

// Set by a signal handler and read by every thread: a lock-free atomic is safe for both.
std::atomic<bool> stopping{false};
static_assert(std::atomic<bool>::is_always_lock_free);
int wake_fd = -1;  // the pipe's write end, set before the handler is installed

void on_stop_signal(int) {
    int saved = errno;  // a handler must leave errno as it found it
    stopping.store(true);
    if (wake_fd >= 0) [[maybe_unused]] ssize_t n = ::write(wake_fd, "!", 1);  // async-signal-safe
    errno = saved;
}

}  // namespace

void stop_on_signals() {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;  // not SA_RESTART: see stop.hpp
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
}

int stop_on_signals_pipe() {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    wake_fd = fds[1];  // kept open for the life of the process
    stop_on_signals();
    return fds[0];
}

bool stop_requested() { return stopping.load(); }

}  // namespace fibs
