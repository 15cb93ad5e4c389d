#include "stop.hpp"

#include <signal.h>

#include <atomic>

namespace fibs {

namespace {

// Set by a signal handler and read by every thread: a lock-free atomic is safe for both.
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
}

bool stop_requested() { return stopping.load(); }

}  // namespace fibs
