#include "stop.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstdio>

namespace fibs {

namespace {

struct StopPipe {
    int read_end = -1;
    int write_end = -1;
    StopPipe() {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
            std::perror("pipe2");
            std::abort();
        }
        read_end = fds[0];
        write_end = fds[1];
    }
};

// Created on first use, before any handler can run (install_stop_handlers touches it first).
StopPipe& stop_pipe() {
    static StopPipe p;
    return p;
}

void on_signal(int) {
    int saved = errno;
    request_stop();
    errno = saved;
}

}  // namespace

void install_stop_handlers() {
    stop_pipe();
    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;  // wake-ups come from the pipe, not from EINTR
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
}

int stop_fd() { return stop_pipe().read_end; }

void request_stop() {
    char byte = 1;
    // Async-signal-safe. A full pipe (EAGAIN) already means "stop".
    [[maybe_unused]] ssize_t n = ::write(stop_pipe().write_end, &byte, 1);
}

bool stop_requested() {
    pollfd p{stop_fd(), POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
}

bool wait_readable(int fd) {
    pollfd p[2] = {{fd, POLLIN, 0}, {stop_fd(), POLLIN, 0}};
    for (;;) {
        int n = ::poll(p, 2, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        if (p[1].revents != 0) return false;
        return true;
    }
}

}  // namespace fibs
