#include "server_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <tuple>

#include "proc_stats.hpp"

extern char** environ;

namespace fibs {

namespace {

using Clock = std::chrono::steady_clock;

// posix_spawn with stdout and stderr into one pipe. Returns the pid and the pipe's read end.
std::pair<pid_t, int> spawn_captured(const std::string& exe, const std::vector<std::string>& args) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(exe.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) {
        ::close(fds[0]);
        throw std::system_error(rc, std::generic_category(), "cannot start " + exe);
    }
    return {pid, fds[0]};
}

int decode(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

// waitpid with a deadline: polls every few ms (bounded by the timeout). Once the process has
// ended, `cpu_s` holds the CPU it used (user and system, every thread).
std::optional<int> wait_pid(pid_t pid, std::chrono::milliseconds timeout, double& cpu_s) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
        int status = 0;
        rusage usage{};
        pid_t r = ::wait4(pid, &status, WNOHANG, &usage);
        if (r == pid) {
            cpu_s = bench::cpu_s_of(usage);
            return decode(status);
        }
        if (r < 0) return -1;
        if (Clock::now() >= deadline) return std::nullopt;
        ::usleep(2000);
    }
}

}  // namespace

Process::Process(const std::string& exe, const std::vector<std::string>& args) {
    int out = -1;
    std::tie(pid_, out) = spawn_captured(exe, args);  // not a structured binding: clang 14 cannot capture one
    out_ = out;
    reader_ = std::thread([this, out] { read_output(out); });
}

Process::~Process() { stop(); }

void Process::read_output(int fd) {
    std::string partial;
    char buf[4096];
    for (;;) {
        {
            std::unique_lock lock(mu_);
            changed_.wait(lock, [this] { return !stalled_; });
        }
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        partial.append(buf, static_cast<std::size_t>(n));
        std::lock_guard lock(mu_);
        for (std::size_t nl; (nl = partial.find('\n')) != std::string::npos;) {
            lines_.push_back(partial.substr(0, nl));
            partial.erase(0, nl + 1);
        }
        changed_.notify_all();
    }
    {
        std::lock_guard lock(mu_);
        if (!partial.empty()) lines_.push_back(partial);
        output_closed_ = true;  // before the close: stall_output() uses the descriptor only until then
        changed_.notify_all();
    }
    ::close(fd);
}

std::optional<std::size_t> Process::wait_for_line(const std::string& text, std::chrono::milliseconds timeout,
                                                        std::size_t from) {
    auto deadline = Clock::now() + timeout;
    std::unique_lock lock(mu_);
    for (std::size_t i = from;;) {
        for (; i < lines_.size(); ++i) {
            if (lines_[i].find(text) != std::string::npos) return i;
        }
        if (output_closed_) return std::nullopt;
        if (!changed_.wait_until(lock, deadline, [&] { return lines_.size() > i || output_closed_; })) {
            return std::nullopt;
        }
    }
}

std::vector<std::string> Process::lines() {
    std::lock_guard lock(mu_);
    return lines_;
}

void Process::stall_output() {
    std::lock_guard lock(mu_);
    if (output_closed_) return;
    stalled_ = true;
    ::fcntl(out_, F_SETPIPE_SZ, 4096);  // fails (EBUSY) only if more than a page is unread: no matter
}

void Process::unstall() {
    std::lock_guard lock(mu_);
    stalled_ = false;
    changed_.notify_all();
}

std::optional<int> Process::wait_exit(std::chrono::milliseconds timeout) {
    if (!status_ && pid_ > 0) status_ = wait_pid(pid_, timeout, cpu_s_);
    if (status_ && reader_.joinable()) {
        unstall();
        reader_.join();
    }
    return status_;
}

int Process::stop(std::chrono::milliseconds timeout) {
    if (!status_ && pid_ > 0) {
        ::kill(pid_, SIGTERM);
        status_ = wait_pid(pid_, timeout, cpu_s_);
        if (!status_) {
            ::kill(pid_, SIGKILL);
            status_ = wait_pid(pid_, std::chrono::seconds(5), cpu_s_);
        }
    }
    unstall();
    if (reader_.joinable()) reader_.join();
    return status_.value_or(-1);
}

namespace {

std::vector<std::string> on_port_zero(std::vector<std::string> args) {
    args.push_back("--port");
    args.push_back("0");
    return args;
}

}  // namespace

ServerProcess::ServerProcess(const std::string& exe, const std::vector<std::string>& args,
                             std::chrono::milliseconds ready_timeout)
    : Process(exe, on_port_zero(args)) {
    auto at = wait_for_line("Listening on ", ready_timeout);
    if (!at) {
        std::string said;
        for (const auto& l : lines()) said += l + "\n";
        stop(std::chrono::seconds(2));
        throw std::runtime_error(exe + " did not become ready; it printed:\n" + said);
    }
    // "Listening on 127.0.0.1:40123", perhaps with more after the address
    std::string line = lines()[*at];
    std::string address = line.substr(line.find("Listening on ") + 13);
    address = address.substr(0, address.find(' '));
    port_ = static_cast<std::uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
}

std::string self_dir() {
    char path[4096];
    ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0) return ".";
    std::string s(path, static_cast<std::size_t>(n));
    return s.substr(0, s.rfind('/'));
}

}  // namespace fibs
