#include "stop.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace fibs {

namespace {

// No signal handler runs at all: the signals stay pending and the signalfd reports them. That
// avoids async-signal-safety questions and works the same in select, poll, epoll and threads.
int open_stop_fd() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (::pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) std::abort();
    int fd = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0) {
        std::perror("signalfd");
        std::abort();
    }
    return fd;
}

}  // namespace

void block_stop_signals() { stop_fd(); }

int stop_fd() {
    static const int fd = open_stop_fd();
    return fd;
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
