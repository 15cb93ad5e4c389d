#include "stop.hpp"

#include <signal.h>

namespace fibs {

namespace {

volatile sig_atomic_t stopping = 0;  // the only thing a signal handler may safely touch

void on_stop_signal(int) { stopping = 1; }

}  // namespace

void stop_on_signals() {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;  // not SA_RESTART: see stop.hpp
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
}

bool stop_requested() { return stopping != 0; }

}  // namespace fibs
