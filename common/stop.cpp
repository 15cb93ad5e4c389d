#include "stop.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <system_error>
#include <thread>

namespace fibs {

namespace {

// Set by a signal handler (or the signal thread) and read by every thread: a lock-free atomic is
// safe for both.
std::atomic<bool> stopping{false};
static_assert(std::atomic<bool>::is_always_lock_free);
void on_stop_signal(int) { stopping.store(true); }

}  // namespace

void stop_on_signals() {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;  // not SA_RESTART: see stop.hpp
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    ::sigaction(SIGHUP, &sa, nullptr);
}

int stop_on_signals_pipe() {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP);
    ::pthread_sigmask(SIG_BLOCK, &stop, nullptr);  // this thread, and every thread started after it
    std::thread([stop, wake = fds[1]] {             // the write end stays open for the process's life
        int sig = 0;
        ::sigwait(&stop, &sig);  // the first: a clean stop
        stopping.store(true);
        [[maybe_unused]] ssize_t n = ::write(wake, "!", 1);
        ::sigwait(&stop, &sig);  // the second: the default action, at once
        ::signal(sig, SIG_DFL);
        ::pthread_sigmask(SIG_UNBLOCK, &stop, nullptr);
        ::raise(sig);
    }).detach();
    return fds[0];
}

bool stop_requested() { return stopping.load(); }

}  // namespace fibs
