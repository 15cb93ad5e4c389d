#include "stop.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>
#include <thread>

namespace fibs {

namespace {

// Set by a signal handler (or the signal thread) and read by every thread: a lock-free atomic is
// safe for both.
std::atomic<bool> stopping{false};
static_assert(std::atomic<bool>::is_always_lock_free);

constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};

// The stop signals this process takes: those not ignored when it started. Under `nohup` SIGHUP is
// ignored, and a background job of a shell without job control starts with SIGINT ignored: they
// stay ignored. (A blocked signal is queued even when ignored, so an ignored one must not be
// blocked and waited for either.) Written before any handler or thread can read it.
sigset_t taken() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : kStopSignals) {
        struct sigaction now {};
        if (::sigaction(sig, nullptr, &now) == 0 && now.sa_handler != SIG_IGN) sigaddset(&set, sig);
    }
    return set;
}
sigset_t watched;

}  // namespace

std::string stop_signals_ignored() {
    std::string ignored;
    for (int sig : kStopSignals) {
        if (sigismember(&watched, sig)) continue;
        ignored += std::string(ignored.empty() ? "" : " and ") + "SIG" + sigabbrev_np(sig);
    }
    if (ignored.empty()) return "";
    bool term = sigismember(&watched, SIGTERM);
    return ignored + (ignored.find(" and ") == std::string::npos ? " was" : " were") +
           " ignored when the server started (nohup, or & in a script): " +
           (term ? "it will not stop the server; SIGTERM does" : "no signal but SIGKILL stops the server");
}

namespace {

void on_stop_signal(int) {
    stopping.store(true);
    struct sigaction fallback {};  // the second stop signal, of whichever kind, ends the process
    fallback.sa_handler = SIG_DFL;
    for (int sig : kStopSignals) {
        if (sigismember(&watched, sig)) ::sigaction(sig, &fallback, nullptr);
    }
}

}  // namespace

void stop_on_signals() {
    watched = taken();
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sa.sa_mask = watched;  // a second one that comes while the handler runs waits for its default action
    sa.sa_flags = 0;       // not SA_RESTART: see stop.hpp
    for (int sig : kStopSignals) {
        if (sigismember(&watched, sig)) ::sigaction(sig, &sa, nullptr);
    }
}

int stop_on_signals_pipe() {
    watched = taken();
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    ::pthread_sigmask(SIG_BLOCK, &watched, nullptr);  // this thread, and every thread started after it
    try {
        std::thread([wake = fds[1]] {  // the write end stays open for the process's life
            int sig = 0;
            ::sigwait(&watched, &sig);  // the first: a clean stop
            stopping.store(true);
            [[maybe_unused]] ssize_t n = ::write(wake, "!", 1);
            ::sigwait(&watched, &sig);  // the second, of whichever kind: the default action, at once
            ::signal(sig, SIG_DFL);
            ::pthread_sigmask(SIG_UNBLOCK, &watched, nullptr);
            ::raise(sig);
        }).detach();
    } catch (const std::system_error& e) {
        ::close(fds[0]);
        ::close(fds[1]);
        throw std::system_error(e.code(), "cannot start the thread that takes the stop signals (ulimit -u, or memory: ulimit -v)");
    }
    return fds[0];
}

bool stop_requested() { return stopping.load(); }

}  // namespace fibs
